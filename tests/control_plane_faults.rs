//! Control-plane faults (issue 7): the kube-apiserver restarted mid-burst, and etcd restarted
//! gracefully; the operator recovers without a restart of its own and converges: one working
//! cloud app per object, and no secret in its logs, Events, statuses or metrics. A replica with
//! leader election started while the apiserver is down waits for it and leads. One test in its
//! own binary: nothing else uses the control plane while it restarts.

mod common;

use std::process::Command;
use std::time::Duration;

use common::converge::{assert_converged, hygiene, issued_secrets};
use common::objects::Ns;
use common::operator::{Operator, free_metrics_addr};
use common::sim::Sim;
use common::{cluster, wait};
use serde_json::json;

fn restart(process: &str) {
    let kubeconfig = std::env::var(cluster::KUBECONFIG_ENV).expect("APPAUTH_TEST_KUBECONFIG");
    let dir = std::path::Path::new(&kubeconfig)
        .parent()
        .expect("state dir")
        .to_path_buf();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/xtask/scripts/cluster-restart.sh"
    );
    let status = Command::new(script)
        .arg(&dir)
        .arg(process)
        .status()
        .expect("cluster-restart.sh");
    assert!(status.success(), "restarting {process} failed");
}

#[tokio::test]
async fn the_operator_rides_out_apiserver_and_etcd_restarts() {
    let client = cluster::client().await;
    let ns = Ns {
        client: client.clone(),
        name: cluster::namespace(&client, "cp-faults").await,
    };
    let sim = Sim::start();
    let metrics_addr = free_metrics_addr();
    let mut op = Operator::start(&ns.name, &sim.url(), &["--metrics-addr", &metrics_addr]);
    let names: Vec<String> = (0..40).map(|i| format!("app-{i}")).collect();
    for name in &names[..20] {
        ns.create(name, json!({"apig": {"instanceId": "gw1"}}))
            .await;
    }
    // A second operator, with leader election, starts while the apiserver restarts: its first
    // request (the Lease) meets a refused connection.
    let leader_ns = Ns {
        client: client.clone(),
        name: cluster::namespace(&client, "cp-faults-leader").await,
    };
    leader_ns
        .create("led", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    let leader_sim = Sim::start();
    let restarting = std::thread::spawn(|| restart("apiserver"));
    wait::until(
        Duration::from_secs(30),
        "the apiserver refuses requests",
        || async { client.apiserver_version().await.err().map(|_| ()) },
    )
    .await;
    let mut leader = Operator::start(
        &leader_ns.name,
        &leader_sim.url(),
        &[
            "--leader-elect",
            "--leader-election-namespace",
            &leader_ns.name,
            "--leader-election-id",
            "cp-faults",
        ],
    );
    restarting.join().expect("the restart");
    let client = cluster::client().await;
    let ns = Ns {
        client,
        name: ns.name.clone(),
    };
    for name in &names[20..30] {
        ns.create(name, json!({"roma": {"instanceId": "r1"}})).await;
    }
    restart("etcd");
    wait::until(
        Duration::from_secs(60),
        "apiserver answers after the etcd restart",
        || async { ns.apps().list(&Default::default()).await.ok().map(|_| ()) },
    )
    .await;
    for name in &names[30..] {
        ns.create(name, json!({"dataarts": {"workspaceId": "w1"}}))
            .await;
    }
    assert_converged(&ns, &sim, &names, Duration::from_secs(120)).await;
    assert_eq!(
        op.wait_exit(Duration::from_millis(10)),
        None,
        "the operator did not restart"
    );
    let metrics = Operator::metrics(&metrics_addr).await;
    hygiene(&ns, &issued_secrets(&sim), &op.logs(), &metrics).await;
    op.kill();

    let leader_ns = Ns {
        client: ns.client.clone(),
        name: leader_ns.name.clone(),
    };
    assert_converged(
        &leader_ns,
        &leader_sim,
        &["led".to_string()],
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(
        leader.wait_exit(Duration::from_millis(10)),
        None,
        "the replica started during the outage did not exit"
    );
    let logs = leader.logs();
    assert!(
        logs.contains("asking again") && logs.contains("became leader"),
        "it waited for the apiserver, then led"
    );
    leader.kill();
}
