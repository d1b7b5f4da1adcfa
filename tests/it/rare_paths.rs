//! The paths production walks rarely: refused and interrupted rotations, services that cannot
//! rotate, restores and collisions. Real operator binary, real apiserver, the simulator.

use crate::common;

use std::time::Duration;

use appauth_operator::api::GatewayApp;
use common::objects::{Ns, account_secret, creds, events, in_use, setup};
use common::operator::{Operator, free_metrics_addr};
use common::sim::{Sim, credentials_work};
use common::wait;
use kube::api::{Patch, PatchParams};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

/// How many Events with `reason` there are, once there is at least one (Events are published
/// off the reconcile path, so they may trail the status that reports the same step).
async fn events_once(ns: &Ns, reason: &str) -> usize {
    wait::until(T, &format!("a {reason} Event"), || async {
        let n = events(ns, reason).await.len();
        (n > 0).then_some(n)
    })
    .await
}

/// The (status, reason) of a condition.
fn condition(app: &appauth_operator::api::GatewayApp, type_: &str) -> Option<(String, String)> {
    app.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.to_string(), c.reason.to_string()))
}

/// The secret the simulator holds for an app now.
fn cloud_secret(sim: &Sim, id: &str) -> String {
    sim.app(id).expect("app in the simulator")["secret"]
        .as_str()
        .expect("secret")
        .to_string()
}

/// An app made Ready: its id, key and secret.
async fn ready_app(ns: &Ns, spec: serde_json::Value) -> (String, String, String) {
    ns.create("app", spec).await;
    let id = ns.ready_id("app", T).await;
    let (key, secret) = creds(ns, "app").await;
    (id, key, secret)
}

async fn ask_rotation(ns: &Ns, token: &str) {
    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/rotate": token}}}),
    )
    .await;
}

/// Waits until status records the rotation asked with `token`, then checks that it is real:
/// the Secret and the cloud hold a new secret that works. Returns the new secret.
async fn rotated(ns: &Ns, sim: &Sim, id: &str, key: &str, old: &str, token: &str) -> String {
    wait::until(Duration::from_secs(60), "rotation recorded", || async {
        let app = ns.get("app").await?;
        let last = app.status.as_ref()?.rotation.as_ref()?.last_token.clone()?;
        (last == token).then_some(())
    })
    .await;
    let (_, new) = creds(ns, "app").await;
    assert_ne!(new, old, "a rotation was recorded without a new secret");
    assert_eq!(
        cloud_secret(sim, id),
        new,
        "the Secret holds the cloud's secret"
    );
    assert!(credentials_work(&sim.url(), key, &new).await);
    assert_eq!(events_once(ns, "Rotated").await, 1);
    new
}

/// A reset the cloud refuses records no rotation: Synced=False RotationFailed with a Warning
/// Event while Ready stays True and the old credentials keep working; it is retried (with
/// backoff) and, once the cloud accepts, the rotation happens and is recorded once.
#[tokio::test]
async fn a_refused_reset_records_no_rotation_and_is_retried() {
    let (ns, sim) = setup("refused-reset").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "10m"]);
    let (id, key, old) = ready_app(&ns, json!({"apig": {"instanceId": "gw1"}})).await;
    sim.handle
        .add_fault(
            hwcloud_sim::FaultSpec::new("apig", "reset_secret")
                .status(403)
                .error_code("APIG.1005"),
        )
        .expect("fault");

    ask_rotation(&ns, "r1").await;
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
        events_once(&ns, "RotationFailed").await >= 1,
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
    rotated(&ns, &sim, &id, &key, &old, "r1").await;
    assert!(!credentials_work(&sim.url(), &key, &old).await);
    wait::until(T, "Synced again, the rotating mark gone", || async {
        let app = ns.get("app").await?;
        let marked = app
            .metadata
            .annotations
            .as_ref()?
            .contains_key("appauth.hwcloud.dev/rotating");
        (condition(&app, "Synced")?.0 == "True" && !marked).then_some(())
    })
    .await;
}

