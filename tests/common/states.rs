//! Real objects in every state the health checks tell apart (Ready, paused, stalled,
//! reconciling, creating, no status yet, status behind the spec), captured from a running
//! operator; shared by the Argo CD health check and kstatus tests.

use std::time::Duration;

use appauth_operator::api::{GatewayApp, InferenceApi};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::operator::Operator;
use super::sim::Sim;
use super::{cluster, wait};

pub const T: Duration = Duration::from_secs(45);
pub const SERVICE_ID: &str = "ae20fc9f-b37c-48c2-8ebc-3f3a638c9f48";
pub const KINDS: [&str; 2] = ["GatewayApp", "InferenceApi"];

pub fn resource(kind: &str) -> ApiResource {
    match kind {
        "GatewayApp" => ApiResource::erase::<GatewayApp>(&()),
        _ => ApiResource::erase::<InferenceApi>(&()),
    }
}

pub fn api(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &resource(kind))
}

pub async fn create(
    client: &Client,
    ns: &str,
    kind: &str,
    name: &str,
    annotations: Value,
    spec: Value,
) {
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": kind,
        "metadata": {"name": name, "annotations": annotations}, "spec": spec,
    }))
    .expect("object");
    api(client, ns, kind)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {kind} {name}: {e}"));
}

/// The object exactly as the apiserver returns it, as JSON.
pub async fn get(client: &Client, ns: &str, kind: &str, name: &str) -> Value {
    let obj = api(client, ns, kind)
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("get {kind} {name}: {e}"));
    serde_json::to_value(obj).expect("JSON")
}

pub fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

pub fn is(obj: &Value, type_: &str, status: &str) -> bool {
    condition(obj, type_).is_some_and(|c| c["status"] == status)
        && obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
}

pub async fn wait_for(
    client: &Client,
    ns: &str,
    kind: &str,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    wait::until(T, &format!("{kind} {name}: {what}"), || async {
        let obj = get(client, ns, kind, name).await;
        check(&obj).then_some(obj)
    })
    .await
}

pub async fn merge(client: &Client, ns: &str, kind: &str, name: &str, patch: Value) {
    api(client, ns, kind)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap_or_else(|e| panic!("patch {kind} {name}: {e}"));
}

