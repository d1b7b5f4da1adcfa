//! The hostile-spec matrix (issue 7): invalid and hostile specs each end in a rejection at
//! admission that names the field, or in a condition that names the problem, and nothing is
//! created in the cloud. One operator and one simulator watch the whole matrix.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use appauth_operator::api::{GatewayApp, InferenceApi};
use common::cases::{self, Kind};
use common::objects::Ns;
use common::operator::Operator;
use common::sim::Sim;
use common::{cluster, wait};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);
const SK: &str = "Sup3r-Secret-Value-123";

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

fn account(name: &str, region: &str, project: &str) -> Secret {
    secret(
        name,
        &[
            ("region", region),
            ("projectId", project),
            ("accessKey", "AK1"),
            ("secretKey", SK),
        ],
    )
}

/// A spec that passes admission and must end in a condition naming the problem.
struct Runtime {
    name: &'static str,
    kind: Kind,
    spec: Value,
    annotations: Value,
    /// The condition that reports it, and whether it is terminal (Stalled=True).
    condition: &'static str,
    terminal: bool,
    reason: &'static str,
    /// Text the condition's message must contain.
    text: &'static str,
}

fn gw(name: &'static str, spec: Value, reason: &'static str, text: &'static str) -> Runtime {
    Runtime {
        name,
        kind: Kind::GatewayApp,
        spec,
        annotations: json!({}),
        condition: "Ready",
        terminal: true,
        reason,
        text,
    }
}

fn runtime_cases() -> Vec<Runtime> {
    let apig = json!({"instanceId": "gw1"});
    let with_account = |name: &str| json!({"apig": apig, "accountRef": {"name": name}});
    vec![
        gw(
            "missing-account",
            with_account("nope"),
            "AccountInvalid",
            "Secret nope not found",
        ),
        gw(
            "foreign-namespace-account",
            with_account("elsewhere"),
            "AccountInvalid",
            "Secret elsewhere not found in this namespace",
        ),
        gw(
            "hostile-region-host",
            json!({"roma": {"instanceId": "r1"}, "accountRef": {"name": "hostile-region"}}),
            "AccountInvalid",
            "region must match",
        ),
        gw(
            "region-path-traversal",
            with_account("region-traversal"),
            "AccountInvalid",
            "region must match",
        ),
        gw(
            "region-header-injection",
            with_account("region-crlf"),
            "AccountInvalid",
            "region must match",
        ),
        gw(
            "region-host-port",
            with_account("region-port"),
            "AccountInvalid",
            "region must match",
        ),
        gw(
            "project-id-path",
            with_account("project-path"),
            "AccountInvalid",
            "projectId must be",
        ),
        gw(
            "account-no-secret-key",
            json!({"dataarts": {"workspaceId": "w"}, "accountRef": {"name": "no-secret-key"}}),
            "AccountInvalid",
            "no key secretKey",
        ),
        gw(
            "account-no-credentials",
            json!({"modelarts": {}, "accountRef": {"name": "no-credentials"}}),
            "AccountInvalid",
            "needs accessKey and secretKey",
        ),
        gw(
            "missing-source",
            json!({"apig": apig, "credentials": "FromSecret", "credentialsFrom": {"name": "absent"}}),
            "InvalidSpec",
            "spec.credentialsFrom: Secret absent not found",
        ),
        gw(
            "incomplete-source",
            json!({"roma": {"instanceId": "r1"}, "credentials": "FromSecret", "credentialsFrom": {"name": "byo-no-secret"}}),
            "InvalidSpec",
            "needs keys app_key and app_secret",
        ),
        gw(
            "foreign-namespace-source",
            json!({"apig": apig, "credentials": "FromSecret", "credentialsFrom": {"name": "elsewhere"}}),
            "InvalidSpec",
            "spec.credentialsFrom: Secret elsewhere not found",
        ),
        gw(
            "secret-owned-by-someone-else",
            json!({"apig": apig, "secret": {"name": "users-secret"}}),
            "SecretConflict",
            "Secret users-secret exists and is not managed",
        ),
        gw(
            "name-only-the-cloud-rejects",
            json!({"dataarts": {"workspaceId": "w"}, "appName": "a/b"}),
            "InvalidSpec",
            "name",
        ),
        Runtime {
            annotations: json!({"appauth.hwcloud.dev/adopt": "true"}),
            ..gw(
                "adopt-with-adoption-disabled",
                json!({"apig": apig, "appName": "legacy_app"}),
                "NotPermitted",
                "adoption is not permitted",
            )
        },
        Runtime {
            annotations: json!({"appauth.hwcloud.dev/paused": "true", "appauth.hwcloud.dev/rotate": "now", "appauth.hwcloud.dev/adopt": "true"}),
            condition: "Synced",
            terminal: false,
            ..gw(
                "paused-with-rotate-and-adopt",
                json!({"apig": apig, "appName": "legacy_app"}),
                "Paused",
                "paused",
            )
        },
        Runtime {
            kind: Kind::InferenceApi,
            ..gw(
                "api-on-a-dead-service",
                json!({"serviceId": "not-a-live-service"}),
                "InvalidSpec",
                "not-a-live-service",
            )
        },
    ]
}

