//! The Argo CD health checks in `deploy/argocd` (SPEC §8), run by real Lua 5.1 (vendored by
//! mlua, the language version Argo CD's gopher-lua implements) against real objects the operator
//! wrote: captured from the apiserver while a real operator and the simulator run.
//!
//! Ready -> Healthy, Paused -> Suspended (even while Ready stays True), Stalled -> Degraded, and
//! no status yet, Reconciling, or a status behind metadata.generation -> Progressing; for both
//! kinds. The argocd-cm patch carries the same scripts as the .lua files.

use crate::common;

use std::path::PathBuf;

use common::states::{KINDS, capture};
use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaOptions, LuaSerdeExt, StdLib, Table};
use serde_json::{Value, json};

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

#[tokio::test]
async fn health_of_real_objects() {
    let objects = capture("argocd-health").await;
    assert_eq!(
        objects.len(),
        13,
        "six states of two kinds, and a GatewayApp creating"
    );
    for (kind, state, obj) in &objects {
        let (status, message) = health(kind, obj);
        eprintln!("{kind} {state}: {status} ({message})");
        let want = match *state {
            "ready" => "Healthy",
            "paused" => "Suspended",
            "stalled" => "Degraded",
            "fresh" | "reconciling" | "creating" | "behind" => "Progressing",
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
