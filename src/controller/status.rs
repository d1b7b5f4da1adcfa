//! Condition reasons and the status conditions built from an outcome (SPEC §5). Pure.

use crate::api::Condition;

/// The documented, fixed set of reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Available,
    Creating,
    InvalidSpec,
    NameConflict,
    AlreadyManaged,
    SecretConflict,
    AccountChanged,
    AccountInvalid,
    CloudUnavailable,
    Unauthorized,
    QuotaExceeded,
    WaitingForApps,
    Paused,
    Deleting,
    /// A secret reset was refused or failed; the credentials delivered before still work.
    RotationFailed,
    /// The app key the object chose (FromSecret) is held by another app.
    KeyConflict,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "Available",
            Self::Creating => "Creating",
            Self::InvalidSpec => "InvalidSpec",
            Self::NameConflict => "NameConflict",
            Self::AlreadyManaged => "AlreadyManaged",
            Self::SecretConflict => "SecretConflict",
            Self::AccountChanged => "AccountChanged",
            Self::AccountInvalid => "AccountInvalid",
            Self::CloudUnavailable => "CloudUnavailable",
            Self::Unauthorized => "Unauthorized",
            Self::QuotaExceeded => "QuotaExceeded",
            Self::WaitingForApps => "WaitingForApps",
            Self::Paused => "Paused",
            Self::Deleting => "Deleting",
            Self::RotationFailed => "RotationFailed",
            Self::KeyConflict => "KeyConflict",
        }
    }

    /// A failure that leaves working credentials in place: Ready keeps its value, Synced says
    /// what failed.
    pub fn keeps_ready(self) -> bool {
        matches!(self, Self::RotationFailed)
    }

    /// Failures that get a Warning Event (besides the status).
    pub fn warns(self) -> bool {
        self.is_terminal() || self.keeps_ready()
    }

    /// Terminal: retrying cannot help until the spec (or a referenced object) changes.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::InvalidSpec
                | Self::NameConflict
                | Self::AlreadyManaged
                | Self::SecretConflict
                | Self::KeyConflict
                | Self::AccountChanged
                | Self::AccountInvalid
                | Self::Unauthorized
        )
    }
}

/// What a reconcile ended in, for the conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ready: bool,
    pub reason: Reason,
    pub message: String,
    /// Synced=False with reason Paused.
    pub paused: bool,
}

impl Outcome {
    pub fn available(message: impl Into<String>) -> Self {
        Self {
            ready: true,
            reason: Reason::Available,
            message: message.into(),
            paused: false,
        }
    }

    pub fn failed(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            ready: false,
            reason,
            message: message.into(),
            paused: false,
        }
    }
}

fn condition(
    type_: &str,
    status: bool,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: &str,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: reason.as_str().to_string(),
        message: message.chars().take(1024).collect(),
        observed_generation: generation,
        last_transition_time: now.to_string(),
    }
}

/// The four standard conditions for an outcome, keeping transition times of unchanged ones.
/// Paused keeps Ready as it was and sets Synced=False.
pub fn conditions(
    previous: &[Condition],
    outcome: &Outcome,
    generation: Option<i64>,
    now: &str,
) -> Vec<Condition> {
    let old = |t: &str| previous.iter().find(|c| c.type_ == t);
    let mut out = Vec::new();
    if outcome.paused {
        match old("Ready") {
            Some(ready) => out.push(Condition {
                observed_generation: generation,
                ..ready.clone()
            }),
            None => out.push(condition(
                "Ready",
                false,
                Reason::Paused,
                &outcome.message,
                generation,
                now,
            )),
        }
        out.push(condition(
            "Synced",
            false,
            Reason::Paused,
            &outcome.message,
            generation,
            now,
        ));
        out.push(condition(
            "Reconciling",
            false,
            Reason::Paused,
            "",
            generation,
            now,
        ));
        out.push(condition(
            "Stalled",
            false,
            Reason::Paused,
            "",
            generation,
            now,
        ));
    } else {
        let terminal = !outcome.ready && outcome.reason.is_terminal();
        let kept_ready = old("Ready")
            .filter(|r| !outcome.ready && outcome.reason.keeps_ready() && r.status == "True");
        match kept_ready {
            Some(ready) => out.push(Condition {
                observed_generation: generation,
                ..ready.clone()
            }),
            None => out.push(condition(
                "Ready",
                outcome.ready,
                outcome.reason,
                &outcome.message,
                generation,
                now,
            )),
        }
        let synced_message = if kept_ready.is_some() {
            outcome.message.as_str()
        } else {
            ""
        };
        out.push(condition(
            "Synced",
            (outcome.ready || !terminal) && kept_ready.is_none(),
            outcome.reason,
            synced_message,
            generation,
            now,
        ));
        out.push(condition(
            "Reconciling",
            !outcome.ready && !terminal,
            outcome.reason,
            "",
            generation,
            now,
        ));
        out.push(condition(
            "Stalled",
            terminal,
            outcome.reason,
            if terminal { &outcome.message } else { "" },
            generation,
            now,
        ));
    }
    for c in &mut out {
        if let Some(prev) = old(&c.type_)
            && prev.status == c.status
        {
            c.last_transition_time = prev.last_transition_time.clone();
        }
    }
    out
}

/// A condition besides the standard four (`reason` as written), keeping its transition time
/// when its status did not change.
pub fn extra_condition(
    previous: &[Condition],
    type_: &str,
    ok: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &str,
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let transition = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or_else(|| now.to_string(), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.chars().take(1024).collect(),
        observed_generation: generation,
        last_transition_time: transition,
    }
}