/// A crash after the rotation began but before the reset was sent: the next process reads the
/// secret back, finds it unchanged, and resets it then; nothing is recorded without a new secret.
#[tokio::test]
async fn a_crash_before_the_reset_is_sent_still_rotates() {
    let (ns, sim) = setup("crash-before-reset").await;
    let mut op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "10m"]);
    let (id, key, old) = ready_app(&ns, json!({"roma": {"instanceId": "r1"}})).await;

    op.restart_at_failpoint("before-reset");
    ask_rotation(&ns, "r1").await;
    assert_eq!(
        op.wait_exit(T),
        Some(86),
        "the operator stops at before-reset"
    );
    assert_eq!(sim.handle.count("roma.reset_secret"), 0, "nothing was sent");
    op.restart(false);
    rotated(&ns, &sim, &id, &key, &old, "r1").await;
    assert_eq!(sim.handle.count("roma.reset_secret"), 1);
}

/// A reset whose answer is lost (committed in the cloud, the connection dropped) is not sent
/// again: the next pass reads the secret back, sees it changed, delivers it and records once.
#[tokio::test]
async fn a_reset_of_unknown_outcome_is_read_back_not_repeated() {
    let (ns, sim) = setup("unknown-reset").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "10m"]);
    let (id, key, old) = ready_app(&ns, json!({"apig": {"instanceId": "gw1"}})).await;
    sim.handle
        .add_fault(
            hwcloud_sim::FaultSpec::new("apig", "reset_secret")
                .drop_after_commit()
                .times(1),
        )
        .expect("fault");
    ask_rotation(&ns, "r1").await;
    rotated(&ns, &sim, &id, &key, &old, "r1").await;
    assert_eq!(
        sim.handle.count("apig.reset_secret"),
        1,
        "the reset was repeated blindly"
    );
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
    // The status write (waited for above) is the last write of a new app.
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
    let reconciles = || counter(&metrics, "appauth_reconciles_total", "GatewayApp");
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

/// An object restored from a backup or from Git (the app-id annotation, no status, no
/// finalizer) finds its app and gets the cleanup finalizer: deleting it deletes the app instead
/// of leaving it behind. A restore binds an existing app, so adoption must be permitted.
#[tokio::test]
async fn a_restored_gateway_app_deletes_its_app_when_deleted() {
    let (ns, sim) = setup("restore-finalizer").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--allow-adoption", "true"]);
    ns.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "deletionPolicy": "Retain"}),
    )
    .await;
    let id = ns.ready_id("app", T).await;
    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    assert!(sim.app(&id).is_some(), "Retain kept the app");

    ns.create_annotated(
        "app",
        json!({"appauth.hwcloud.dev/app-id": id}),
        json!({"apig": {"instanceId": "gw1"}}),
    )
    .await;
    let app = ns.wait_ready("app", T).await;
    assert_eq!(app.status.unwrap().app_id.as_deref(), Some(id.as_str()));
    assert!(
        app.metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == "appauth.hwcloud.dev/cleanup"),
        "no cleanup finalizer on the restored object"
    );
    assert_eq!(sim.apps("apig").len(), 1, "found its app, made none");
    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    assert!(
        sim.app(&id).is_none(),
        "the restored object left its app behind"
    );
}

/// Deleting an object whose create is still in flight (sent by a process that has stopped)
/// waits until the pending marker is older than such a create can be, then looks again: the app
/// that lands late is deleted too, not left behind.
#[tokio::test]
async fn deletion_waits_for_a_create_still_in_flight() {
    let (ns, sim) = setup("delete-inflight").await;
    sim.handle
        .add_fault(
            hwcloud_sim::FaultSpec::new("apig", "create")
                .latency_ms(2500)
                .times(1),
        )
        .expect("fault");
    let first = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    wait::until(T, "the create sent", || async {
        (sim.handle.count("apig.create") >= 1).then_some(())
    })
    .await;
    first.signal("STOP");
    ns.delete("app").await;
    let _second = Operator::start(&ns.name, &sim.url(), &[]);
    ns.wait_gone("app", T).await;
    wait::until(T, "the slow create landed", || async {
        (!sim.apps("apig").is_empty() || sim.handle.count("apig.delete") >= 1).then_some(())
    })
    .await;
    drop(first);
    assert!(
        sim.apps("apig").is_empty(),
        "the app of a create in flight was left behind: {:?}",
        sim.apps("apig")
    );
}

