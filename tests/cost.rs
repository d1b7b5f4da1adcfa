//! What a new GatewayApp costs, counted from outside the operator: apiserver writes from the
//! apiserver's own `apiserver_request_total`, cloud calls from the simulator's counts; and what
//! a resync with nothing changed costs (nothing). One test in its own binary, so no other test
//! writes to the apiserver while it counts.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::cluster;
use common::objects::Ns;
use common::operator::Operator;
use common::sim::Sim;
use kube::Client;
use serde_json::json;

/// Write requests (POST, PUT, PATCH, DELETE) by resource[/subresource], from /metrics.
async fn writes(client: &Client) -> BTreeMap<String, f64> {
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
        // Server-side apply is counted under its own verb, APPLY. Deletes are left out: the
        // namespace controller may be cleaning up earlier tests' namespaces meanwhile.
        if !["POST", "PUT", "PATCH", "APPLY"].contains(&verb.as_str()) {
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
        *out.entry(format!("{key} {verb} {}", label("code")))
            .or_default() += value;
    }
    out
}

fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, key: &str) -> f64 {
    after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0)
}

/// N new APIG apps in a fresh namespace, with the operator run with `extra`: apiserver writes per
/// app (object, status and Secret, counted by the apiserver), Events per app, and cloud calls.
async fn new_apps(client: &kube::Client, test: &str, extra: &[&str]) -> (Ns, Sim, Operator, f64) {
    let name = cluster::namespace(client, test).await;
    let ns = Ns {
        client: client.clone(),
        name,
    };
    let sim = Sim::start();
    let mut args = vec!["--resync-period", "5s"];
    args.extend_from_slice(extra);
    let op = Operator::start(&ns.name, &sim.url(), &args);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = writes(client).await;
    for i in 0..N {
        ns.create(&format!("app-{i}"), json!({"apig": {"instanceId": "gw1"}}))
            .await;
    }
    for i in 0..N {
        ns.wait_ready(&format!("app-{i}"), Duration::from_secs(60))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = writes(client).await;
    let per_app = |key: &str| delta(&before, &after, key) / N as f64;
    let object = per_app("gatewayapps") - 1.0; // minus the test's own create
    let status = per_app("gatewayapps/status");
    let secrets = per_app("secrets");
    let events = per_app("events");
    let counts = sim.handle.counts();
    let cloud: u64 = counts
        .iter()
        .filter(|(k, _)| k.starts_with("apig."))
        .map(|(_, v)| *v)
        .sum();
    println!(
        "{test} {extra:?}: per new app: apiserver writes {:.2} (object {object:.2}, status {status:.2}, Secret {secrets:.2}); Events {events:.2}; cloud calls {:.2} {counts:?}",
        object + status + secrets,
        cloud as f64 / N as f64
    );
    for (k, v) in &after {
        let d = v - before.get(k).copied().unwrap_or(0.0);
        if d > 0.0
            && k.contains(' ')
            && (k.starts_with("gatewayapps") || k.starts_with("secrets") || k.starts_with("events"))
        {
            println!("  {k}: {d}");
        }
    }
    assert_eq!(
        cloud as usize, N,
        "one cloud call (the create) per new APIG app"
    );
    (ns, sim, op, object + status + secrets)
}

const N: usize = 20;

/// One test, so that no other test's writes fall into the apiserver's global counters.
#[tokio::test]
async fn cost_of_a_new_app_and_of_a_quiet_resync() {
    let client = cluster::client().await;
    // Without the app-id mirror: exactly the three writes of SPEC §3.4.
    let (_lean_ns, lean_sim, _lean_op, lean) =
        new_apps(&client, "cost-lean", &["--app-id-annotation", "false"]).await;
    assert!(
        (lean - 3.0).abs() < 1e-9,
        "3 apiserver writes per new app without the mirror, not {lean:.2}"
    );
    // The default adds the mirror of the app id (SPEC §3.4): one more.
    let (_ns, sim, _op, writes_per_app) = new_apps(&client, "cost", &[]).await;
    assert!(
        (writes_per_app - 4.0).abs() < 1e-9,
        "4 apiserver writes per new app with the mirror, not {writes_per_app:.2}"
    );

    // A resync period with nothing changed (both operators, the lean one with its pending markers
    // left in place): no writes, no cloud writes, at most one read each.
    sim.handle.reset_counts();
    lean_sim.handle.reset_counts();
    let quiet_before = writes(&client).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let quiet_after = writes(&client).await;
    let quiet: f64 = ["gatewayapps", "gatewayapps/status", "secrets"]
        .iter()
        .map(|k| delta(&quiet_before, &quiet_after, k))
        .sum();
    let counts = sim.handle.counts();
    let reads = counts.get("apig.show").copied().unwrap_or(0);
    let cloud_writes: u64 = counts
        .iter()
        .filter(|(k, _)| !k.ends_with(".show") && !k.ends_with(".list"))
        .map(|(_, v)| *v)
        .sum();
    println!(
        "quiet resync (7s, period 5s): apiserver writes {quiet}, cloud reads {reads}, cloud writes {cloud_writes}"
    );
    assert_eq!(quiet, 0.0, "no apiserver write when nothing changed");
    assert_eq!(cloud_writes, 0, "no cloud write when nothing changed");
    let lean_cloud_writes: u64 = lean_sim
        .handle
        .counts()
        .iter()
        .filter(|(k, _)| !k.ends_with(".show") && !k.ends_with(".list"))
        .map(|(_, v)| *v)
        .sum();
    assert_eq!(lean_cloud_writes, 0, "no cloud write when nothing changed");
    assert!(
        reads as usize <= 2 * N,
        "at most one read per object per resync period"
    );
}