/// Objects of both kinds in every state, written by a real operator: (kind, state, object).
pub async fn capture(test: &str) -> Vec<(&'static str, &'static str, Value)> {
    let client = cluster::client().await;
    let ns = cluster::namespace(&client, test).await;
    let c = &client;
    let ns = ns.as_str();
    let sim = Sim::start();
    // ROMA is down for this test: its app stays Reconciling (a recoverable error, retried).
    sim.handle
        .add_fault(hwcloud_sim::FaultSpec::new("roma", "create").status(503))
        .expect("fault");
    let mut out = Vec::new();

    // Applied before any operator saw them: no status at all.
    create(
        c,
        ns,
        "GatewayApp",
        "fresh",
        json!({}),
        json!({"apig": {"instanceId": "gw1"}}),
    )
    .await;
    create(
        c,
        ns,
        "InferenceApi",
        "fresh",
        json!({}),
        json!({"serviceId": SERVICE_ID, "appRefs": [{"name": "caller"}]}),
    )
    .await;
    for kind in KINDS {
        let obj = get(c, ns, kind, "fresh").await;
        assert!(
            obj.get("status").is_none(),
            "{kind} fresh has no status yet"
        );
        out.push((kind, "fresh", obj));
    }

    // A long request timeout makes the wait for a foreign create (below) last half a minute.
    let op = Operator::start(ns, &sim.url(), &["--request-timeout", "30s"]);
    for (kind, name, spec) in [
        (
            "GatewayApp",
            "ready",
            json!({"apig": {"instanceId": "gw1"}}),
        ),
        ("GatewayApp", "caller", json!({"modelarts": {}})),
        // Only the cloud rejects this name: InvalidSpec, terminal.
        (
            "GatewayApp",
            "stalled",
            json!({"modelarts": {}, "appName": "team/app"}),
        ),
        (
            "GatewayApp",
            "reconciling",
            json!({"roma": {"instanceId": "r1"}}),
        ),
        (
            "InferenceApi",
            "ready",
            json!({"serviceId": SERVICE_ID, "appRefs": [{"name": "caller"}]}),
        ),
        // An APIG app cannot be authorized to a ModelArts API: InvalidSpec, terminal.
        (
            "InferenceApi",
            "stalled",
            json!({"serviceId": SERVICE_ID, "appRefs": [{"name": "ready"}]}),
        ),
        // Waits for a GatewayApp that does not exist (yet): WaitingForApps, Reconciling.
        (
            "InferenceApi",
            "reconciling",
            json!({"serviceId": SERVICE_ID, "appRefs": [{"name": "not-yet"}]}),
        ),
    ] {
        create(c, ns, kind, name, json!({}), spec).await;
    }
    // A create another process may still have in flight (its pending marker is young): the
    // operator waits for it, visibly (GatewayApp only: the same code path serves both kinds).
    let marker = json!({"name": "creating_app", "time": chrono::Utc::now().to_rfc3339(),
        "instance": "appauth-operator/a-process-that-is-gone"});
    create(
        c,
        ns,
        "GatewayApp",
        "creating",
        json!({"appauth.hwcloud.dev/pending": marker.to_string()}),
        json!({"apig": {"instanceId": "gw1"}, "appName": "creating_app"}),
    )
    .await;
    let creating = wait_for(c, ns, "GatewayApp", "creating", "Creating", |o| {
        is(o, "Reconciling", "True")
            && condition(o, "Reconciling").is_some_and(|r| r["reason"] == "Creating")
    })
    .await;
    out.push(("GatewayApp", "creating", creating));
    for kind in KINDS {
        let ready = wait_for(c, ns, kind, "ready", "Ready", |o| is(o, "Ready", "True")).await;
        out.push((kind, "ready", ready));
        let stalled = wait_for(c, ns, kind, "stalled", "Stalled", |o| {
            is(o, "Stalled", "True") && is(o, "Ready", "False")
        })
        .await;
        assert_eq!(
            condition(&stalled, "Ready").unwrap()["reason"],
            "InvalidSpec"
        );
        out.push((kind, "stalled", stalled));
        let reconciling = wait_for(c, ns, kind, "reconciling", "Reconciling", |o| {
            is(o, "Reconciling", "True") && is(o, "Ready", "False")
        })
        .await;
        out.push((kind, "reconciling", reconciling));
    }
    // Paused after it was Ready: Ready stays True, Synced=False with reason Paused.
    for kind in KINDS {
        merge(
            c,
            ns,
            kind,
            "ready",
            json!({"metadata": {"annotations": {"appauth.hwcloud.dev/paused": "true"}}}),
        )
        .await;
        let paused = wait_for(c, ns, kind, "ready", "Paused", |o| {
            is(o, "Synced", "False")
                && condition(o, "Synced").is_some_and(|s| s["reason"] == "Paused")
        })
        .await;
        assert!(
            is(&paused, "Ready", "True"),
            "{kind}: pause keeps Ready: {paused}"
        );
        out.push((kind, "paused", paused));
    }
    // The spec changes while no operator runs: the status describes an older generation.
    drop(op);
    merge(
        c,
        ns,
        "GatewayApp",
        "ready",
        json!({"spec": {"description": "changed"}}),
    )
    .await;
    merge(
        c,
        ns,
        "InferenceApi",
        "ready",
        json!({"spec": {"appRefs": [{"name": "caller"}, {"name": "stalled"}]}}),
    )
    .await;
    for kind in KINDS {
        let behind = get(c, ns, kind, "ready").await;
        assert!(
            behind["status"]["observedGeneration"].as_i64()
                < behind["metadata"]["generation"].as_i64(),
            "{kind}: status behind the spec: {behind}"
        );
        out.push((kind, "behind", behind));
    }
    out
}
