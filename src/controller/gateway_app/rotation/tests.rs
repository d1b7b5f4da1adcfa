use super::*;

#[test]
fn a_begun_rotation_resumes_from_what_can_be_read() {
    let cases = [
        (
            "reset refused or never sent",
            "old",
            Some("old"),
            false,
            Resume::Reset,
        ),
        (
            "reset landed, Secret not written",
            "new",
            Some("old"),
            false,
            Resume::Deliver,
        ),
        (
            "reset landed, Secret written",
            "new",
            Some("new"),
            true,
            Resume::Record,
        ),
        (
            "Secret edited to the new value by hand",
            "new",
            Some("new"),
            false,
            Resume::Reset,
        ),
        (
            "no Secret to compare with",
            "new",
            None,
            false,
            Resume::Reset,
        ),
        (
            "an older attempt's mark, new secret",
            "new",
            Some("old"),
            true,
            Resume::Deliver,
        ),
    ];
    for (name, cloud, delivered, marked, want) in cases {
        assert_eq!(resume_step(cloud, delivered, marked), want, "{name}");
    }
}

fn app(
    annotations: serde_json::Value,
    rotation: serde_json::Value,
    last: serde_json::Value,
) -> GatewayApp {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1",
        "kind": "GatewayApp",
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": annotations,
        },
        "spec": {"apig": {"instanceId": "i"}, "rotation": rotation},
        "status": {"rotation": last},
    }))
    .expect("GatewayApp")
}

fn at(t: &str) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(t)
        .expect("time")
        .with_timezone(&Utc)
}

#[test]
fn a_rotation_falls_due_by_token_or_interval() {
    use serde_json::json;
    let none = serde_json::Value::Null;
    let hourly = json!({"interval": "1h"});
    let rotate = |t: &str| json!({annotations::ROTATE: t});
    let last =
        |token: Option<&str>, time: Option<&str>| json!({"lastToken": token, "lastTime": time});
    let now = at("2026-01-01T05:30:00Z");
    // (case, annotations, spec.rotation, status.rotation, want: token, or the interval count)
    type Due = Option<(Option<&'static str>, Option<i64>)>;
    let cases: Vec<(&str, _, _, _, Due)> = vec![
        ("nothing asked", json!({}), none.clone(), none.clone(), None),
        (
            "a new token",
            rotate("t1"),
            none.clone(),
            none.clone(),
            Some((Some("t1"), None)),
        ),
        (
            "a token already done",
            rotate("t1"),
            none.clone(),
            last(Some("t1"), None),
            None,
        ),
        (
            "a token changed again",
            rotate("t2"),
            none.clone(),
            last(Some("t1"), None),
            Some((Some("t2"), None)),
        ),
        (
            "interval counted from creation",
            json!({}),
            hourly.clone(),
            none.clone(),
            Some((None, Some(5))),
        ),
        (
            "interval counted from the last rotation",
            json!({}),
            hourly.clone(),
            last(None, Some("2026-01-01T04:00:00Z")),
            Some((None, Some(1))),
        ),
        (
            "interval not elapsed yet",
            json!({}),
            hourly.clone(),
            last(None, Some("2026-01-01T05:00:00Z")),
            None,
        ),
        (
            "an interval that does not parse",
            json!({}),
            json!({"interval": "soon"}),
            none.clone(),
            None,
        ),
    ];
    for (name, annotations, rotation, status, want) in cases {
        let got = rotation_due(&app(annotations, rotation, status), now);
        assert_eq!(
            got.map(|c| (c.token, c.period)),
            want.map(|(t, p)| (t.map(str::to_string), p)),
            "{name}"
        );
    }
}

#[test]
fn the_next_rotation_counts_from_the_latest_one() {
    use serde_json::json;
    let hourly = json!({"interval": "1h"});
    let created = app(json!({}), hourly.clone(), serde_json::Value::Null);
    assert_eq!(
        next_rotation(&created, None),
        Some(at("2026-01-01T01:00:00Z"))
    );
    let rotated = app(
        json!({}),
        hourly,
        json!({"lastTime": "2026-01-01T03:00:00Z"}),
    );
    assert_eq!(
        next_rotation(&rotated, None),
        Some(at("2026-01-01T04:00:00Z"))
    );
    // Just rotated in this reconcile: counted from then, not from what status still says.
    let just = RotationStatus {
        last_token: None,
        last_time: Some("2026-01-01T03:30:00Z".into()),
    };
    assert_eq!(
        next_rotation(&rotated, Some(&just)),
        Some(at("2026-01-01T04:30:00Z"))
    );
    let without = app(json!({}), serde_json::Value::Null, serde_json::Value::Null);
    assert_eq!(next_rotation(&without, None), None);
}
