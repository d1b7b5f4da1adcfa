//! Specs that pass admission but cannot work end in a terminal condition that names the
//! problem, with nothing created in the cloud and no secret echoed.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use appauth_operator::api::InferenceApi;
use common::objects::Ns;
use common::operator::Operator;
use common::sim::Sim;
use common::{cluster, wait};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        string_data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    }
}

#[tokio::test]
async fn runtime_bad_input_matrix() {
    let client = cluster::client().await;
    let ns = Ns {
        client: client.clone(),
        name: cluster::namespace(&client, "bad-input").await,
    };
    let other = cluster::namespace(&client, "bad-input-other").await;
    let sim = Sim::start();
    sim.handle
        .set_config(json!({"modelarts_services": ["only-this-service"]}))
        .expect("restrict services");
    let _op = Operator::start(&ns.name, &sim.url(), &["--allow-adoption", "false"]);

    let secrets = ns.secrets();
    let sk = "Sup3r-Secret-Value-123";
    for s in [
        secret(
            "hostile-region",
            &[
                ("region", "cn-north-4.evil.example"),
                ("projectId", "p1"),
                ("accessKey", "AK1"),
                ("secretKey", sk),
            ],
        ),
        secret(
            "no-secret-key",
            &[
                ("region", "cn-north-4"),
                ("projectId", "p1"),
                ("accessKey", "AK1"),
            ],
        ),
        secret(
            "no-credentials",
            &[("region", "cn-north-4"), ("projectId", "p1")],
        ),
        secret("byo-no-secret", &[("app_key", "byo-key-123456")]),
    ] {
        secrets
            .create(&PostParams::default(), &s)
            .await
            .expect("Secret");
    }
    // A Secret with the right name in another namespace is never used.
    let foreign: Api<Secret> = Api::namespaced(client.clone(), &other);
    foreign
        .create(
            &PostParams::default(),
            &secret(
                "elsewhere",
                &[
                    ("region", "cn-north-4"),
                    ("projectId", "p1"),
                    ("accessKey", "AK"),
                    ("secretKey", sk),
                ],
            ),
        )
        .await
        .expect("foreign Secret");
    let legacy = common::cloud::client(&sim.url())
        .apig("gw1")
        .create(&appauth_operator::cloud::apig::AppInput {
            name: "legacy_app",
            ..Default::default()
        })
        .await
        .expect("pre-existing app");
    let before = sim.all_apps().len();

    // (object, spec, annotations, expected reason, text the message must contain)
    let cases: Vec<(&str, serde_json::Value, serde_json::Value, &str, &str)> = vec![
        (
            "missing-account",
            json!({"apig": {"instanceId": "gw1"}, "accountRef": {"name": "nope"}}),
            json!({}),
            "AccountInvalid",
            "Secret nope not found",
        ),
        (
            "foreign-account",
            json!({"apig": {"instanceId": "gw1"}, "accountRef": {"name": "elsewhere"}}),
            json!({}),
            "AccountInvalid",
            "Secret elsewhere not found in this namespace",
        ),
        (
            "hostile-region",
            json!({"roma": {"instanceId": "r1"}, "accountRef": {"name": "hostile-region"}}),
            json!({}),
            "AccountInvalid",
            "region must match",
        ),
        (
            "no-secret-key",
            json!({"dataarts": {"workspaceId": "w"}, "accountRef": {"name": "no-secret-key"}}),
            json!({}),
            "AccountInvalid",
            "no key secretKey",
        ),
        (
            "no-credentials",
            json!({"modelarts": {}, "accountRef": {"name": "no-credentials"}}),
            json!({}),
            "AccountInvalid",
            "needs accessKey and secretKey",
        ),
        (
            "missing-source",
            json!({"apig": {"instanceId": "gw1"}, "credentials": "FromSecret", "credentialsFrom": {"name": "absent"}}),
            json!({}),
            "InvalidSpec",
            "spec.credentialsFrom: Secret absent not found",
        ),
        (
            "incomplete-source",
            json!({"roma": {"instanceId": "r1"}, "credentials": "FromSecret", "credentialsFrom": {"name": "byo-no-secret"}}),
            json!({}),
            "InvalidSpec",
            "needs keys app_key and app_secret",
        ),
        (
            "adoption-disabled",
            json!({"apig": {"instanceId": "gw1"}, "appName": "legacy_app"}),
            json!({"appauth.hwcloud.dev/adopt": "true"}),
            "NameConflict",
            "legacy_app",
        ),
        (
            "claims-foreign-id",
            json!({"apig": {"instanceId": "gw1"}}),
            json!({"appauth.hwcloud.dev/app-id": "0000000000000000000000000000dead"}),
            "",
            "",
        ),
        (
            "name-with-slash",
            json!({"dataarts": {"workspaceId": "w"}, "appName": "a/b"}),
            json!({}),
            "InvalidSpec",
            "name",
        ),
    ];
    for (name, spec, annotations, _, _) in &cases {
        let obj: appauth_operator::api::GatewayApp = serde_json::from_value(json!({
            "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
            "metadata": {"name": name, "annotations": annotations}, "spec": spec,
        }))
        .expect("object");
        ns.apps()
            .create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let api: InferenceApi = serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "InferenceApi",
        "metadata": {"name": "dead-service"}, "spec": {"serviceId": "not-a-live-service"},
    }))
    .expect("api");
    Api::<InferenceApi>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &api)
        .await
        .expect("api");

    let mut wrong = Vec::new();
    for (name, _, _, reason, text) in &cases {
        if reason.is_empty() {
            continue;
        }
        let app = wait::until(T, &format!("{name} settles"), || async {
            let app = ns.get(name).await?;
            let ready = Ns::ready(&app)?;
            (ready.1 != "Creating" && ready.0 == "False").then_some(app)
        })
        .await;
        let cond = app
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready").cloned())
            .expect("Ready");
        let stalled = app.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True")
        });
        if cond.reason != *reason || !cond.message.contains(text) || !stalled {
            wrong.push(format!(
                "{name}: {} / stalled {stalled}: {}",
                cond.reason, cond.message
            ));
        }
        if cond.message.contains(sk) {
            wrong.push(format!("{name}: the message carries a secret"));
        }
    }
    // An app id that is not in the cloud: reported, never "adopted", nothing created.
    let claimed = wait::until(T, "claims-foreign-id settles", || async {
        let app = ns.get("claims-foreign-id").await?;
        let ready = Ns::ready(&app)?;
        (ready.0 == "False" || ready.0 == "True").then_some(ready)
    })
    .await;
    let apis = Api::<InferenceApi>::namespaced(client.clone(), &ns.name);
    let dead = wait::until(T, "dead-service settles", || async {
        let api = apis.get_opt("dead-service").await.ok().flatten()?;
        api.status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready" && c.status == "False" && c.reason != "Creating")
    })
    .await;
    assert_eq!(dead.reason, "InvalidSpec", "{}", dead.message);
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = sim.all_apps();
    let created: Vec<_> = after
        .iter()
        .filter(|a| a["id"] != legacy.id.as_str())
        .collect();
    println!(
        "claims-foreign-id ended in {claimed:?}; apps before {before}, after {}",
        after.len()
    );
    assert!(
        created.len() <= 1,
        "at most the recreated app for the stale app-id annotation: {created:?}"
    );
    let state = serde_json::to_value(sim.handle.state()).expect("state");
    assert!(
        state["apis"].as_array().is_none_or(|a| a.is_empty()),
        "no API created"
    );
}
