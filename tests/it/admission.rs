//! The CRDs against a REAL kube-apiserver: installed and Established, examples accepted, the
//! invalid matrix rejected with the field named, the must-accept matrix accepted, and the
//! immutability rules enforced only once the cloud id is in status.

use crate::common;

use appauth_operator::api::{GatewayApp, InferenceApi};
use common::cases::{self, Kind, api, create};
use common::cluster;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Resource;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde::Deserialize;
use serde_json::{Value, json};

fn kind_of(obj: &Value) -> Kind {
    match obj["kind"].as_str() {
        Some("GatewayApp") => Kind::GatewayApp,
        Some("InferenceApi") => Kind::InferenceApi,
        other => panic!("unexpected kind {other:?}"),
    }
}

#[tokio::test]
async fn crds_are_installed_and_established() {
    let client = cluster::client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for name in [GatewayApp::crd_name(), InferenceApi::crd_name()] {
        let crd = crds
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{name} is not Established");
    }
}

trait CrdName {
    fn crd_name() -> String;
}
impl<K: Resource<DynamicType = ()>> CrdName for K {
    fn crd_name() -> String {
        format!("{}.{}", K::plural(&()), K::group(&()))
    }
}

#[tokio::test]
async fn every_example_applies_and_the_invalid_one_is_rejected() {
    let client = cluster::client().await;
    let ns = cluster::namespace(&client, "examples").await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut applied = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(&path).expect("readable example");
        // An example may bring what the object needs (a Secret, a Deployment using it): those
        // are checked by chart::examples; here the custom resources.
        let Some(obj) = serde_yaml::Deserializer::from_str(&text)
            .map(|doc| {
                Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            })
            .find(|o| matches!(o["kind"].as_str(), Some("GatewayApp" | "InferenceApi")))
        else {
            continue;
        };
        let result = create(&client, &ns, kind_of(&obj), &obj).await;
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if file.starts_with("invalid") {
            let msg = result.expect_err("the invalid example must be rejected");
            assert!(msg.contains("exactly one of apig"), "{file}: {msg}");
            assert!(msg.contains("spec.appName"), "{file}: {msg}");
        } else {
            result.unwrap_or_else(|e| panic!("{file} rejected: {e}"));
            applied += 1;
        }
    }
    assert!(applied >= 5, "only {applied} examples applied");
}

