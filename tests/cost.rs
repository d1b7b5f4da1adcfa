//! What a new GatewayApp costs, counted from outside the operator: apiserver requests from the
//! apiserver's own `apiserver_request_total`, cloud calls from the simulator's counts; and what
//! a resync with nothing changed costs: no apiserver request, and cloud calls that do not grow
//! with the object count (one listing per instance, shared by its objects). One test in its
//! own binary, so no other test's requests fall into the apiserver's global counters.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::cluster;
use common::objects::{Ns, account_secret};
use common::operator::Operator;
use common::sim::Sim;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::PostParams;
use serde_json::json;

/// Requests by "resource[/subresource]", "… VERB" and "… VERB code", from /metrics. Deletes
/// and lists are left out: the namespace controller may be cleaning up earlier tests'
/// namespaces meanwhile, and it lists and deletes every kind.
async fn requests(client: &Client) -> BTreeMap<String, f64> {
    let req = http::Request::get("/metrics")
        .body(Vec::new())
        .expect("request");
    let text = client.request_text(req).await.expect("apiserver /metrics");
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |name: &str| {
            let key = format!("{name}=\"");
            line.find(&key)
                .map(|i| &line[i + key.len()..])
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        let verb = label("verb");
        // Server-side apply is counted under its own verb, APPLY.
        if !["GET", "POST", "PUT", "PATCH", "APPLY"].contains(&verb.as_str()) {
            continue;
        }
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let sub = label("subresource");
        let key = if sub.is_empty() {
            label("resource")
        } else {
            format!("{}/{sub}", label("resource"))
        };
        *out.entry(key.clone()).or_default() += value;
        *out.entry(format!("{key} {verb}")).or_default() += value;
        *out.entry(format!("{key} {verb} {}", label("code")))
            .or_default() += value;
    }
    out
}

fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, key: &str) -> f64 {
    after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0)
}

fn print_changes(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) {
    for (k, v) in after {
        let d = v - before.get(k).copied().unwrap_or(0.0);
        if d > 0.0 && k.matches(' ').count() == 2 {
            println!("  {k}: {d}");
        }
    }
}

/// What N new APIG apps cost, per app.
struct NewAppCost {
    writes: f64,
    secret_gets: f64,
    events: f64,
    cloud: f64,
}

/// N new APIG apps in a fresh namespace, with the operator run with `extra`.
async fn new_apps(
    client: &Client,
    test: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Ns, Sim, Operator, NewAppCost) {
    let name = cluster::namespace(client, test).await;
    let ns = Ns {
        client: client.clone(),
        name,
    };
    let sim = Sim::start();
    let mut args = vec!["--resync-period", &*RESYNC];
    args.extend_from_slice(extra);
    let op = Operator::start_with_env(&ns.name, &sim.url(), &args, env);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = requests(client).await;
    for i in 0..N {
        ns.create(&format!("app-{i}"), json!({"apig": {"instanceId": "gw1"}}))
            .await;
    }
    for i in 0..N {
        ns.wait_ready(&format!("app-{i}"), Duration::from_secs(60))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = requests(client).await;
    let per_app = |key: &str| delta(&before, &after, key) / N as f64;
    // The test's own create is the one POST on gatewayapps; its waits are GETs.
    let object = per_app("gatewayapps PATCH") + per_app("gatewayapps APPLY");
    let status = per_app("gatewayapps/status");
    let secrets = per_app("secrets") - per_app("secrets GET");
    let counts = sim.handle.counts();
    let cloud: u64 = counts
        .iter()
        .filter(|(k, _)| k.starts_with("apig."))
        .map(|(_, v)| *v)
        .sum();
    let cost = NewAppCost {
        writes: object + status + secrets,
        secret_gets: per_app("secrets GET"),
        events: per_app("events POST"),
        cloud: cloud as f64 / N as f64,
    };
    println!(
        "{test} {extra:?}: per new app: apiserver writes {:.2} (object {object:.2}, status {status:.2}, Secret {secrets:.2}); Secret GETs {:.2}; Events {:.2}; cloud calls {:.2} {counts:?}",
        cost.writes, cost.secret_gets, cost.events, cost.cloud
    );
    print_changes(&before, &after);
    (ns, sim, op, cost)
}

const N: usize = 100;
const RESYNC_SECS: u64 = 4;
static RESYNC: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!("{RESYNC_SECS}s"));

/// The apiserver requests the operator can make on its own and its users' objects.
const OPERATOR_RESOURCES: [&str; 5] = [
    "gatewayapps",
    "gatewayapps/status",
    "secrets",
    "events",
    "serviceaccounts/token",
];

