//! Two replicas with leader election, under a burst of 200 GatewayApps: the leader's Pod
//! deleted mid-burst, and a `helm upgrade` to a new image tag mid-burst. Either way the other
//! Pod takes over within the lease, and the burst ends with exactly one cloud app per object.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::objects::Ns;
use crate::common::wait;
use crate::support::{
    LEASE_SECS, NodeSim, Release, SERIAL, assert_one_app_per_object, burst, next_operator_image,
    ready_count,
};

const BURST: usize = 200;
const T: Duration = Duration::from_secs(120);

/// Creates the burst in the background, so that what the test does next happens while
/// objects are still arriving.
fn start_burst(release: &Release, prefix: &'static str) -> tokio::task::JoinHandle<Vec<String>> {
    let ns = Ns {
        client: release.work.client.clone(),
        name: release.work.name.clone(),
    };
    tokio::spawn(async move { burst(&ns, prefix, BURST).await })
}

/// Waits until some of the burst is Ready, and checks that the rest is still to come: what
/// happens next happens mid-burst, with creates in flight.
async fn mid_burst(release: &Release) {
    let ready = wait::until(T, "a tenth of the burst Ready", || async {
        let ready = ready_count(&release.work).await;
        (ready >= BURST / 10).then_some(ready)
    })
    .await;
    assert!(
        ready < BURST,
        "the burst was over before the disruption ({ready} Ready)"
    );
    println!("mid-burst: {ready} of {BURST} Ready");
}

#[tokio::test]
async fn the_leader_pod_deleted_during_a_burst_hands_over_within_the_lease() {
    let _one = SERIAL.lock().await;
    let sim = NodeSim::start("failover");
    let release = Release::install("failover", &sim, 2, json!({})).await;
    release.wait_ready_pods(2, T).await;
    let leader = wait::until(T, "a leader", || release.leader()).await;

    let burst = start_burst(&release, "f");
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
    let names = burst.await.expect("the burst's creates");
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

    let burst = start_burst(&release, "u");
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
    let names = burst.await.expect("the burst's creates");
    assert_one_app_per_object(&release.work, &sim, &names).await;
    release.cleanup().await;
}
