//! The audit trail: one `cloud mutation` line per cloud mutation that took effect, naming the
//! action, the object and the cloud id, and never a credential; against the real apiserver, the
//! operator binary and the simulator.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use appauth_operator::cloud::apig::AppInput;
use common::objects::{Ns, creds, setup};
use common::operator::Operator;
use common::{cloud, wait};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

type Line = BTreeMap<String, String>;

/// (action, resource, cloud id) of the audit lines about one object.
fn about(lines: &[Line], name: &str) -> Vec<(String, String, String)> {
    lines
        .iter()
        .filter(|l| l.get("name").map(String::as_str) == Some(name))
        .map(|l| {
            (
                l["action"].clone(),
                l["resource"].clone(),
                l["cloud_id"].clone(),
            )
        })
        .collect()
}

async fn audited(op: &Operator, what: &str, count: impl Fn(&[Line]) -> bool) -> Vec<Line> {
    wait::until(T, what, || async {
        let lines = op.audit();
        count(&lines).then_some(lines)
    })
    .await
}

fn has(lines: &[Line], name: &str, action: &str) -> bool {
    lines
        .iter()
        .any(|l| l["name"] == name && l["action"] == action)
}

#[tokio::test]
async fn every_cloud_mutation_of_a_gateway_app_has_one_audit_line_without_secrets() {
    let (ns, sim) = setup("audit").await;
    let handmade = cloud::client(&sim.url())
        .apig("gw1")
        .create(&AppInput {
            name: "legacy_app",
            remark: Some("made by hand"),
            ..Default::default()
        })
        .await
        .expect("a hand-made app");
    let op = Operator::start(&ns.name, &sim.url(), &["--allow-adoption", "true"]);

    ns.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "appCode": true, "description": "first"}),
    )
    .await;
    let id = ns.ready_id("app", T).await;
    let (_, first_secret) = creds(&ns, "app").await;
    let code = Ns::value(&ns.secret("app").await.expect("Secret"), "app_code").expect("code");
    // Before the changes below: the create and the AppCode, and nothing else yet.
    let lines = audited(&op, "the create's lines", |l| about(l, "app").len() >= 2).await;
    assert_eq!(
        about(&lines, "app"),
        [("create", "app"), ("create", "appcode")].map(|(a, r)| (a.into(), r.into(), id.clone()))
    );

    ns.patch("app", json!({"spec": {"description": "second"}}))
        .await;
    audited(&op, "an update line", |l| has(l, "app", "update")).await;
    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/rotate": "2026-12-04"}}}),
    )
    .await;
    audited(&op, "a reset line", |l| has(l, "app", "reset")).await;
    let (_, second_secret) = creds(&ns, "app").await;

    ns.create_annotated(
        "adopter",
        json!({"appauth.hwcloud.dev/adopt": "true"}),
        json!({"apig": {"instanceId": "gw1"}, "appName": "legacy_app"}),
    )
    .await;
    assert_eq!(ns.ready_id("adopter", T).await, handmade.id);
    let (_, adopted_secret) = creds(&ns, "adopter").await;

    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    let lines = audited(&op, "a delete line", |l| has(l, "app", "delete")).await;

    let want = |pairs: &[(&str, &str)], id: &str| -> Vec<(String, String, String)> {
        pairs
            .iter()
            .map(|(a, r)| (a.to_string(), r.to_string(), id.to_string()))
            .collect()
    };
    assert_eq!(
        about(&lines, "app"),
        want(
            &[
                ("create", "app"),
                ("create", "appcode"),
                ("update", "app"),
                ("reset", "app"),
                ("delete", "app")
            ],
            &id
        ),
        "one line per mutation, in order"
    );
    assert_eq!(
        about(&lines, "adopter"),
        want(&[("adopt", "app")], &handmade.id)
    );
    for line in &lines {
        assert_eq!(line["kind"], "GatewayApp");
        assert_eq!(line["namespace"], ns.name);
        assert_eq!(line["service"], "apig");
    }
    // The app deleted, the adopted one left: the cloud agrees with the trail.
    assert_eq!(sim.apps("apig").len(), 1, "the adopted app is left");
    assert!(sim.app(&id).is_none());

    let log = op.logs();
    for secret in [&first_secret, &second_secret, &adopted_secret, &code] {
        assert!(!secret.is_empty());
        assert!(
            !log.contains(secret.as_str()),
            "a credential reached the log"
        );
    }
}

