//! The Argo CD health checks in `deploy/argocd` (SPEC §8), run by real Lua 5.1 (vendored by
//! mlua, the language version Argo CD's gopher-lua implements) against real objects the operator
//! wrote: captured from the apiserver while a real operator and the simulator run.
//!
//! Ready -> Healthy, Paused -> Suspended (even while Ready stays True), Stalled -> Degraded, and
//! no status yet, Reconciling, or a status behind metadata.generation -> Progressing; for both
//! kinds. The argocd-cm patch carries the same scripts as the .lua files.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use appauth_operator::api::{GatewayApp, InferenceApi};
use common::operator::Operator;
use common::sim::Sim;
use common::{cluster, wait};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaOptions, LuaSerdeExt, StdLib, Table};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(45);
const SERVICE_ID: &str = "ae20fc9f-b37c-48c2-8ebc-3f3a638c9f48";
const KINDS: [&str; 2] = ["GatewayApp", "InferenceApi"];

fn script_path(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/argocd/appauth.hwcloud.dev")
        .join(kind)
        .join("health.lua")
}

/// Runs a health script the way Argo CD does: `obj` is the live object as a Lua table (JSON
/// null is nil), the script returns `hs` with status and message. Only the libraries Argo CD's
/// sandbox offers (base, table, string, math).
fn health(kind: &str, obj: &Value) -> (String, String) {
    let script = std::fs::read_to_string(script_path(kind)).expect("health.lua");
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )
    .expect("Lua state");
    let version: String = lua.globals().get("_VERSION").expect("_VERSION");
    assert_eq!(version, "Lua 5.1", "the checks run under Lua 5.1");
    let options = SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false)
        .set_array_metatable(false);
    let value = lua
        .to_value_with(obj, options)
        .expect("object as a Lua table");
    lua.globals().set("obj", value).expect("set obj");
    let hs: Table = lua
        .load(&script)
        .set_name(format!("{kind}/health.lua"))
        .eval()
        .unwrap_or_else(|e| panic!("{kind}/health.lua fails on {obj}: {e}"));
    let status: String = hs.get("status").expect("hs.status is a string");
    let message: Option<String> = hs.get("message").expect("hs.message");
    assert!(
        ["Healthy", "Progressing", "Degraded", "Suspended"].contains(&status.as_str()),
        "not an Argo CD health status: {status}"
    );
    (status, message.unwrap_or_default())
}

#[test]
fn argocd_cm_patch_carries_the_same_scripts() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/argocd/argocd-cm-health.yaml");
    let cm: Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).expect("argocd-cm-health.yaml"))
            .expect("YAML");
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    for kind in KINDS {
        let key = format!("resource.customizations.health.appauth.hwcloud.dev_{kind}");
        assert_eq!(
            cm["data"][&key].as_str(),
            Some(
                std::fs::read_to_string(script_path(kind))
                    .expect("lua")
                    .as_str()
            ),
            "{key} in argocd-cm-health.yaml is {kind}/health.lua"
        );
    }
}

/// Shapes the operator never writes but Argo CD may still show (hand-edited or foreign status).
#[test]
fn odd_shapes_are_handled() {
    let meta = json!({"name": "x", "namespace": "n", "generation": 3});
    for kind in KINDS {
        for (obj, want) in [
            (json!({"metadata": meta}), "Progressing"),
            (json!({"metadata": meta, "status": {}}), "Progressing"),
            (
                json!({"metadata": meta, "status": {"conditions": []}}),
                "Progressing",
            ),
            (
                json!({"metadata": meta, "status": {"observedGeneration": 3, "conditions": [
                    {"type": "Ready", "status": "Unknown", "reason": null, "message": null}]}}),
                "Progressing",
            ),
            (
                // No observedGeneration at all: trust the conditions only once it is reported.
                json!({"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                "Progressing",
            ),
            (
                json!({"metadata": {"name": "x"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                "Healthy",
            ),
        ] {
            assert_eq!(health(kind, &obj).0, want, "{kind}: {obj}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Real objects

fn resource(kind: &str) -> ApiResource {
    match kind {
        "GatewayApp" => ApiResource::erase::<GatewayApp>(&()),
        _ => ApiResource::erase::<InferenceApi>(&()),
    }
}

fn api(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &resource(kind))
}

async fn create(
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
async fn get(client: &Client, ns: &str, kind: &str, name: &str) -> Value {
    let obj = api(client, ns, kind)
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("get {kind} {name}: {e}"));
    serde_json::to_value(obj).expect("JSON")
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn is(obj: &Value, type_: &str, status: &str) -> bool {
    condition(obj, type_).is_some_and(|c| c["status"] == status)
        && obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
}

async fn wait_for(
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

async fn merge(client: &Client, ns: &str, kind: &str, name: &str, patch: Value) {
    api(client, ns, kind)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap_or_else(|e| panic!("patch {kind} {name}: {e}"));
}

/// Objects of both kinds in every state, written by a real operator: (kind, state, object).
async fn capture(test: &str) -> Vec<(&'static str, &'static str, Value)> {
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

    let op = Operator::start(ns, &sim.url(), &[]);
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

#[tokio::test]
async fn health_of_real_objects() {
    let objects = capture("argocd-health").await;
    assert_eq!(objects.len(), 12, "six states of two kinds");
    for (kind, state, obj) in &objects {
        let (status, message) = health(kind, obj);
        eprintln!("{kind} {state}: {status} ({message})");
        let want = match *state {
            "ready" => "Healthy",
            "paused" => "Suspended",
            "stalled" => "Degraded",
            "fresh" | "reconciling" | "behind" => "Progressing",
            other => unreachable!("{other}"),
        };
        assert_eq!(
            status, want,
            "{kind} {state}: message {message:?}; object {obj}"
        );
        assert!(!message.is_empty(), "{kind} {state}: a message");
        if *state == "stalled" {
            assert!(message.starts_with("InvalidSpec: "), "{kind}: {message}");
        }
    }
}
