//! Leader election on a coordination.k8s.io Lease (SPEC §8): only the leader reconciles, and a
//! lost lease ends the process at once (no graceful finishing of in-flight reconciles; the
//! pending marker's grace period covers a create still in flight).

use std::time::Duration;

use anyhow::Context as _;
use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};

pub struct Election {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
}

/// This process's hold on the Lease, from `acquire` until `release` or the process ends.
pub struct Leadership {
    release: tokio::sync::oneshot::Sender<tokio::sync::oneshot::Sender<()>>,
}

impl Leadership {
    /// Gives the Lease up, once the controllers have stopped, so that a standby takes over at
    /// once instead of when the lease expires (a rolling update or a deleted Pod). Waits a few
    /// seconds at most: an unreleased lease only delays the standby.
    pub async fn release(self) {
        let (done, released) = tokio::sync::oneshot::channel();
        if self.release.send(done).is_ok() {
            let _ = tokio::time::timeout(RELEASE_WAIT, released).await;
        }
    }
}

const RELEASE_WAIT: Duration = Duration::from_secs(5);

fn lease_error_is_transient(e: &LeaseManagerError) -> bool {
    matches!(e, LeaseManagerError::KubeError(e) if crate::kube_client::transient(e))
}

/// Waits until this process holds the Lease; then watches it in the background and exits the
/// process with status 1 the moment it is lost (unless it was given up with `release`).
pub async fn acquire(client: Client, election: Election) -> anyhow::Result<Leadership> {
    let duration = election.duration.as_secs().max(2);
    // Renew well before expiry: a third of the lease, at least one second.
    let grace = (duration / 3).max(1);
    // Reads (or creates) the Lease: the start's first request, so an apiserver that is
    // restarting is waited for.
    let manager =
        crate::kube_client::patiently("the leader Lease", lease_error_is_transient, || {
            LeaseManagerBuilder::new(client.clone(), &election.name)
                .with_namespace(&election.namespace)
                .with_identity(&election.identity)
                .with_duration(duration)
                .with_grace(grace)
                .with_field_manager("appauth-operator")
                .build()
        })
        .await
        .context("setting up leader election")?;
    let (mut leader, mut task) = manager.watch().await;
    tracing::info!(lease = %election.name, namespace = %election.namespace, "waiting for leadership");
    while !*leader.borrow_and_update() {
        leader
            .changed()
            .await
            .context("leader election stopped before this process became leader")?;
    }
    tracing::info!(lease = %election.name, "became leader");
    let (release, mut released) =
        tokio::sync::oneshot::channel::<tokio::sync::oneshot::Sender<()>>();
    tokio::spawn(async move {
        let done = loop {
            tokio::select! {
                done = &mut released => break done,
                changed = leader.changed() => {
                    if changed.is_err() || !*leader.borrow_and_update() {
                        tracing::error!("lost the leader lease; exiting at once");
                        std::process::exit(1);
                    }
                }
                result = &mut task => {
                    tracing::error!(?result, "leader election task ended; exiting");
                    std::process::exit(1);
                }
            }
        };
        // Dropping the last receiver makes the lease manager clear the holder and end.
        drop(leader);
        match tokio::time::timeout(RELEASE_WAIT, task).await {
            Ok(Ok(Ok(_))) => tracing::info!("released the leader lease"),
            other => tracing::warn!(?other, "could not release the leader lease; it expires"),
        }
        if let Ok(done) = done {
            let _ = done.send(());
        }
    });
    Ok(Leadership { release })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_that_cannot_be_reached_is_asked_for_again() {
        let api = |code: u16| {
            LeaseManagerError::KubeError(kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..Default::default()
            })))
        };
        let cases = [
            (
                "refused connection",
                LeaseManagerError::KubeError(kube::Error::Service("client error (Connect)".into())),
                true,
            ),
            ("apiserver 503", api(503), true),
            ("throttled", api(429), true),
            ("forbidden", api(403), false),
            (
                "no Lease",
                LeaseManagerError::NonexistentLease("x".into()),
                false,
            ),
        ];
        for (name, error, want) in cases {
            assert_eq!(lease_error_is_transient(&error), want, "{name}");
        }
    }
}
