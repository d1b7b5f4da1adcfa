//! Leader election on a coordination.k8s.io Lease (SPEC §8): only the leader reconciles, and a
//! lost lease ends the process at once (no graceful finishing of in-flight reconciles; the
//! pending marker's grace period covers a create still in flight).

use std::time::Duration;

use anyhow::Context as _;
use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;

pub struct Election {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
}

/// Waits until this process holds the Lease; then watches it in the background and exits the
/// process with status 1 the moment it is lost.
pub async fn acquire(client: Client, election: Election) -> anyhow::Result<()> {
    let duration = election.duration.as_secs().max(2);
    // Renew well before expiry: a third of the lease, at least one second.
    let grace = (duration / 3).max(1);
    let manager = LeaseManagerBuilder::new(client, &election.name)
        .with_namespace(&election.namespace)
        .with_identity(&election.identity)
        .with_duration(duration)
        .with_grace(grace)
        .with_field_manager("appauth-operator")
        .build()
        .await
        .context("setting up leader election")?;
    let (mut leader, task) = manager.watch().await;
    tracing::info!(lease = %election.name, namespace = %election.namespace, "waiting for leadership");
    while !*leader.borrow_and_update() {
        leader
            .changed()
            .await
            .context("leader election stopped before this process became leader")?;
    }
    tracing::info!(lease = %election.name, "became leader");
    tokio::spawn(async move {
        // Keep the receiver alive: dropping it would release the lease.
        loop {
            if leader.changed().await.is_err() || !*leader.borrow_and_update() {
                tracing::error!("lost the leader lease; exiting at once");
                std::process::exit(1);
            }
        }
    });
    tokio::spawn(async move {
        let result = task.await;
        tracing::error!(?result, "leader election task ended; exiting");
        std::process::exit(1);
    });
    Ok(())
}