#[tokio::test]
async fn the_invalid_matrix_is_rejected_naming_the_field() {
    let client = cluster::client().await;
    let ns = cluster::namespace(&client, "rejects").await;
    let cases = cases::rejects();
    assert!(cases.len() >= 15);
    let mut wrong = Vec::new();
    for case in &cases {
        let obj = cases::object(case.kind, case.name, &case.spec);
        match create(&client, &ns, case.kind, &obj).await {
            Ok(()) => wrong.push(format!("{}: accepted", case.name)),
            Err(msg) if !msg.contains(case.field) => wrong.push(format!(
                "{}: {msg:?} does not name {}",
                case.name, case.field
            )),
            Err(msg) if !msg.contains("(422)") => {
                wrong.push(format!("{}: not a 422: {msg}", case.name))
            }
            Err(_) => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn the_must_accept_matrix_is_accepted() {
    let client = cluster::client().await;
    let ns = cluster::namespace(&client, "accepts").await;
    let mut wrong = Vec::new();
    for case in cases::accepts() {
        let obj = cases::object(case.kind, case.name, &case.spec);
        if let Err(msg) = create(&client, &ns, case.kind, &obj).await {
            wrong.push(format!("{}: {msg}", case.name));
        }
    }
    assert!(wrong.is_empty(), "rejected:\n{}", wrong.join("\n"));
}

async fn patch_spec(api: &Api<DynamicObject>, name: &str, spec: Value) -> Result<(), String> {
    let patch = Patch::Merge(json!({"spec": spec}));
    api.patch(name, &PatchParams::default(), &patch)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn set_status(api: &Api<DynamicObject>, name: &str, status: Value) {
    let patch = Patch::Merge(json!({"status": status}));
    api.patch_status(name, &PatchParams::default(), &patch)
        .await
        .unwrap_or_else(|e| panic!("status patch: {e}"));
}

#[tokio::test]
async fn gateway_app_identity_is_mutable_until_status_app_id_then_locked() {
    let client = cluster::client().await;
    let ns = cluster::namespace(&client, "immutable-gw").await;
    let gw = api(&client, &ns, Kind::GatewayApp);
    let spec = json!({"apig": {"instanceId": "gw1"}, "appName": "orders_client"});
    create(
        &client,
        &ns,
        Kind::GatewayApp,
        &cases::object(Kind::GatewayApp, "orders", &spec),
    )
    .await
    .expect("create");

    // Before the app exists: a typo the cloud rejects can be fixed.
    patch_spec(
        &gw,
        "orders",
        json!({"apig": {"instanceId": "gw2"}, "appName": "orders_client2"}),
    )
    .await
    .expect("instance change before appId");
    patch_spec(
        &gw,
        "orders",
        json!({"apig": null, "roma": {"instanceId": "r1"}, "appName": "orders_client"}),
    )
    .await
    .expect("service switch before appId");
    patch_spec(&gw, "orders", json!({"credentials": "Generated"}))
        .await
        .expect("credentials change before appId");

    set_status(
        &gw,
        "orders",
        json!({"appId": "0123456789abcdef", "appName": "orders_client", "service": "roma"}),
    )
    .await;

    for (change, field) in [
        (
            json!({"roma": {"instanceId": "r2"}}),
            "spec.roma.instanceId",
        ),
        (
            json!({"roma": null, "apig": {"instanceId": "gw1"}}),
            "the service block is immutable",
        ),
        (json!({"appName": "renamed_app"}), "spec.appName"),
        (
            json!({"appName": null, "credentials": "CloudGenerated"}),
            "spec.credentials",
        ),
    ] {
        let err = patch_spec(&gw, "orders", change.clone())
            .await
            .expect_err("locked after appId");
        assert!(err.contains(field), "{change}: {err} does not name {field}");
    }
    // What stays mutable.
    patch_spec(&gw, "orders", json!({"description": "now described", "deletionPolicy": "Retain", "rotation": {"interval": "24h"}, "secret": {"name": "renamed-secret"}}))
        .await
        .expect("mutable fields after appId");
    let err = patch_spec(&gw, "orders", json!({"appName": null}))
        .await
        .expect_err("removing the name after appId");
    assert!(err.contains("spec.appName"), "{err}");
}

#[tokio::test]
async fn inference_api_is_mutable_until_status_api_id_then_locked() {
    let client = cluster::client().await;
    let ns = cluster::namespace(&client, "immutable-api").await;
    let apis = api(&client, &ns, Kind::InferenceApi);
    let spec = json!({"serviceId": "svc-1", "apiName": "fraud", "method": "POST"});
    create(
        &client,
        &ns,
        Kind::InferenceApi,
        &cases::object(Kind::InferenceApi, "fraud", &spec),
    )
    .await
    .expect("create");
    patch_spec(
        &apis,
        "fraud",
        json!({"method": "GET", "apiPath": "/v1/infers/x"}),
    )
    .await
    .expect("change before apiId");
    set_status(&apis, "fraud", json!({"apiId": "api-1"})).await;
    for (change, field) in [
        (json!({"method": "PUT"}), "spec.method"),
        (json!({"apiPath": null}), "spec.apiPath"),
        (json!({"description": "added"}), "spec.description"),
        (json!({"serviceId": "svc-2"}), "spec.serviceId"),
    ] {
        let err = patch_spec(&apis, "fraud", change.clone())
            .await
            .expect_err("locked after apiId");
        assert!(err.contains(field), "{change}: {err} does not name {field}");
    }
    patch_spec(&apis, "fraud", json!({"appRefs": [{"name": "a"}], "secret": {"name": "s"}, "deletionPolicy": "Retain", "accountRef": {"name": "acct"}}))
        .await
        .expect("refs, secret, policy and account stay mutable");
}