/// The account Secret's in-use finalizer goes when the object that used it lets go: a paused
/// object deleted (detached), or an accountRef moved to another Secret. Otherwise deleting the
/// namespace would hang on it.
#[tokio::test]
async fn the_account_secret_is_released_by_a_detach_and_by_a_ref_change() {
    let (ns, sim) = setup("account-release").await;
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    for name in ["acct1", "acct2", "acct3"] {
        account_secret(&ns, name).await;
    }
    ns.create(
        "moved",
        json!({"apig": {"instanceId": "gw1"}, "accountRef": {"name": "acct1"}}),
    )
    .await;
    ns.create(
        "paused",
        json!({"apig": {"instanceId": "gw1"}, "accountRef": {"name": "acct3"}}),
    )
    .await;
    ns.wait_ready("moved", T).await;
    ns.wait_ready("paused", T).await;
    assert!(in_use(&ns, "acct1").await && in_use(&ns, "acct3").await);

    ns.patch("moved", json!({"spec": {"accountRef": {"name": "acct2"}}}))
        .await;
    ns.wait_ready("moved", T).await;
    wait::until(T, "acct2 in use, acct1 released", || async {
        (in_use(&ns, "acct2").await && !in_use(&ns, "acct1").await).then_some(())
    })
    .await;

    ns.patch(
        "paused",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/paused": "true"}}}),
    )
    .await;
    wait::until(T, "Synced=False Paused", || async {
        let app = ns.get("paused").await?;
        (condition(&app, "Synced")?.1 == "Paused").then_some(())
    })
    .await;
    ns.delete("paused").await;
    ns.wait_gone("paused", T).await;
    wait::until(T, "acct3 released by the detach", || async {
        (!in_use(&ns, "acct3").await).then_some(())
    })
    .await;
    assert_eq!(
        sim.apps("apig").len(),
        2,
        "the detached app was left in the cloud"
    );
}

/// A spec change reaches the cloud in the reconcile it triggers: when status says Ready at the
/// new generation, the description (and ROMA's favorite flag) are already in the cloud, not
/// only after the next drift read.
#[tokio::test]
async fn a_spec_change_is_in_the_cloud_when_status_says_so() {
    let (ns, sim) = setup("spec-push").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "10m"]);
    ns.create(
        "gw",
        json!({"apig": {"instanceId": "gw1"}, "description": "first"}),
    )
    .await;
    ns.create("roma", json!({"roma": {"instanceId": "r1"}}))
        .await;
    let gw = ns.ready_id("gw", T).await;
    let roma = ns.ready_id("roma", T).await;
    let favorite = || async {
        common::cloud::client(&sim.url())
            .roma("r1")
            .show(&roma)
            .await
            .expect("show")
            .favorite
            .unwrap_or(false)
    };
    assert!(!favorite().await);

    ns.patch("gw", json!({"spec": {"description": "second"}}))
        .await;
    ns.patch(
        "roma",
        json!({"spec": {"roma": {"instanceId": "r1", "favorite": true}}}),
    )
    .await;
    ns.wait_ready("gw", T).await;
    ns.wait_ready("roma", T).await;
    let remark = sim.app(&gw).unwrap()["remark"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        remark.starts_with("second"),
        "Ready at the new generation, the cloud still says {remark:?}"
    );
    assert!(favorite().await, "favorite not pushed");
}

/// A credential source Secret (FromSecret), labelled so that its changes are seen at once.
async fn source_secret(ns: &Ns, name: &str, key: &str, secret: &str) {
    let s: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"appauth.hwcloud.dev/credentials-source": "true"}},
        "stringData": {"app_key": key, "app_secret": secret},
    }))
    .expect("Secret");
    ns.secrets()
        .create(&kube::api::PostParams::default(), &s)
        .await
        .expect("source Secret");
}

