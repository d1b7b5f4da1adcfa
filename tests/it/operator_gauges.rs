//! The gauges an on-call engineer alerts on, from the running operator: the work queue fills
//! behind a slow cloud and drains, and a Stalled object shows in the Stalled and not-Ready
//! gauges until its spec is fixed.

use crate::common;

use std::time::Duration;

use common::cluster;
use common::objects::Ns;
use common::operator::{Operator, free_metrics_addr};
use common::sim::Sim;
use serde_json::json;

const T: Duration = Duration::from_secs(60);

/// The value of the sample `series` (name and labels exactly as exposed).
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Scrapes until `accept` holds for the page's value of `series`.
async fn until_value(addr: &str, series: &str, what: &str, accept: impl Fn(f64) -> bool) -> f64 {
    Operator::metrics_until(addr, T, what, |page| {
        sample(page, series).filter(|v| accept(*v))
    })
    .await
}

#[tokio::test]
async fn queue_stalled_and_not_ready_gauges_follow_the_objects() {
    let client = cluster::client().await;
    let ns = Ns {
        name: cluster::namespace(&client, "gauges").await,
        client,
    };
    let sim = Sim::start();
    // One reconcile at a time against a cloud that takes 3 s per create: the others queue.
    sim.handle
        .add_fault(
            hwcloud_sim::FaultSpec::new("apig", "create")
                .latency_ms(3000)
                .times(4),
        )
        .expect("fault");
    let addr = free_metrics_addr();
    let _op = Operator::start(
        &ns.name,
        &sim.url(),
        &["--metrics-addr", &addr, "--concurrency", "1"],
    );
    let depth = "appauth_workqueue_depth{kind=\"GatewayApp\"}";
    let oldest = "appauth_workqueue_oldest_seconds{kind=\"GatewayApp\"}";
    let waits = "appauth_workqueue_wait_seconds_count{kind=\"GatewayApp\"}";
    // At rest, before anything: an empty queue.
    until_value(&addr, depth, "an empty queue at start", |v| v == 0.0).await;
    for name in ["a1", "a2", "a3", "a4"] {
        ns.create(name, json!({"apig": {"instanceId": "gw1"}}))
            .await;
    }
    until_value(
        &addr,
        depth,
        "objects waiting behind the slow create",
        |v| v >= 2.0,
    )
    .await;
    until_value(&addr, oldest, "a wait of at least a second", |v| v >= 1.0).await;
    for name in ["a1", "a2", "a3", "a4"] {
        ns.wait_ready(name, T).await;
    }
    until_value(&addr, depth, "the queue drained", |v| v == 0.0).await;
    until_value(&addr, oldest, "no wait left", |v| v == 0.0).await;
    until_value(&addr, waits, "each queued object's wait observed", |v| {
        v >= 4.0
    })
    .await;

    let stalled = "appauth_stalled_objects{kind=\"GatewayApp\"}";
    let not_ready = "appauth_not_ready_oldest_seconds{kind=\"GatewayApp\"}";
    assert_eq!(
        sample(&Operator::metrics(&addr).await, stalled),
        Some(0.0),
        "nothing stalled yet"
    );
    // A name only the cloud rejects: Stalled until the spec changes.
    ns.create("bad", json!({"modelarts": {}, "appName": "team/app"}))
        .await;
    ns.wait_reason("bad", "InvalidSpec", T).await;
    until_value(&addr, stalled, "one Stalled object", |v| v == 1.0).await;
    until_value(&addr, not_ready, "a not-Ready age that grows", |v| v >= 1.0).await;
    until_value(
        &addr,
        "appauth_managed_objects{kind=\"GatewayApp\",ready=\"false\"}",
        "one not Ready",
        |v| v == 1.0,
    )
    .await;
    ns.patch("bad", json!({"spec": {"appName": "team_app"}}))
        .await;
    ns.wait_ready("bad", T).await;
    until_value(&addr, stalled, "nothing Stalled once fixed", |v| v == 0.0).await;
    until_value(&addr, not_ready, "all Ready: no age", |v| v == 0.0).await;
}