/// A reset that took effect but whose answer was lost (the connection dropped after the cloud
/// committed it): the retry reads the new secret back instead of resetting again, and the trail
/// still has a line for that reset.
#[tokio::test]
async fn a_reset_whose_answer_was_lost_has_a_line() {
    let (ns, sim) = setup("audit-lost-reset").await;
    let op = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create("app", json!({"roma": {"instanceId": "r1"}}))
        .await;
    let id = ns.ready_id("app", T).await;
    let (_, before) = creds(&ns, "app").await;
    sim.handle
        .add_fault(
            hwcloud_sim::FaultSpec::new("roma", "reset_secret")
                .drop_after_commit()
                .times(1),
        )
        .expect("fault");
    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/rotate": "lost-1"}}}),
    )
    .await;
    wait::until(T, "the rotation recorded", || async {
        let app = ns.get("app").await?;
        let token = app.status?.rotation?.last_token;
        (token.as_deref() == Some("lost-1")).then_some(())
    })
    .await;
    let (_, after) = creds(&ns, "app").await;
    assert_ne!(before, after, "the Secret holds the new secret");
    assert_eq!(
        sim.handle.count("roma.reset_secret"),
        1,
        "one reset: the lost answer was read back, not repeated"
    );
    let lines = audited(&op, "a line for the lost reset", |l| {
        has(l, "app", "recover-reset")
    })
    .await;
    assert_eq!(
        about(&lines, "app"),
        [("create", "app"), ("recover-reset", "app")].map(|(a, r)| (
            a.to_string(),
            r.to_string(),
            id.clone()
        )),
    );
    assert!(
        !op.logs().contains(after.as_str()),
        "a credential reached the log"
    );
}

/// A bound ModelArts app deleted while the cloud fails the second of its two unbinds: the first
/// unbind took effect and has its line, though that pass fails; the next pass unbinds the second
/// API and deletes the app.
#[tokio::test]
async fn an_unbind_before_a_failed_one_has_its_line() {
    use appauth_operator::cloud::modelarts::ApiInput;
    let (ns, sim) = setup("audit-unbind").await;
    let op = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create("app", json!({"modelarts": {}})).await;
    let id = ns.ready_id("app", T).await;
    let client = cloud::client(&sim.url());
    let ma = client.modelarts("0");
    let mut apis = Vec::new();
    for service in ["svc-1", "svc-2"] {
        let api = ma
            .create_api(
                service,
                &ApiInput {
                    workspace_id: "0".into(),
                    auth_type: "APP".into(),
                    api_method: "POST".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("create api");
        ma.bind(service, &api.api_id, &[&id]).await.expect("bind");
        apis.push(api.api_id);
    }
    sim.handle
        .add_fault(
            // Every attempt of the call (the client retries a 5xx itself, 4 attempts in all).
            hwcloud_sim::FaultSpec::new("modelarts", "unbind")
                .status(500)
                .skip(1)
                .times(4),
        )
        .expect("fault");
    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    assert!(sim.app(&id).is_none(), "the app deleted at last");
    assert_eq!(
        sim.handle.count("modelarts.unbind"),
        6,
        "the first, the second refused four times, the second again"
    );
    let lines = audited(&op, "the delete's line", |l| has(l, "app", "delete")).await;
    let unbound: BTreeSet<String> = lines
        .iter()
        .filter(|l| l["name"] == "app" && l["action"] == "unbind")
        .map(|l| l["related"].clone())
        .collect();
    assert_eq!(
        unbound,
        apis.iter().cloned().collect::<BTreeSet<_>>(),
        "one unbind line per API, the one before the refusal too"
    );
}
