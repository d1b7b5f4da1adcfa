//! The paths production walks rarely: refused and interrupted rotations, services that cannot
//! rotate, restores and collisions. Real operator binary, real apiserver, the simulator.

mod common;

use std::time::Duration;

use common::objects::Ns;
use common::operator::Operator;
use common::sim::{Sim, credentials_work};
use common::{cluster, wait};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

async fn setup(test: &str) -> (Ns, Sim) {
    let client = cluster::client().await;
    let name = cluster::namespace(&client, test).await;
    (Ns { client, name }, Sim::start())
}

async fn creds(ns: &Ns, secret: &str) -> (String, String) {
    let s = ns.secret(secret).await.expect("Secret");
    (
        Ns::value(&s, "app_key").expect("key"),
        Ns::value(&s, "app_secret").expect("secret"),
    )
}

async fn events(ns: &Ns, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(ns.client.clone(), &ns.name);
    api.list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

/// The (status, reason) of a condition.
fn condition(app: &appauth_operator::api::GatewayApp, type_: &str) -> Option<(String, String)> {
    app.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// The secret the simulator holds for an app now.
fn cloud_secret(sim: &Sim, id: &str) -> String {
    sim.app(id).expect("app in the simulator")["secret"]
        .as_str()
        .expect("secret")
        .to_string()
}

/// A reset the cloud refuses records no rotation: Synced=False RotationFailed with a Warning
/// Event while Ready stays True and the old credentials keep working; it is retried (with
/// backoff) and, once the cloud accepts, the rotation happens and is recorded once.
#[tokio::test]
async fn a_refused_reset_records_no_rotation_and_is_retried() {
    let (ns, sim) = setup("refused-reset").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "10m"]);
    ns.create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    let id = ns
        .wait_ready("app", T)
        .await
        .status
        .unwrap()
        .app_id
        .unwrap();
    let (key, old) = creds(&ns, "app").await;
    sim.handle
        .add_fault(
            hwcloud_sim::FaultSpec::new("apig", "reset_secret")
                .status(403)
                .error_code("APIG.1005"),
        )
        .expect("fault");

    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/rotate": "r1"}}}),
    )
    .await;
    let app = wait::until(T, "Synced=False RotationFailed", || async {
        let app = ns.get("app").await?;
        (condition(&app, "Synced")? == ("False".into(), "RotationFailed".into())).then_some(app)
    })
    .await;
    assert_eq!(
        condition(&app, "Ready").map(|c| c.0).as_deref(),
        Some("True"),
        "the old credentials still work"
    );
    assert!(
        !events(&ns, "RotationFailed").await.is_empty(),
        "Warning Event"
    );
    // The refusal is retried: a second refused reset has been sent, and still nothing is recorded.
    wait::until(T, "the reset retried", || async {
        (sim.handle.count("apig.reset_secret") >= 2).then_some(())
    })
    .await;
    let app = ns.get("app").await.expect("app");
    assert!(
        app.status
            .as_ref()
            .and_then(|s| s.rotation.clone())
            .is_none(),
        "a refused reset recorded a rotation: {:?}",
        app.status.and_then(|s| s.rotation)
    );
    assert!(events(&ns, "Rotated").await.is_empty());
    assert_eq!(cloud_secret(&sim, &id), old);
    assert!(credentials_work(&sim.url(), &key, &old).await);

    sim.handle.clear_faults();
    let app = wait::until(Duration::from_secs(60), "rotation recorded", || async {
        let app = ns.get("app").await?;
        let token = app.status.as_ref()?.rotation.as_ref()?.last_token.clone()?;
        (token == "r1" && condition(&app, "Synced")?.0 == "True").then_some(app)
    })
    .await;
    let (_, new) = creds(&ns, "app").await;
    assert_ne!(new, old, "recorded without a new secret");
    assert_eq!(cloud_secret(&sim, &id), new);
    assert!(credentials_work(&sim.url(), &key, &new).await);
    assert!(!credentials_work(&sim.url(), &key, &old).await);
    assert_eq!(events(&ns, "Rotated").await.len(), 1);
    assert!(
        !app.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("appauth.hwcloud.dev/rotating")
    );
}

