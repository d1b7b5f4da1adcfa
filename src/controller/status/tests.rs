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
    assert_eq!(&*find(&cs, "Synced").message, "reset refused: 403");
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

#[test]
fn all_lists_every_reason_once() {
    // A new variant fails to compile here until it is placed in ALL (its position below).
    let position = |r: Reason| match r {
        Reason::Available => 0,
        Reason::Creating => 1,
        Reason::InvalidSpec => 2,
        Reason::NameConflict => 3,
        Reason::AlreadyManaged => 4,
        Reason::SecretConflict => 5,
        Reason::AccountChanged => 6,
        Reason::AccountInvalid => 7,
        Reason::CloudUnavailable => 8,
        Reason::Unauthorized => 9,
        Reason::QuotaExceeded => 10,
        Reason::WaitingForApps => 11,
        Reason::Paused => 12,
        Reason::Deleting => 13,
        Reason::RotationFailed => 14,
        Reason::KeyConflict => 15,
        Reason::NotPermitted => 16,
    };
    for (i, r) in Reason::ALL.iter().enumerate() {
        assert_eq!(position(*r), i, "{r:?}");
    }
}