/// FromSecret with an app key another app already holds ends in a terminal condition naming
/// the collision after one create (not a create every 200 ms forever, nor one at each event
/// that wakes the object), and recovers once the source names a free key.
#[tokio::test]
async fn a_from_secret_key_held_by_another_app_is_a_terminal_key_conflict() {
    let (ns, sim) = setup("key-conflict").await;
    let addr = free_metrics_addr();
    // A resync period longer than the test: every reconcile here is one an event woke.
    let op = Operator::start(
        &ns.name,
        &sim.url(),
        &["--metrics-addr", &addr, "--resync-period", "1h"],
    );
    source_secret(&ns, "src1", "shared-key-0001", "first-secret-value-0001").await;
    source_secret(&ns, "src2", "shared-key-0001", "second-secret-value-0002").await;
    ns.create("first", from_secret("src1")).await;
    ns.wait_ready("first", T).await;
    let before = sim.handle.count("apig.create");
    ns.create("second", from_secret("src2")).await;
    let app = ns.wait_reason("second", "KeyConflict", T).await;
    assert_eq!(
        condition(&app, "Stalled").map(|c| c.0).as_deref(),
        Some("True")
    );
    let message = app.status.as_ref().unwrap().conditions[0].message.clone();
    assert!(message.contains("app key"), "{message}");
    assert!(events_once(&ns, "KeyConflict").await >= 1, "Warning Event");
    let creates = || sim.handle.count("apig.create") - before;
    assert_eq!(creates(), 1, "creates for one refused key");

    // An event that changes neither the spec nor the source wakes the object: the reconcile
    // sees the touched object and ends in the same refusal (counted), without asking the cloud.
    let counted = Operator::metrics_until(&addr, T, "the refusal counted", key_conflicts).await;
    let touched = ns
        .apps()
        .patch(
            "second",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"example.com/touched": "yes"}}})),
        )
        .await
        .expect("touch second");
    let version = format!(
        "version={}",
        touched.metadata.resource_version.unwrap_or_default()
    );
    wait::until(T, "a reconcile of the touched object", || async {
        op.logs()
            .lines()
            .any(|l| l.contains("refusal of the app key stands") && l.contains(&version))
            .then_some(())
    })
    .await;
    Operator::metrics_until(&addr, T, "the woken reconcile counted", |page| {
        key_conflicts(page).filter(|n| *n > counted)
    })
    .await;
    assert_eq!(
        creates(),
        1,
        "creates after a reconcile nothing changed for"
    );

    use base64::Engine;
    let free = base64::engine::general_purpose::STANDARD.encode("free-key-0002");
    ns.secrets()
        .patch(
            "src2",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"app_key": free}})),
        )
        .await
        .expect("choose another key");
    ns.wait_ready("second", T).await;
    let (key, _) = creds(&ns, "second").await;
    assert_eq!(key, "free-key-0002");
    assert_eq!(sim.apps("apig").len(), 2);
}

/// A refused key is asked about again by the resync, about a period after the refusal (less one
/// tick of the sweep, 50 ms here): once the app holding the key is deleted, the refused object gets its app without
/// any change of its own.
#[tokio::test]
async fn a_refused_key_is_asked_again_by_the_resync_once_a_period_at_most() {
    let (ns, sim) = setup("key-resync").await;
    let period = Duration::from_secs(3);
    let op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "3s"]);
    source_secret(&ns, "src1", "shared-key-0003", "first-secret-value-0003").await;
    source_secret(&ns, "src2", "shared-key-0003", "second-secret-value-0004").await;
    ns.create("first", from_secret("src1")).await;
    ns.wait_ready("first", T).await;
    ns.create("second", from_secret("src2")).await;
    ns.wait_reason("second", "KeyConflict", T).await;
    // Asked again after a period or two: still refused while the first app holds the key.
    wait::until(T, "a second refused create", || async {
        (refused_creates(&op.logs()).len() >= 2).then_some(())
    })
    .await;
    ns.delete("first").await;
    ns.wait_gone("first", T).await;
    ns.wait_ready("second", T).await;
    let (key, _) = creds(&ns, "second").await;
    assert_eq!(key, "shared-key-0003");

    let logs = op.logs();
    let mut asked = refused_creates(&logs);
    let created = line_times(&logs, |l| {
        l.contains("cloud mutation action=\"create\"") && l.contains("name=\"second\"")
    });
    assert_eq!(created.len(), 1, "one app for second");
    asked.extend(created);
    // Each ask comes a period after the refusal before it (less the moments between the
    // cloud's answer and the log line).
    for pair in asked.windows(2) {
        let gap = (pair[1] - pair[0]).to_std().unwrap_or_default();
        assert!(
            gap + Duration::from_millis(250) >= period,
            "asked again {gap:?} after a refusal: {asked:?}"
        );
    }
}

