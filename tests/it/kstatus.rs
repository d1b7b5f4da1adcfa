//! kstatus (sigs.k8s.io/cli-utils/pkg/kstatus, what Flux, kpt and cli-utils use to decide that
//! a resource is reconciled) on real objects the operator wrote (SPEC §5): Ready -> Current,
//! Reconciling -> InProgress, Stalled -> Failed, a status behind metadata.generation ->
//! InProgress, and a paused object (Reconciling and Stalled False) -> Current; for both kinds.
//!
//! kstatus is the small Go program in tools/kstatus, built from its pinned module by
//! `cargo xtask testbin` into APPAUTH_TESTBIN.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::states::{capture, condition};
use serde_json::{Value, json};

fn kstatus_bin() -> PathBuf {
    let dir = std::env::var("APPAUTH_TESTBIN").unwrap_or_else(|_| {
        panic!(
            "APPAUTH_TESTBIN is not set: run `cargo xtask test`, or set \
             APPAUTH_TESTBIN=$(cargo xtask testbin) (the directory with kstatus)"
        )
    });
    let bin = PathBuf::from(dir).join("kstatus");
    assert!(
        bin.is_file(),
        "{} is missing (`cargo xtask testbin` builds it from tools/kstatus)",
        bin.display()
    );
    bin
}

/// kstatus' verdict on one object: (status, message).
fn kstatus(obj: &Value) -> (String, String) {
    use std::io::Write as _;
    let mut child = Command::new(kstatus_bin())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kstatus runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(obj.to_string().as_bytes())
        .expect("write the object");
    let out = child.wait_with_output().expect("kstatus output");
    assert!(
        out.status.success(),
        "kstatus failed on {obj}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("kstatus prints JSON");
    (
        result["status"].as_str().expect("status").to_string(),
        result["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn kstatus_reads_conditions_of_a_custom_resource() {
    // A smoke test of the tool itself, independent of the operator.
    let obj = json!({"apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
        "metadata": {"name": "x", "namespace": "n", "generation": 2},
        "status": {"observedGeneration": 2, "conditions": [
            {"type": "Stalled", "status": "True", "reason": "InvalidSpec", "message": "bad name"}]}});
    assert_eq!(
        kstatus(&obj),
        ("Failed".to_string(), "bad name".to_string())
    );
}

#[tokio::test]
async fn kstatus_of_real_objects() {
    let objects = capture("kstatus").await;
    assert_eq!(
        objects.len(),
        13,
        "six states of two kinds, and a GatewayApp creating"
    );
    for (kind, state, obj) in &objects {
        let (status, message) = kstatus(obj);
        eprintln!("{kind} {state}: {status} ({message})");
        let want = match *state {
            "ready" | "paused" => "Current",
            "stalled" => "Failed",
            // Waiting for a create that may still be in flight: Reconciling=True, Creating.
            "reconciling" | "creating" | "behind" => "InProgress",
            // Without any status kstatus cannot know a controller will act: it reports Current
            // (docs/operations.md says so; Argo CD's check says Progressing).
            "fresh" => "Current",
            other => unreachable!("{other}"),
        };
        assert_eq!(
            status, want,
            "{kind} {state}: message {message:?}; object {obj}"
        );
        if *state == "stalled" {
            assert_eq!(
                Some(message.as_str()),
                condition(obj, "Stalled").and_then(|c| c["message"].as_str()),
                "{kind}: kstatus reports the Stalled condition's message"
            );
        }
    }
}
