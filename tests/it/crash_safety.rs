//! Crash safety (SPEC §3.4): one cloud app per GatewayApp, whatever fails when. The operator
//! process is killed for real at each deterministic failpoint (cargo feature `failpoints`); the
//! seeded kill -9 bursts at scale are in `tests/chaos.rs`.

use crate::common;

use std::time::Duration;

use common::converge::assert_converged;
use common::objects::{Ns, spread_spec};
use common::operator::Operator;
use common::sim::Sim;
use common::{cluster, wait};
use serde_json::json;

async fn setup(test: &str) -> (Ns, Sim) {
    let client = cluster::client().await;
    let name = cluster::namespace(&client, test).await;
    (Ns { client, name }, Sim::start())
}

fn require_failpoints() {
    if !cfg!(feature = "failpoints") {
        panic!(
            "the crash tests need the operator built with --features failpoints (cargo xtask test does this)"
        );
    }
}

/// One deterministic crash point: the process exits there, a new one converges.
async fn crash_at(point: &str, test: &str) {
    require_failpoints();
    let (ns, sim) = setup(test).await;
    let mut op =
        Operator::start_with_env(&ns.name, &sim.url(), &[], &[("APPAUTH_FAILPOINT", point)]);
    let names: Vec<String> = (0..4).map(|i| format!("app-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        ns.create(name, spread_spec(i)).await;
    }
    assert_eq!(
        op.wait_exit(Duration::from_secs(30)),
        Some(86),
        "the operator stopped at failpoint {point}"
    );
    op.restart(false);
    assert_converged(&ns, &sim, &names, Duration::from_secs(60)).await;
}

#[tokio::test]
async fn crash_after_the_cloud_create() {
    crash_at("after-create", "crash-create").await;
}

#[tokio::test]
async fn crash_after_the_secret_write() {
    crash_at("after-secret", "crash-secret").await;
}

#[tokio::test]
async fn crash_before_the_status_patch() {
    crash_at("before-status", "crash-status").await;
}

#[tokio::test]
async fn crash_just_before_the_cloud_create() {
    crash_at("before-create", "crash-precreate").await;
}

#[tokio::test]
async fn crash_between_rotation_reset_and_secret_write() {
    require_failpoints();
    let (ns, sim) = setup("crash-rotate").await;
    let mut op = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create("app", json!({"roma": {"instanceId": "r1"}}))
        .await;
    ns.wait_ready("app", Duration::from_secs(30)).await;
    op.kill();
    let mut op = Operator::start_with_env(
        &ns.name,
        &sim.url(),
        &[],
        &[("APPAUTH_FAILPOINT", "after-reset")],
    );
    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/rotate": "r1"}}}),
    )
    .await;
    assert_eq!(op.wait_exit(Duration::from_secs(30)), Some(86));
    let resets = sim.handle.count("roma.reset_secret");
    op.restart(false);
    wait::until(Duration::from_secs(30), "rotation recorded", || async {
        let app = ns.get("app").await?;
        (app.status
            .as_ref()?
            .rotation
            .as_ref()?
            .last_token
            .as_deref()
            == Some("r1"))
        .then_some(())
    })
    .await;
    assert_eq!(
        sim.handle.count("roma.reset_secret"),
        resets,
        "the secret was read back, not reset again"
    );
    assert_converged(&ns, &sim, &["app".to_string()], Duration::from_secs(30)).await;
}

/// A user's Secret holds the credentials Secret's name. The operator does not read before it
/// creates, so it makes the app, and is killed right after: the next process finds the app by
/// its marker, cannot deliver it, and deletes it again. Nothing stays in the cloud, the user's
/// Secret is untouched.
#[tokio::test]
async fn crash_after_a_create_whose_secret_name_is_taken() {
    require_failpoints();
    let (ns, sim) = setup("crash-taken").await;
    let users: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "taken"},
        "stringData": {"token": "the user's own data"},
    }))
    .expect("Secret");
    ns.secrets()
        .create(&Default::default(), &users)
        .await
        .expect("the user's Secret");
    let mut op = Operator::start_with_env(
        &ns.name,
        &sim.url(),
        &[],
        &[("APPAUTH_FAILPOINT", "after-create")],
    );
    ns.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "secret": {"name": "taken"}}),
    )
    .await;
    assert_eq!(
        op.wait_exit(Duration::from_secs(30)),
        Some(86),
        "the operator stopped right after the create"
    );
    assert_eq!(sim.apps("apig").len(), 1, "the app was made");
    op.restart(false);
    ns.wait_reason("app", "SecretConflict", Duration::from_secs(60))
        .await;
    wait::until(Duration::from_secs(30), "the app deleted again", || async {
        sim.apps("apig").is_empty().then_some(())
    })
    .await;
    let kept = ns.secret("taken").await.expect("the user's Secret");
    assert_eq!(
        Ns::value(&kept, "token").as_deref(),
        Some("the user's own data")
    );
    assert_eq!(sim.handle.count("apig.create"), 1, "never made twice");
}