/// A crash after the rotation began but before the reset was sent: the next process reads the
/// secret back, finds it unchanged, and resets it then; nothing is recorded without a new secret.
#[tokio::test]
async fn a_crash_before_the_reset_is_sent_still_rotates() {
    let (ns, sim) = setup("crash-before-reset").await;
    let mut op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "10m"]);
    ns.create("app", json!({"roma": {"instanceId": "r1"}}))
        .await;
    let id = ns
        .wait_ready("app", T)
        .await
        .status
        .unwrap()
        .app_id
        .unwrap();
    let (key, old) = creds(&ns, "app").await;

    op.restart_at_failpoint("before-reset");
    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/rotate": "r1"}}}),
    )
    .await;
    assert_eq!(
        op.wait_exit(T),
        Some(86),
        "the operator stops at before-reset"
    );
    assert_eq!(sim.handle.count("roma.reset_secret"), 0, "nothing was sent");
    op.restart(false);
    wait::until(T, "rotation recorded", || async {
        let app = ns.get("app").await?;
        let token = app.status.as_ref()?.rotation.as_ref()?.last_token.clone()?;
        (token == "r1").then_some(())
    })
    .await;
    let (_, new) = creds(&ns, "app").await;
    assert_ne!(new, old, "a rotation was recorded without a new secret");
    assert_eq!(cloud_secret(&sim, &id), new);
    assert!(credentials_work(&sim.url(), &key, &new).await);
    assert_eq!(sim.handle.count("roma.reset_secret"), 1);
    assert_eq!(events(&ns, "Rotated").await.len(), 1);
}

/// A reset whose answer is lost (committed in the cloud, the connection dropped) is not sent
/// again: the next pass reads the secret back, sees it changed, delivers it and records once.
#[tokio::test]
async fn a_reset_of_unknown_outcome_is_read_back_not_repeated() {
    let (ns, sim) = setup("unknown-reset").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "10m"]);
    ns.create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    let id = ns
        .wait_ready("app", T)
        .await
        .status
        .unwrap()
        .app_id
        .unwrap();
    let (key, old) = creds(&ns, "app").await;
    sim.handle
        .add_fault(
            hwcloud_sim::FaultSpec::new("apig", "reset_secret")
                .drop_after_commit()
                .times(1),
        )
        .expect("fault");
    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/rotate": "r1"}}}),
    )
    .await;
    wait::until(Duration::from_secs(60), "rotation recorded", || async {
        let app = ns.get("app").await?;
        let token = app.status.as_ref()?.rotation.as_ref()?.last_token.clone()?;
        (token == "r1").then_some(())
    })
    .await;
    let (_, new) = creds(&ns, "app").await;
    assert_ne!(new, old);
    assert_eq!(
        cloud_secret(&sim, &id),
        new,
        "the committed reset is the one delivered"
    );
    assert!(credentials_work(&sim.url(), &key, &new).await);
    assert_eq!(
        sim.handle.count("apig.reset_secret"),
        1,
        "the reset was repeated blindly"
    );
    assert_eq!(events(&ns, "Rotated").await.len(), 1);
}

/// DataArts has no reset. Once `rotation.interval` has passed, the object warns once per
/// interval and waits for its resync; it does not reconcile every second.
#[tokio::test]
async fn dataarts_with_an_elapsed_interval_warns_once_and_does_not_spin() {
    let (ns, sim) = setup("dataarts-interval").await;
    let metrics = common::operator::free_metrics_addr();
    let _op = Operator::start(
        &ns.name,
        &sim.url(),
        &["--resync-period", "10m", "--metrics-addr", &metrics],
    );
    ns.create(
        "app",
        json!({"dataarts": {"workspaceId": "w1"}, "rotation": {"interval": "1h"}}),
    )
    .await;
    ns.wait_ready("app", T).await;
    // After the operator's last write for the new app (the app-id mirror), so that the status
    // edit below is not folded into the answer of that write.
    wait::until(T, "app id mirrored", || async {
        let annotations = ns.get("app").await?.metadata.annotations?;
        (annotations.contains_key("appauth.hwcloud.dev/app-id")
            && !annotations.contains_key("appauth.hwcloud.dev/pending"))
        .then_some(())
    })
    .await;
    // The interval elapsed two hours ago (as after a long run), as the status records it.
    let past = (chrono::Utc::now() - chrono::Duration::hours(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    ns.apps()
        .patch_status(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"rotation": {"lastTime": past}}})),
        )
        .await
        .expect("status patch");
    wait::until(T, "RotationUnsupported Warning", || async {
        (!events(&ns, "RotationUnsupported").await.is_empty()).then_some(())
    })
    .await;
    let reconciles = || async {
        let page = Operator::metrics(&metrics).await;
        page.lines()
            .filter(|l| l.starts_with("appauth_reconciles_total{") && l.contains("GatewayApp"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = reconciles().await;
    assert!(before >= 1.0, "the metric counts reconciles");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = reconciles().await;
    assert!(
        after - before <= 1.0,
        "reconciled {} times in 5 s with nothing to do",
        after - before
    );
    let warnings = events(&ns, "RotationUnsupported").await;
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].count.unwrap_or(1),
        1,
        "warned once per interval"
    );
}