fn from_secret(source: &str) -> serde_json::Value {
    json!({"apig": {"instanceId": "gw1"}, "credentials": "FromSecret", "credentialsFrom": {"name": source}})
}

/// The reconciles that ended in KeyConflict, from a metrics page.
fn key_conflicts(page: &str) -> Option<u64> {
    let series = "appauth_reconcile_errors_total{kind=\"GatewayApp\",reason=\"KeyConflict\"} ";
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .filter(|n| *n >= 1.0)
        .map(|n| n as u64)
}

/// When the creates the cloud refused for their key were answered, from the operator's log.
fn refused_creates(logs: &str) -> Vec<chrono::DateTime<chrono::Utc>> {
    line_times(logs, |l| {
        l.contains("reconcile failed") && l.contains("KeyTaken")
    })
}

/// The timestamps of the log lines `pick` takes.
fn line_times(logs: &str, pick: impl Fn(&str) -> bool) -> Vec<chrono::DateTime<chrono::Utc>> {
    logs.lines()
        .filter(|l| pick(l))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// Generated credentials staged before a create are cleared when the create fails terminally
/// (here: the cloud refuses the account), not only when it rejects the input.
#[tokio::test]
async fn generated_credentials_are_cleared_on_a_terminal_create_failure() {
    let (ns, sim) = setup("generated-cleared").await;
    sim.handle
        .add_fault(
            hwcloud_sim::FaultSpec::new("apig", "create")
                .status(403)
                .error_code("APIG.1005"),
        )
        .expect("fault");
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "credentials": "Generated"}),
    )
    .await;
    ns.wait_reason("app", "Unauthorized", T).await;
    wait::until(T, "staged credentials cleared", || async {
        ns.secret("app").await.is_none().then_some(())
    })
    .await;
    assert!(sim.apps("apig").is_empty());
}