async fn condition(
    client: &kube::Client,
    ns: &str,
    case: &Runtime,
) -> Option<appauth_operator::api::Condition> {
    let conditions = match case.kind {
        Kind::GatewayApp => {
            Api::<GatewayApp>::namespaced(client.clone(), ns)
                .get_opt(case.name)
                .await
                .ok()??
                .status?
                .conditions
        }
        Kind::InferenceApi => {
            Api::<InferenceApi>::namespaced(client.clone(), ns)
                .get_opt(case.name)
                .await
                .ok()??
                .status?
                .conditions
        }
    };
    let found = conditions.iter().find(|c| c.type_ == case.condition)?;
    let settled =
        found.reason != "Creating" && (case.condition != "Ready" || found.status == "False");
    let stalled = conditions
        .iter()
        .any(|c| c.type_ == "Stalled" && c.status == "True");
    (settled && (stalled || !case.terminal)).then(|| found.clone())
}

#[tokio::test]
async fn hostile_specs_are_rejected_or_stall_naming_the_problem_and_create_nothing() {
    let client = cluster::client().await;
    let ns = Ns {
        client: client.clone(),
        name: cluster::namespace(&client, "hostile").await,
    };
    let other = cluster::namespace(&client, "hostile-other").await;
    let sim = Sim::start();
    sim.handle
        .set_config(json!({"modelarts_services": ["only-this-service"]}))
        .expect("restrict services");
    let op = Operator::start(&ns.name, &sim.url(), &["--allow-adoption", "false"]);

    let secrets = ns.secrets();
    for s in [
        account("hostile-region", "cn-north-4.evil.example", "p1"),
        account("region-traversal", "cn-north-4/../../evil", "p1"),
        account("region-crlf", "cn-north-4\r\nX-Evil: 1", "p1"),
        account("region-port", "127.0.0.1:8080", "p1"),
        account("project-path", "cn-north-4", "p1/../../v3/auth/tokens"),
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
        secret("users-secret", &[("token", "the user's own data")]),
    ] {
        secrets
            .create(&PostParams::default(), &s)
            .await
            .expect("Secret");
    }
    // Secrets with the right names in another namespace are never used.
    let foreign: Api<Secret> = Api::namespaced(client.clone(), &other);
    for s in [
        account("elsewhere", "cn-north-4", "p1"),
        secret(
            "elsewhere-src",
            &[("app_key", "k-123456"), ("app_secret", SK)],
        ),
    ] {
        foreign
            .create(&PostParams::default(), &s)
            .await
            .expect("foreign Secret");
    }
    let legacy = common::cloud::client(&sim.url())
        .apig("gw1")
        .create(&appauth_operator::cloud::apig::AppInput {
            name: "legacy_app",
            ..Default::default()
        })
        .await
        .expect("pre-existing app");

    // Admission: rejected, naming the field, and nothing stored.
    let rejects = cases::rejects();
    let mut wrong = Vec::new();
    for case in &rejects {
        let obj = cases::object(case.kind, case.name, &case.spec);
        match cases::create(&client, &ns.name, case.kind, &obj).await {
            Ok(()) => wrong.push(format!("{}: accepted at admission", case.name)),
            Err(msg) if !msg.contains(case.field) || !msg.contains("(422)") => wrong.push(format!(
                "{}: {msg:?} does not name {}",
                case.name, case.field
            )),
            Err(_) => {}
        }
    }

    // Runtime: accepted, then a condition that names the problem.
    let runtime = runtime_cases();
    for case in &runtime {
        let mut obj = cases::object(case.kind, case.name, &case.spec);
        obj["metadata"]["annotations"] = case.annotations.clone();
        cases::create(&client, &ns.name, case.kind, &obj)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    }
    for case in &runtime {
        let found = wait::until(T, &format!("{} settles", case.name), || {
            condition(&client, &ns.name, case)
        })
        .await;
        if found.reason != case.reason || !found.message.contains(case.text) {
            wrong.push(format!(
                "{}: {} {} / {}: {}",
                case.name, case.condition, found.status, found.reason, found.message
            ));
        }
        if found.message.contains(SK) {
            wrong.push(format!("{}: the message carries a secret", case.name));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        rejects.len() + runtime.len(),
        wrong.join("\n")
    );

    // Nothing created in the cloud: the pre-existing app only, untouched, and no API.
    let apps = sim.all_apps();
    assert_eq!(apps.len(), 1, "only the pre-existing app: {apps:?}");
    assert_eq!(apps[0]["id"], legacy.id.as_str());
    assert_eq!(
        apps[0]["remark"].as_str().unwrap_or_default(),
        "",
        "the pre-existing app was not claimed"
    );
    let state = serde_json::to_value(sim.handle.state()).expect("state");
    assert!(
        state["apis"].as_array().is_none_or(|a| a.is_empty()),
        "no API created"
    );
    // Create calls that reached the cloud: the pre-existing app's own (the test's), the name
    // only the cloud rejects, and the app of the object whose Secret name a user's Secret holds:
    // the operator does not read before creating (its cache sees only its own Secrets), so it
    // finds the user's Secret when its create-only write fails, and deletes that app again
    // (the one APIG delete). The adoption that is not permitted never calls the cloud.
    let creates: Vec<u64> = ["apig", "modelarts", "dataarts", "roma"]
        .iter()
        .map(|s| sim.handle.count(&format!("{s}.create")))
        .collect();
    assert_eq!(creates, [2, 0, 1, 0], "create calls per service");
    assert_eq!(
        sim.handle.count("apig.delete"),
        1,
        "the app of the refused Secret deleted again"
    );
    // The user's own Secret is as it was.
    let users = ns.secret("users-secret").await.expect("users-secret");
    assert_eq!(
        Ns::value(&users, "token").as_deref(),
        Some("the user's own data")
    );
    assert!(!op.logs().contains(SK), "no account secret in the logs");
    println!(
        "{} hostile specs: {} rejected at admission, {} ended in a condition naming the problem; 0 cloud apps created",
        rejects.len() + runtime.len(),
        rejects.len(),
        runtime.len()
    );
}
