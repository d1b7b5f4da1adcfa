use super::*;

#[test]
fn a_rotation_runs_where_the_service_can_reset() {
    let cases = [
        ("nothing due", false, false, true, RotationStep::None),
        ("due", false, true, true, RotationStep::Rotate),
        ("begun, resumed", true, false, true, RotationStep::Rotate),
        (
            "due, no reset",
            false,
            true,
            false,
            RotationStep::Unsupported,
        ),
        (
            "nothing due, no reset",
            false,
            false,
            false,
            RotationStep::None,
        ),
    ];
    for (name, begun, due, can_reset, want) in cases {
        assert_eq!(rotation_step(begun, due, can_reset), want, "{name}");
    }
}

#[test]
fn the_cloud_is_read_only_when_something_may_have_drifted() {
    let cases = [
        (
            "as delivered, read not due",
            Existing::UpToDate,
            false,
            false,
        ),
        ("as delivered, resync due", Existing::UpToDate, true, true),
        ("Secret missing", Existing::Missing, false, true),
        ("Secret edited", Existing::Stale, false, true),
    ];
    for (name, secret, due, want) in cases {
        assert_eq!(needs_read(&secret, due), want, "{name}");
    }
}

#[test]
fn the_remark_is_pushed_when_it_drifted() {
    let uid = "0b9f2c1e-4d3a-4f6b-9e2d-1a2b3c4d5e6f";
    let me = naming::Fingerprint::new("test", uid);
    let ours = me.remark(Some("team a"));
    let bare = me.remark(None);
    let cases = [
        (
            "older format, can update: brought to the current one",
            Some("team a [appauth:0b9f2c1e]"),
            "team a",
            false,
            true,
            RemarkAction::Update,
        ),
        (
            "older format, cannot update: still ours",
            Some("team a [appauth:0b9f2c1e]"),
            "team a",
            false,
            false,
            RemarkAction::Keep,
        ),
        (
            "as wanted",
            Some(ours.as_str()),
            "team a",
            false,
            true,
            RemarkAction::Keep,
        ),
        (
            "description edited in the cloud",
            Some(bare.as_str()),
            "team a",
            false,
            true,
            RemarkAction::Update,
        ),
        (
            "fingerprint lost",
            Some("team a"),
            "team a",
            false,
            true,
            RemarkAction::Update,
        ),
        (
            "no remark at all",
            None,
            "",
            false,
            true,
            RemarkAction::Update,
        ),
        (
            "unanswered fields changed",
            Some(ours.as_str()),
            "team a",
            true,
            true,
            RemarkAction::Update,
        ),
        (
            "drifted, cannot update",
            Some(bare.as_str()),
            "team a",
            false,
            false,
            RemarkAction::Unsupported,
        ),
    ];
    for (name, remark, want_description, unanswered, can_update, want) in cases {
        assert_eq!(
            remark_action(remark, want_description, &me, unanswered, can_update),
            want,
            "{name}"
        );
    }
}