/// Waits are visible: an object whose create may still be in flight (a young pending marker of
/// another process) says `Reconciling=True`, reason Creating, and one being deleted during a
/// cloud outage says reason Deleting; once a wait has lasted a minute a Warning Event says so.
/// Both then finish.
#[tokio::test]
async fn waits_are_reported_while_they_last_and_long_ones_get_an_event() {
    let (ns, sim) = setup("waits").await;
    // The marker grace is the request timeout plus the lease duration: 67 s here.
    let _op = Operator::start(&ns.name, &sim.url(), &["--request-timeout", "65s"]);
    ns.create("deleted", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    let gone = ns.ready_id("deleted", T).await;
    sim.handle
        .add_fault(hwcloud_sim::FaultSpec::new("apig", "delete").status(503))
        .expect("fault");
    ns.delete("deleted").await;

    let marker = json!({"name": "waiting_app", "time": chrono::Utc::now().to_rfc3339(),
        "instance": "appauth-operator/a-process-that-is-gone"});
    ns.create_annotated(
        "waiting",
        json!({"appauth.hwcloud.dev/pending": marker.to_string()}),
        json!({"apig": {"instanceId": "gw1"}, "appName": "waiting_app"}),
    )
    .await;

    for (name, reason) in [("waiting", "Creating"), ("deleted", "Deleting")] {
        wait::until(T, &format!("{name}: Reconciling=True {reason}"), || async {
            let app = ns.get(name).await?;
            (condition(&app, "Reconciling")? == ("True".into(), reason.into())).then_some(())
        })
        .await;
    }
    let app = ns.get("waiting").await.expect("waiting");
    assert_eq!(
        condition(&app, "Ready"),
        Some(("False".into(), "Creating".into()))
    );
    assert!(sim.apps("apig").iter().all(|a| a["name"] != "waiting_app"));
    for reason in ["Creating", "Deleting"] {
        wait::until(
            Duration::from_secs(90),
            &format!("a Warning Event {reason} after a minute"),
            || async { (!events(&ns, reason).await.is_empty()).then_some(()) },
        )
        .await;
    }

    sim.handle.clear_faults();
    // The deletion retries with backoff, at least once a minute.
    ns.wait_gone("deleted", Duration::from_secs(75)).await;
    assert!(sim.app(&gone).is_none());
    ns.wait_ready("waiting", T).await;
    assert_eq!(sim.apps("apig").len(), 1);
}

/// The sum of a counter's samples on the operator's metrics page.
async fn counter(metrics: &str, name: &str, label: &str) -> f64 {
    Operator::metrics(metrics)
        .await
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A copied manifest carrying another object's app id is refused (AlreadyManaged); the owner,
/// whose uid the app's fingerprint names, keeps its app through its own later reconciles.
#[tokio::test]
async fn a_copied_app_id_is_refused_and_the_owner_keeps_its_app() {
    let (ns, sim) = setup("claims-owner").await;
    let metrics = common::operator::free_metrics_addr();
    let _op = Operator::start(
        &ns.name,
        &sim.url(),
        // Adoption on: the copy gets past the tenancy check, and the app's holder refuses it.
        &[
            "--resync-period",
            "2s",
            "--metrics-addr",
            &metrics,
            "--allow-adoption",
            "true",
        ],
    );
    ns.create("owner", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    let id = ns.ready_id("owner", T).await;
    ns.create_annotated(
        "copy",
        json!({"appauth.hwcloud.dev/app-id": id}),
        json!({"apig": {"instanceId": "gw1"}}),
    )
    .await;
    ns.wait_reason("copy", "AlreadyManaged", T).await;
    // Both objects keep reconciling every 2 s; several passes later the owner is still Ready.
    let reconciles = || counter(&metrics, "appauth_reconciles_total", "GatewayApp");
    let seen = reconciles().await;
    wait::until(T, "six more reconciles", || async {
        (reconciles().await >= seen + 6.0).then_some(())
    })
    .await;
    let owner = ns.get("owner").await.expect("owner");
    assert_eq!(
        Ns::ready(&owner),
        Some(("True".into(), "Available".into())),
        "the rightful owner was refused its own app"
    );
    let copy = ns.get("copy").await.expect("copy");
    assert_eq!(
        Ns::ready(&copy).map(|r| r.1).as_deref(),
        Some("AlreadyManaged")
    );
    assert_eq!(sim.apps("apig").len(), 1);
    // Deleting the refused copy leaves the owner's app alone.
    ns.delete("copy").await;
    ns.wait_gone("copy", T).await;
    assert!(
        sim.app(&id).is_some(),
        "deleting the copy deleted the owner's app"
    );
    ns.wait_ready("owner", T).await;
}

/// A rotation is recorded once (without the optional app-id mirror, the default): the `rotating`
/// mark set in the reconcile that rotates is cleared by it, so later reconciles do not record it
/// again.
#[tokio::test]
async fn a_rotation_is_recorded_once_without_the_app_id_mirror() {
    let (ns, sim) = setup("rotate-no-mirror").await;
    let metrics = common::operator::free_metrics_addr();
    let _op = Operator::start(
        &ns.name,
        &sim.url(),
        &[
            "--app-id-annotation=false",
            "--resync-period",
            "2s",
            "--metrics-addr",
            &metrics,
        ],
    );
    let (id, key, old) = ready_app(&ns, json!({"apig": {"instanceId": "gw1"}})).await;
    ask_rotation(&ns, "r1").await;
    rotated(&ns, &sim, &id, &key, &old, "r1").await;
    let first = ns
        .get("app")
        .await
        .unwrap()
        .status
        .unwrap()
        .rotation
        .unwrap();
    let reconciles = || counter(&metrics, "appauth_reconciles_total", "GatewayApp");
    let seen = reconciles().await;
    wait::until(T, "three more reconciles", || async {
        (reconciles().await >= seen + 3.0).then_some(())
    })
    .await;
    let app = ns.get("app").await.unwrap();
    assert_eq!(
        app.status.unwrap().rotation.unwrap(),
        first,
        "recorded again"
    );
    assert!(
        !app.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("appauth.hwcloud.dev/rotating")
    );
    assert_eq!(events(&ns, "Rotated").await.len(), 1);
    assert_eq!(sim.handle.count("apig.reset_secret"), 1);
}

/// Where the cloud accepts a second app with a taken name (ModelArts, DataArts), a GatewayApp
/// naming a taken name stops at NameConflict instead of duplicating it, and with annotation
/// adopt: "true" it adopts the named app instead of creating one.
#[tokio::test]
async fn a_taken_name_is_a_conflict_or_adopted_where_names_are_not_unique() {
    let (ns, sim) = setup("non-unique").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--allow-adoption=true"]);
    let cloud = common::cloud::client(&sim.url());
    let existing_ma = cloud
        .modelarts("0")
        .create_app("taken_ma", Some("made in the console"))
        .await
        .expect("ModelArts app");
    let existing_da = cloud
        .dataarts("w1", "SHARED")
        .create("taken_da", Some("made in the console"))
        .await
        .expect("DataArts app");
    ns.create("ma", json!({"modelarts": {}, "appName": "taken_ma"}))
        .await;
    ns.create(
        "da",
        json!({"dataarts": {"workspaceId": "w1"}, "appName": "taken_da"}),
    )
    .await;
    ns.wait_reason("ma", "NameConflict", T).await;
    ns.wait_reason("da", "NameConflict", T).await;
    assert_eq!(
        sim.apps("modelarts").len(),
        1,
        "a taken name was duplicated"
    );
    assert_eq!(sim.apps("dataarts").len(), 1, "a taken name was duplicated");

    for name in ["ma", "da"] {
        ns.patch(
            name,
            json!({"metadata": {"annotations": {"appauth.hwcloud.dev/adopt": "true"}}}),
        )
        .await;
    }
    let ma = ns.wait_ready("ma", T).await;
    let da = ns.wait_ready("da", T).await;
    assert_eq!(ma.status.unwrap().app_id, Some(existing_ma.app_id));
    assert_eq!(da.status.unwrap().app_id, Some(existing_da.id));
    assert_eq!(sim.apps("modelarts").len(), 1);
    assert_eq!(sim.apps("dataarts").len(), 1);
}

/// A not-found code the reference does not confirm (ModelArts.6404, ROMA.00100404) is checked
/// with a second, different read before the app is taken for gone: an app that read still
/// finds is not recreated (no new credentials, no twin); one that is really gone is.
#[tokio::test]
async fn an_unconfirmed_not_found_is_checked_before_recreating() {
    let (ns, sim) = setup("unconfirmed-gone").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "2s"]);
    ns.create("ma", json!({"modelarts": {}})).await;
    ns.create("roma", json!({"roma": {"instanceId": "r1"}}))
        .await;
    let ma = ns.ready_id("ma", T).await;
    let roma = ns.ready_id("roma", T).await;
    for (service, code) in [("modelarts", "ModelArts.6404"), ("roma", "ROMA.00100404")] {
        sim.handle
            .add_fault(
                hwcloud_sim::FaultSpec::new(service, "show")
                    .status(404)
                    .error_code(code),
            )
            .expect("fault");
    }
    // Several drift reads answered "not found" while both apps exist. Drift is read from the
    // listings while an app is as delivered; a spec change reads the app itself (by id).
    let seen = sim.handle.count("modelarts.show") + sim.handle.count("roma.show");
    for name in ["ma", "roma"] {
        ns.patch(name, json!({"spec": {"description": "read me by id"}}))
            .await;
    }
    wait::until(T, "four drift reads answered not found", || async {
        let now = sim.handle.count("modelarts.show") + sim.handle.count("roma.show");
        (now >= seen + 4).then_some(())
    })
    .await;
    assert_eq!(
        sim.apps("modelarts").len(),
        1,
        "recreated on an unconfirmed code"
    );
    assert_eq!(
        sim.apps("roma").len(),
        1,
        "recreated on an unconfirmed code"
    );
    for (name, id) in [("ma", &ma), ("roma", &roma)] {
        let app = ns.get(name).await.expect("object");
        assert_eq!(app.status.unwrap().app_id.as_ref(), Some(id), "{name}");
    }
    assert!(events(&ns, "Recreating").await.is_empty());

    // Really gone (the faults still answer not found): the second read agrees, and it is made again.
    common::cloud::client(&sim.url())
        .roma("r1")
        .delete(&roma)
        .await
        .expect("delete behind the operator's back");
    wait::until(T, "the ROMA app recreated", || async {
        let app = ns.get("roma").await?;
        let id = app.status?.app_id?;
        (id != roma).then_some(())
    })
    .await;
    assert_eq!(sim.apps("roma").len(), 1);
}

/// A Secret retained by an earlier object (deletionPolicy: Retain) is taken over by a new object
/// that adopts the same app by name, before that object knows the app's id; it is never given
/// to an object that would create another app.
#[tokio::test]
async fn a_retained_secret_is_taken_over_by_an_object_adopting_its_app() {
    let (ns, sim) = setup("retained-secret").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--allow-adoption=true"]);
    ns.create(
        "old",
        json!({"apig": {"instanceId": "gw1"}, "appName": "kept_app", "deletionPolicy": "Retain", "secret": {"name": "kept"}}),
    )
    .await;
    let id = ns.ready_id("old", T).await;
    let (key, secret) = creds(&ns, "kept").await;
    ns.delete("old").await;
    ns.wait_gone("old", T).await;
    assert!(ns.secret("kept").await.is_some(), "Retain kept the Secret");

    // Another object that would create a new app is refused the retained Secret.
    ns.create(
        "stranger",
        json!({"apig": {"instanceId": "gw1"}, "appName": "other_app", "secret": {"name": "kept"}}),
    )
    .await;
    ns.wait_reason("stranger", "SecretConflict", T).await;
    ns.delete("stranger").await;

    ns.create_annotated(
        "new",
        json!({"appauth.hwcloud.dev/adopt": "true"}),
        json!({"apig": {"instanceId": "gw1"}, "appName": "kept_app", "secret": {"name": "kept"}}),
    )
    .await;
    let app = ns.wait_ready("new", T).await;
    assert_eq!(app.status.unwrap().app_id.as_deref(), Some(id.as_str()));
    assert_eq!(creds(&ns, "kept").await, (key, secret));
    let owner = ns
        .secret("kept")
        .await
        .unwrap()
        .metadata
        .annotations
        .unwrap()["appauth.hwcloud.dev/owner-uid"]
        .clone();
    assert_eq!(Some(owner), app.metadata.uid);
    assert_eq!(sim.apps("apig").len(), 1);
}

/// An object carrying the id of an app it did not make (made in the console, by Terraform or by
/// another cluster) in annotation app-id is not bound to it while adoption is off: refused
/// before any cloud call, no secret delivered, the app's description untouched, and deleting
/// the object (deletionPolicy Delete, with the cleanup finalizer added by hand as a tenant
/// could) leaves the app. Before, the annotation bound it with no check at all.
#[tokio::test]
async fn an_app_id_annotation_binds_nothing_while_adoption_is_off() {
    let (ns, sim) = setup("app-id-door").await;
    let console =
        common::cloud::console_app(&sim.url(), "console_app", "made in the console").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--allow-adoption", "false"]);
    sim.handle.reset_counts();
    let obj: GatewayApp = serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
        "metadata": {"name": "app", "annotations": {"appauth.hwcloud.dev/app-id": console.id},
                     "finalizers": ["appauth.hwcloud.dev/cleanup"]},
        "spec": {"apig": {"instanceId": "gw1"}, "deletionPolicy": "Delete"},
    }))
    .expect("GatewayApp");
    ns.apps()
        .create(&Default::default(), &obj)
        .await
        .expect("create");
    let app = ns.wait_reason("app", "NotPermitted", T).await;
    assert_ne!(
        Ns::ready(&app).map(|r| r.0).as_deref(),
        Some("True"),
        "bound to an app it did not make"
    );
    assert!(
        ns.secret("app").await.is_none(),
        "the app's secret was delivered"
    );
    assert_eq!(
        sim.handle.counts().values().sum::<u64>(),
        0,
        "{:?}",
        sim.handle.counts()
    );
    assert_eq!(
        sim.app(&console.id).expect("app")["remark"],
        "made in the console"
    );
    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    assert!(
        sim.app(&console.id).is_some(),
        "deleting the object deleted the app"
    );
}
