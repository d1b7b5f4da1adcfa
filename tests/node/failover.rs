//! Two replicas with leader election, under a burst of 200 GatewayApps: the leader's Pod
//! deleted mid-burst, and a `helm upgrade` to a new image tag mid-burst. Either way the other
//! Pod takes over within the lease, and the burst ends with exactly one cloud app per object.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::wait;
use crate::support::{
    LEASE_SECS, NodeSim, Release, SERIAL, assert_one_app_per_object, burst, next_operator_image,
    ready_count,
};

const BURST: usize = 200;
const T: Duration = Duration::from_secs(120);

/// Waits until some of the burst is Ready: the leader is mid-burst, with creates in flight.
async fn mid_burst(release: &Release) {
    wait::until(T, "a tenth of the burst Ready", || async {
        (ready_count(&release.work).await >= BURST / 10).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_leader_pod_deleted_during_a_burst_hands_over_within_the_lease() {
    let _one = SERIAL.lock().await;
    let sim = NodeSim::start("failover");
    let release = Release::install("failover", &sim, 2, json!({})).await;
    release.wait_ready_pods(2, T).await;
    let leader = wait::until(T, "a leader", || release.leader()).await;

    let names = burst(&release.work, "f", BURST).await;
    mid_burst(&release).await;
    let deleted_at = Instant::now();
    release.delete_pod(&leader).await;
    let successor = wait::until(
        Duration::from_secs(LEASE_SECS * 2),
        "another Pod holds the lease",
        || async { release.leader().await.filter(|l| *l != leader) },
    )
    .await;
    let failover = deleted_at.elapsed();
    println!(
        "failover: {successor} holds the lease {:.1}s after {leader} was deleted (lease {LEASE_SECS}s)",
        failover.as_secs_f64()
    );
    assert!(
        failover < Duration::from_secs(LEASE_SECS),
        "the standby took over within the lease: {failover:?}"
    );
    assert_one_app_per_object(&release.work, &sim, &names).await;
    // The Deployment replaced the deleted Pod.
    release.wait_ready_pods(2, T).await;
    release.cleanup().await;
}

#[tokio::test]
async fn helm_upgrade_to_a_new_image_tag_during_a_burst_leaves_one_app_per_object() {
    let _one = SERIAL.lock().await;
    let sim = NodeSim::start("upgrade");
    let release = Release::install("upgrade", &sim, 2, json!({})).await;
    let before = release.wait_ready_pods(2, T).await;

    let names = burst(&release.work, "u", BURST).await;
    mid_burst(&release).await;
    let (_, next_tag) = next_operator_image();
    release.helm(&["upgrade"], &["--set", &format!("image.tag={next_tag}")]);
    let after = release.wait_ready_pods(2, T).await;
    for pod in &after {
        let image = &pod.spec.as_ref().expect("spec").containers[0].image;
        assert!(
            image
                .as_deref()
                .is_some_and(|i| i.ends_with(&format!(":{next_tag}"))),
            "the upgraded Pod runs the new tag: {image:?}"
        );
        assert!(
            before.iter().all(|b| b.metadata.name != pod.metadata.name),
            "every Pod was replaced"
        );
    }
    assert_one_app_per_object(&release.work, &sim, &names).await;
    release.cleanup().await;
}