/// One test, so that no other test's requests fall into the apiserver's global counters.
#[tokio::test]
async fn cost_of_a_new_app_and_of_a_quiet_resync() {
    let client = cluster::client().await;
    // With the app id mirrored into an annotation on request: one write more.
    let (_mirror_ns, _mirror_sim, mirror_op, mirrored) = new_apps(
        &client,
        "cost-mirror",
        &["--app-id-annotation", "true"],
        &[],
    )
    .await;
    drop(mirror_op);
    assert_eq!(
        mirrored.writes, 4.0,
        "4 apiserver writes per new app with the mirror"
    );
    // The default: the marker with the finalizer, the Secret, the status; nothing read.
    // The operator's own Secrets watch lagging behind the objects' (as under load): the
    // reconciles that follow a create must not read the Secret they wrote moments ago.
    let (_lag_ns, _lag_sim, lag_op, lagging) = new_apps(
        &client,
        "cost-lag",
        &[],
        &[("APPAUTH_SECRET_WATCH_LAG_MS", "20")],
    )
    .await;
    drop(lag_op);
    assert_eq!(
        lagging.secret_gets, 0.0,
        "no Secret read for a new app while the Secret watch lags"
    );
    assert_eq!(lagging.writes, 3.0, "3 apiserver writes per new app");
    let (ns, sim, _op, cost) = new_apps(&client, "cost", &[], &[]).await;
    assert_eq!(cost.writes, 3.0, "3 apiserver writes per new app");
    assert_eq!(cost.secret_gets, 0.0, "no Secret read for a new app");
    assert_eq!(cost.events, 1.0, "one Event (Created) per new app");
    assert_eq!(
        cost.cloud, 1.0,
        "one cloud call (the create) per new APIG app"
    );

    // The other services, an account Secret and a credentials source, all labelled (what the
    // docs ask of users' Secrets), for the at-rest count.
    account_secret(&ns, "acct").await;
    let source: Secret = serde_json::from_value(json!({
        "metadata": {"name": "byo", "labels": {"appauth.hwcloud.dev/credentials-source": "true"}},
        "stringData": {"app_key": "byo-roma-key-9", "app_secret": "Byo-secret.0001"},
    }))
    .expect("Secret");
    ns.secrets()
        .create(&PostParams::default(), &source)
        .await
        .expect("source Secret");
    let others = [
        ("ma", json!({"modelarts": {}})),
        ("da", json!({"dataarts": {"workspaceId": "w1"}})),
        ("roma", json!({"roma": {"instanceId": "r1"}})),
        (
            "with-account",
            json!({"apig": {"instanceId": "gw1"}, "accountRef": {"name": "acct"}}),
        ),
        (
            "from-source",
            json!({"roma": {"instanceId": "r1"}, "credentials": "FromSecret", "credentialsFrom": {"name": "byo"}}),
        ),
    ];
    for (name, spec) in &others {
        ns.create(name, spec.clone()).await;
    }
    for (name, _) in &others {
        ns.wait_ready(name, Duration::from_secs(60)).await;
    }
    // Two periods for every object's first drift check after its create to pass.
    tokio::time::sleep(Duration::from_secs(2 * RESYNC_SECS)).await;

    // Three resync periods with nothing changed.
    let periods = 3;
    sim.handle.reset_counts();
    let quiet_before = requests(&client).await;
    tokio::time::sleep(Duration::from_secs(periods * RESYNC_SECS)).await;
    let quiet_after = requests(&client).await;
    let counts = sim.handle.counts();
    println!(
        "quiet: {periods} resync periods of {RESYNC_SECS}s, {} objects: cloud {counts:?}",
        N + others.len()
    );
    print_changes(&quiet_before, &quiet_after);
    for resource in OPERATOR_RESOURCES {
        assert_eq!(
            delta(&quiet_before, &quiet_after, resource),
            0.0,
            "no apiserver request on {resource} when nothing changed"
        );
    }
    let count = |op: &str| counts.get(op).copied().unwrap_or(0);
    for service in ["apig", "modelarts", "dataarts", "roma"] {
        assert_eq!(
            count(&format!("{service}.show")),
            0,
            "{service}: no read by id"
        );
        assert!(
            count(&format!("{service}.list")) > 0,
            "{service}: drift was checked (from the listing)"
        );
    }
    let cloud_writes: u64 = counts
        .iter()
        .filter(|(k, _)| !k.ends_with(".show") && !k.ends_with(".list"))
        .map(|(_, v)| *v)
        .sum();
    assert_eq!(cloud_writes, 0, "no cloud write when nothing changed");
    // The listing of gw1 is shared by its N + 1 objects.
    let per_object_per_period = count("apig.list") as f64 / (N + 1) as f64 / periods as f64;
    println!("apig: {per_object_per_period:.3} cloud calls per object per resync period");
    assert!(
        per_object_per_period <= 0.05,
        "at most 0.05 cloud calls per object per resync period, not {per_object_per_period:.3}"
    );

    // The same counters see a change: an app deleted behind the operator's back is missing
    // from the next listing, read by id, made again and its Secret rewritten.
    let gone = ns
        .get("app-0")
        .await
        .and_then(|a| a.status?.app_id)
        .expect("app-0's id");
    let before = requests(&client).await;
    sim.handle.reset_counts();
    common::cloud::client(&sim.url())
        .apig("gw1")
        .delete(&gone)
        .await
        .expect("delete behind the operator's back");
    common::wait::until(Duration::from_secs(60), "app-0 made again", || async {
        let id = ns.get("app-0").await?.status?.app_id?;
        (id != gone).then_some(())
    })
    .await;
    let after = requests(&client).await;
    assert!(
        count_of(&sim, "apig.show") > 0,
        "the missing app read by id"
    );
    assert_eq!(count_of(&sim, "apig.create"), 1, "and made again");
    assert!(
        delta(&before, &after, "secrets APPLY") >= 1.0,
        "its Secret rewritten, seen by the same counters"
    );
}

fn count_of(sim: &Sim, op: &str) -> u64 {
    sim.handle.counts().get(op).copied().unwrap_or(0)
}