/// Whether two condition lists differ in anything but transition times.
pub fn same_conditions(a: &[Condition], b: &[Condition]) -> bool {
    let strip = |cs: &[Condition]| {
        let mut v: Vec<Condition> = cs
            .iter()
            .map(|c| Condition {
                last_transition_time: String::new(),
                ..c.clone()
            })
            .collect();
        v.sort_by(|x, y| x.type_.cmp(&y.type_));
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(cs: &'a [Condition], t: &str) -> &'a Condition {
        cs.iter().find(|c| c.type_ == t).expect("condition present")
    }

    #[test]
    fn available_is_ready_and_not_reconciling() {
        let cs = conditions(&[], &Outcome::available("ok"), Some(3), "t1");
        assert_eq!(find(&cs, "Ready").status, "True");
        assert_eq!(find(&cs, "Reconciling").status, "False");
        assert_eq!(find(&cs, "Stalled").status, "False");
        assert_eq!(find(&cs, "Ready").observed_generation, Some(3));
    }

    #[test]
    fn terminal_stalls_recoverable_reconciles() {
        let t = conditions(
            &[],
            &Outcome::failed(Reason::InvalidSpec, "bad name"),
            Some(1),
            "t",
        );
        assert_eq!(
            (
                find(&t, "Stalled").status.as_str(),
                find(&t, "Reconciling").status.as_str()
            ),
            ("True", "False")
        );
        let r = conditions(
            &[],
            &Outcome::failed(Reason::CloudUnavailable, "503"),
            Some(1),
            "t",
        );
        assert_eq!(
            (
                find(&r, "Stalled").status.as_str(),
                find(&r, "Reconciling").status.as_str()
            ),
            ("False", "True")
        );
        let q = conditions(
            &[],
            &Outcome::failed(Reason::QuotaExceeded, "quota"),
            Some(1),
            "t",
        );
        assert_eq!(find(&q, "Stalled").status, "False", "quota is recoverable");
    }

    #[test]
    fn transition_times_survive_unchanged_status() {
        let first = conditions(&[], &Outcome::available("ok"), Some(1), "t1");
        let second = conditions(&first, &Outcome::available("ok"), Some(2), "t2");
        assert_eq!(find(&second, "Ready").last_transition_time, "t1");
        let third = conditions(
            &second,
            &Outcome::failed(Reason::CloudUnavailable, "x"),
            Some(2),
            "t3",
        );
        assert_eq!(find(&third, "Ready").last_transition_time, "t3");
        assert!(same_conditions(
            &first,
            &conditions(&first, &Outcome::available("ok"), Some(1), "t9")
        ));
    }

    #[test]
    fn paused_keeps_ready() {
        let ready = conditions(&[], &Outcome::available("ok"), Some(1), "t1");
        let paused = conditions(
            &ready,
            &Outcome {
                paused: true,
                ..Outcome::available("paused")
            },
            Some(1),
            "t2",
        );
        assert_eq!(find(&paused, "Ready").status, "True");
        assert_eq!(
            (
                find(&paused, "Synced").status.as_str(),
                find(&paused, "Synced").reason.as_str()
            ),
            ("False", "Paused")
        );
    }

    /// A refused rotation: the delivered credentials still work, so Ready stays True (with its
    /// transition time); Synced says what failed and Reconciling that it is retried. Before the
    /// app was ever Ready, the same reason is an ordinary not-Ready failure.
    #[test]
    fn a_failed_rotation_keeps_ready_and_unsyncs() {
        let ready = conditions(&[], &Outcome::available("ok"), Some(1), "t1");
        let failed = Outcome::failed(Reason::RotationFailed, "reset refused: 403");
        // (previous conditions, case, (Ready, Synced, Reconciling, Stalled))
        type Case<'a> = (
            &'a [Condition],
            &'a str,
            (&'a str, &'a str, &'a str, &'a str),
        );
        let cases: [Case; 2] = [
            (&ready, "after Ready", ("True", "False", "True", "False")),
            (&[], "never Ready", ("False", "True", "True", "False")),
        ];
        for (previous, name, want) in cases {
            let cs = conditions(previous, &failed, Some(2), "t2");
            let got = (
                find(&cs, "Ready").status.as_str(),
                find(&cs, "Synced").status.as_str(),
                find(&cs, "Reconciling").status.as_str(),
                find(&cs, "Stalled").status.as_str(),
            );
            assert_eq!(got, want, "{name}");
            assert_eq!(find(&cs, "Ready").observed_generation, Some(2), "{name}");
        }
        let cs = conditions(&ready, &failed, Some(2), "t2");
        assert_eq!(find(&cs, "Ready").last_transition_time, "t1");
        assert_eq!(find(&cs, "Synced").reason, "RotationFailed");
        assert_eq!(find(&cs, "Synced").message, "reset refused: 403");
        assert!(Reason::RotationFailed.warns() && !Reason::RotationFailed.is_terminal());
    }

    #[test]
    fn an_extra_condition_keeps_its_transition_time_while_its_status_holds() {
        let before = vec![Condition {
            type_: "AppsBound".into(),
            status: "False".into(),
            reason: "WaitingForApps".into(),
            message: "a".into(),
            observed_generation: Some(1),
            last_transition_time: "t0".into(),
        }];
        let cases = [("still waiting", false, "t0"), ("bound now", true, "t1")];
        for (name, ok, want) in cases {
            let c = extra_condition(&before, "AppsBound", ok, "r", "m", Some(2), "t1");
            assert_eq!(c.last_transition_time, want, "{name}");
            assert_eq!(c.observed_generation, Some(2), "{name}");
        }
        let fresh = extra_condition(&[], "AppsBound", true, "Bound", "", None, "t1");
        assert_eq!(fresh.last_transition_time, "t1");
    }
}
