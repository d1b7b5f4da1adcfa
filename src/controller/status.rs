//! Condition reasons and the status conditions built from an outcome. Pure.

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
    /// No AppAuthPolicy allows what the object asks for (or adoption is off).
    NotPermitted,
}

impl Reason {
    /// Every reason, for the documentation check (the status tests keep it complete).
    pub const ALL: [Reason; 17] = [
        Self::Available,
        Self::Creating,
        Self::InvalidSpec,
        Self::NameConflict,
        Self::AlreadyManaged,
        Self::SecretConflict,
        Self::AccountChanged,
        Self::AccountInvalid,
        Self::CloudUnavailable,
        Self::Unauthorized,
        Self::QuotaExceeded,
        Self::WaitingForApps,
        Self::Paused,
        Self::Deleting,
        Self::RotationFailed,
        Self::KeyConflict,
        Self::NotPermitted,
    ];

    /// The reasons a failed reconcile can be counted under: all but those of a working one
    /// (a deletion held up by a failure counts as `Deleting`).
    pub fn failures() -> impl Iterator<Item = Reason> {
        Self::ALL
            .into_iter()
            .filter(|r| !matches!(r, Self::Available | Self::Creating | Self::Paused))
    }

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
            Self::NotPermitted => "NotPermitted",
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
                | Self::NotPermitted
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
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.as_str().into(),
        message: message.chars().take(1024).collect(),
        observed_generation: generation,
        last_transition_time: now.into(),
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
        .map_or_else(|| now.into(), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
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
                last_transition_time: Default::default(),
                ..c.clone()
            })
            .collect();
        v.sort_by(|x, y| x.type_.cmp(&y.type_));
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests;
