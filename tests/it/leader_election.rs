//! Leader election (SPEC §8): several replicas, one active; kill -9 or SIGSTOP the leader and
//! another takes over within the lease duration; a leader that loses its lease exits at once;
//! no duplicate cloud app appears.

use crate::common;

use std::time::{Duration, Instant};

use common::objects::Ns;
use common::operator::{Operator, free_metrics_addr};
use common::sim::Sim;
use common::{cluster, wait};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use serde_json::json;

const LEASE: &str = "3s";

fn replica(ns: &str, sim: &Sim) -> Operator {
    replica_at(ns, sim, "127.0.0.1:0")
}

/// A replica whose metrics are served at `metrics_addr`.
fn replica_at(ns: &str, sim: &Sim, metrics_addr: &str) -> Operator {
    Operator::start(
        ns,
        &sim.url(),
        &[
            "--metrics-addr",
            metrics_addr,
            "--leader-elect",
            "--leader-election-namespace",
            ns,
            "--leader-election-id",
            "appauth-test",
            "--lease-duration",
            LEASE,
        ],
    )
}

fn is_leader(op: &Operator) -> bool {
    op.logs().contains("became leader")
}

async fn holder(ns: &Ns) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(ns.client.clone(), &ns.name);
    leases
        .get_opt("appauth-test")
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

async fn create_and_wait(ns: &Ns, names: &[String]) {
    for name in names {
        ns.create(name, json!({"roma": {"instanceId": "r1"}})).await;
    }
    for name in names {
        ns.wait_ready(name, Duration::from_secs(40)).await;
    }
}

#[tokio::test]
async fn one_leader_reconciles_and_a_standby_takes_over_after_kill_and_stop() {
    let client = cluster::client().await;
    let name = cluster::namespace(&client, "leader").await;
    let ns = Ns { client, name };
    let sim = Sim::start();

    let mut a = replica(&ns.name, &sim);
    wait::until(Duration::from_secs(20), "a holds the lease", || async {
        holder(&ns).await
    })
    .await;
    let b_metrics = free_metrics_addr();
    let mut b = replica_at(&ns.name, &sim, &b_metrics);
    let batch1: Vec<String> = (0..5).map(|i| format!("one-{i}")).collect();
    create_and_wait(&ns, &batch1).await;
    assert!(
        is_leader(&a) && !is_leader(&b),
        "only the first replica leads"
    );
    let leader_gauge = |text: String| {
        text.lines()
            .find(|l| l.starts_with("appauth_leader "))
            .map(str::to_string)
    };
    assert_eq!(
        leader_gauge(Operator::metrics(&b_metrics).await).as_deref(),
        Some("appauth_leader 0"),
        "the standby says it is one"
    );
    assert!(
        !b.logs().contains("reconcil"),
        "the standby does not reconcile"
    );

    // kill -9 the leader: the standby takes over within the lease duration (plus renew timing).
    let killed_at = Instant::now();
    a.kill();
    let batch2: Vec<String> = (0..5).map(|i| format!("two-{i}")).collect();
    create_and_wait(&ns, &batch2).await;
    assert!(is_leader(&b));
    assert_eq!(
        leader_gauge(Operator::metrics(&b_metrics).await).as_deref(),
        Some("appauth_leader 1"),
        "the new leader says so"
    );
    println!(
        "takeover after kill -9: objects Ready {:?} after the kill (lease {LEASE})",
        killed_at.elapsed()
    );

    // SIGSTOP the new leader: a fresh standby takes over; the stopped one, when continued,
    // finds its lease lost and exits non-zero at once.
    let mut c = replica(&ns.name, &sim);
    tokio::time::sleep(Duration::from_secs(1)).await;
    b.signal("STOP");
    let batch3: Vec<String> = (0..5).map(|i| format!("three-{i}")).collect();
    create_and_wait(&ns, &batch3).await;
    assert!(is_leader(&c));
    b.signal("CONT");
    let code = b.wait_exit(Duration::from_secs(15));
    assert_eq!(code, Some(1), "a leader that lost its lease exits non-zero");

    assert_eq!(sim.apps("roma").len(), 15, "no duplicate cloud app");
    c.kill();
}

/// A leader stopped the way a Pod is (SIGTERM) finishes its reconciles, then gives the Lease
/// up before it exits: the Lease names no holder (a killed leader's would name it until it
/// expired), and the standby takes it at its next look, within one lease duration.
#[tokio::test]
async fn a_leader_stopped_with_sigterm_releases_the_lease_to_the_standby() {
    let client = cluster::client().await;
    let name = cluster::namespace(&client, "leader-handover").await;
    let ns = Ns { client, name };
    let sim = Sim::start();
    let replica = || {
        Operator::start(
            &ns.name,
            &sim.url(),
            &[
                "--leader-elect",
                "--leader-election-namespace",
                ns.name.as_str(),
                "--leader-election-id",
                "appauth-test",
                "--lease-duration",
                "10s",
            ],
        )
    };
    let mut a = replica();
    let first = wait::until(Duration::from_secs(20), "a holds the lease", || async {
        holder(&ns).await
    })
    .await;
    let mut b = replica();
    create_and_wait(&ns, &["before-0".to_string()]).await;
    assert!(is_leader(&a) && !is_leader(&b));

    let stopped_at = Instant::now();
    a.signal("TERM");
    assert_eq!(
        a.wait_exit(Duration::from_secs(20)),
        Some(0),
        "a stops cleanly"
    );
    assert!(
        a.logs().contains("released the leader lease"),
        "{}",
        a.logs()
    );
    let now = holder(&ns).await;
    assert!(
        now.as_deref() != Some(first.as_str()),
        "the stopped leader no longer holds the lease: {now:?}"
    );
    let second = wait::until(Duration::from_secs(15), "b holds the lease", || async {
        holder(&ns).await.filter(|h| !h.is_empty())
    })
    .await;
    assert_ne!(second, first);
    println!(
        "handover after SIGTERM: {:?} (lease 10s)",
        stopped_at.elapsed()
    );
    create_and_wait(&ns, &["after-0".to_string()]).await;
    assert!(is_leader(&b));
    assert_eq!(sim.apps("roma").len(), 2, "no duplicate cloud app");
    b.kill();
}
