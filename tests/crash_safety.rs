//! Crash safety (SPEC §3.4): one cloud app per GatewayApp, whatever fails when. The operator
//! process is killed for real: at deterministic failpoints (cargo feature `failpoints`) and by
//! kill -9 at seeded random moments during a burst, with the simulator dropping connections
//! after committing creates, and with duplicate names allowed.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use appauth_operator::api::GatewayApp;
use base64::Engine;
use common::objects::Ns;
use common::operator::Operator;
use common::sim::{Sim, credentials_work};
use common::{cluster, wait};
use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

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

fn spec(i: usize) -> Value {
    match i % 4 {
        0 => json!({"apig": {"instanceId": "gw1"}, "description": format!("app {i}")}),
        1 => json!({"modelarts": {}}),
        2 => json!({"dataarts": {"workspaceId": "w1"}}),
        _ => json!({"roma": {"instanceId": "r1"}}),
    }
}

/// Every object Ready with a Secret whose credentials work, and exactly one cloud app per
/// object (matched by the fingerprint of its uid), and no app without an object.
async fn assert_converged(ns: &Ns, sim: &Sim, names: &[String], timeout: Duration) {
    for name in names {
        ns.wait_ready(name, timeout).await;
    }
    let apps: Vec<GatewayApp> = ns
        .apps()
        .list(&ListParams::default())
        .await
        .expect("list")
        .items;
    let mut by_fingerprint: HashMap<String, Vec<Value>> = HashMap::new();
    for app in sim.all_apps() {
        let remark = app["remark"].as_str().unwrap_or_default().to_string();
        let fp = remark
            .rsplit_once(" [appauth:")
            .map(|(_, f)| f.trim_end_matches(']').to_string())
            .unwrap_or_default();
        by_fingerprint.entry(fp).or_default().push(app);
    }
    let mut problems = Vec::new();
    for app in &apps {
        let uid8: String = app.uid().unwrap_or_default().chars().take(8).collect();
        let cloud = by_fingerprint.remove(&uid8).unwrap_or_default();
        if cloud.len() != 1 {
            problems.push(format!("{}: {} cloud apps", app.name_any(), cloud.len()));
            continue;
        }
        let st = app.status.clone().unwrap_or_default();
        if st.app_id.as_deref() != cloud[0]["id"].as_str() {
            problems.push(format!(
                "{}: status.appId {:?} is not the cloud app {}",
                app.name_any(),
                st.app_id,
                cloud[0]["id"]
            ));
        }
        let secret = ns
            .secret(st.secret_name.as_deref().unwrap_or_default())
            .await;
        let creds = secret
            .as_ref()
            .and_then(|s| Some((Ns::value(s, "app_key")?, Ns::value(s, "app_secret")?)));
        match creds {
            Some((k, s)) if credentials_work(&sim.url(), &k, &s).await => {}
            _ => problems.push(format!(
                "{}: Secret credentials do not work",
                app.name_any()
            )),
        }
    }
    for (fp, orphans) in by_fingerprint {
        problems.push(format!(
            "{} cloud apps with fingerprint {fp:?} belong to no object",
            orphans.len()
        ));
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(apps.len(), names.len());
}

/// One deterministic crash point: the process exits there, a new one converges.
async fn crash_at(point: &str, test: &str) {
    require_failpoints();
    let (ns, sim) = setup(test).await;
    let mut op =
        Operator::start_with_env(&ns.name, &sim.url(), &[], &[("APPAUTH_FAILPOINT", point)]);
    let names: Vec<String> = (0..4).map(|i| format!("app-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        ns.create(name, spec(i)).await;
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

/// A small deterministic PRNG, so the kill schedule is printed and reproducible.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

async fn burst_with_kills(test: &str, objects: usize, kills: usize, seed: u64, duplicates: bool) {
    let (ns, sim) = setup(test).await;
    sim.handle
        .set_config(json!({"modelarts_quota": 100_000}))
        .expect("raise the ModelArts quota");
    if duplicates {
        let unique = json!({"unique_names": {"apig": false, "roma": false, "dataarts": false, "modelarts": false}});
        sim.handle
            .set_config(unique)
            .expect("allow duplicate names");
    }
    sim.handle
        .add_fault(
            hwcloud_sim::FaultSpec::new("*", "create")
                .drop_after_commit()
                .probability(0.1),
        )
        .expect("commit-then-drop on 10% of creates");
    let mut rng = Lcg(seed);
    let schedule: Vec<u64> = (0..kills).map(|_| 300 + rng.next() % 1700).collect();
    println!("seed {seed}: kill -9 after {schedule:?} ms of running");
    let mut op = Operator::start(&ns.name, &sim.url(), &["--concurrency", "32"]);
    let names: Vec<String> = (0..objects).map(|i| format!("app-{i}")).collect();
    let creator = {
        let ns = Ns {
            client: ns.client.clone(),
            name: ns.name.clone(),
        };
        let names = names.clone();
        tokio::spawn(async move {
            for (i, name) in names.iter().enumerate() {
                ns.create(name, spec(i)).await;
            }
        })
    };
    for wait_ms in &schedule {
        tokio::time::sleep(Duration::from_millis(*wait_ms)).await;
        op.restart(true);
    }
    creator.await.expect("all objects created");
    let dropped: u64 = sim.handle.faults().iter().map(|f| f.hits).sum();
    sim.handle.clear_faults();
    assert_converged(&ns, &sim, &names, Duration::from_secs(120)).await;
    let creates: u64 = ["apig", "modelarts", "dataarts", "roma"]
        .iter()
        .map(|s| sim.handle.count(&format!("{s}.create")))
        .sum();
    println!(
        "{objects} objects, {kills} kills, {dropped} creates committed then dropped, {creates} create calls, 0 duplicates"
    );
    hygiene(&ns, &sim, &op.logs()).await;
    op.kill();
}

#[tokio::test]
async fn kill_9_at_random_moments_during_a_burst() {
    burst_with_kills("kill9", 200, 6, 0x5eed_0001, false).await;
}

#[tokio::test]
async fn kill_9_during_a_burst_with_duplicate_names_allowed() {
    burst_with_kills("kill9-dup", 100, 5, 0x5eed_0002, true).await;
}

/// No secret the simulator issued appears in the operator's logs, Events or statuses, raw or
/// encoded.
async fn hygiene(ns: &Ns, sim: &Sim, logs: &str) {
    let mut secrets: Vec<String> = Vec::new();
    for app in sim.all_apps() {
        if let Some(s) = app["secret"].as_str() {
            secrets.push(s.to_string());
        }
        for c in app["app_codes"].as_array().cloned().unwrap_or_default() {
            if let Some(c) = c.as_str().or_else(|| c["app_code"].as_str()) {
                secrets.push(c.to_string());
            }
        }
    }
    assert!(!secrets.is_empty());
    let events: Api<Event> = Api::namespaced(ns.client.clone(), &ns.name);
    let events = serde_json::to_string(
        &events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items,
    )
    .expect("json");
    let statuses = serde_json::to_string(
        &ns.apps()
            .list(&ListParams::default())
            .await
            .expect("apps")
            .items
            .iter()
            .map(|a| a.status.clone())
            .collect::<Vec<_>>(),
    )
    .expect("json");
    let haystacks = [
        ("operator logs", logs),
        ("events", events.as_str()),
        ("statuses", statuses.as_str()),
    ];
    let mut hits = Vec::new();
    for secret in &secrets {
        let forms = [
            secret.clone(),
            base64::engine::general_purpose::STANDARD.encode(secret),
            serde_json::to_string(secret)
                .expect("json")
                .trim_matches('"')
                .to_string(),
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        ];
        for (what, hay) in haystacks {
            for form in &forms {
                if form.len() >= 8 && hay.contains(form.as_str()) {
                    hits.push(format!("a secret ({} chars) found in {what}", secret.len()));
                }
            }
        }
    }
    assert!(hits.is_empty(), "{} secret hits: {hits:?}", hits.len());
    println!(
        "hygiene: {} secrets scanned in {} bytes of logs: 0 hits",
        secrets.len(),
        logs.len()
    );
}

/// Cloud faults (issue 7): 20% of calls fail with 500, some answers are slower than the request
/// timeout, 10% of creates are throttled with Retry-After and 10% are committed then dropped,
/// while the operator is killed three times. Same assertions, plus a bound on cloud calls (no
/// retry storm), and nothing left in the cloud after deleting everything.
#[tokio::test]
async fn cloud_faults_during_a_burst_with_kills() {
    let (ns, sim) = setup("faults").await;
    sim.handle
        .set_config(json!({"modelarts_quota": 100_000}))
        .expect("raise the ModelArts quota");
    let faults = [
        hwcloud_sim::FaultSpec::new("*", "create")
            .status(429)
            .retry_after(1)
            .probability(0.1),
        hwcloud_sim::FaultSpec::new("*", "create")
            .drop_after_commit()
            .probability(0.1),
        hwcloud_sim::FaultSpec::new("*", "*")
            .latency_ms(4000)
            .probability(0.03),
        hwcloud_sim::FaultSpec::new("*", "*")
            .status(500)
            .probability(0.2),
    ];
    for f in faults {
        sim.handle.add_fault(f).expect("fault");
    }
    const N: usize = 80;
    let mut op = Operator::start(&ns.name, &sim.url(), &["--concurrency", "32"]);
    let names: Vec<String> = (0..N).map(|i| format!("app-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        ns.create(name, spec(i)).await;
        if i % 27 == 26 {
            op.restart(true);
        }
    }
    let ready_deadline = std::time::Instant::now() + Duration::from_secs(150);
    for name in &names {
        let left = ready_deadline.saturating_duration_since(std::time::Instant::now());
        ns.wait_ready(name, left.max(Duration::from_secs(1))).await;
    }
    let injected: u64 = sim.handle.faults().iter().map(|f| f.hits).sum();
    let calls: u64 = sim
        .handle
        .counts()
        .iter()
        .filter(|(k, _)| !k.starts_with("iam."))
        .map(|(_, v)| *v)
        .sum();
    sim.handle.clear_faults();
    assert_converged(&ns, &sim, &names, Duration::from_secs(60)).await;
    println!(
        "{N} objects, 3 kills, {injected} faults injected, {calls} cloud calls ({:.1} per object)",
        calls as f64 / N as f64
    );
    assert!(
        calls <= 15 * N as u64,
        "no retry storm: {calls} cloud calls for {N} objects"
    );
    hygiene(&ns, &sim, &op.logs()).await;

    for name in &names {
        ns.delete(name).await;
    }
    for name in &names {
        ns.wait_gone(name, Duration::from_secs(60)).await;
    }
    assert!(
        sim.all_apps().is_empty(),
        "no cloud app left after deleting everything"
    );
}
