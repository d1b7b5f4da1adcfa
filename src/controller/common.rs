//! What both reconcilers share: the error type and the account an object resolves to.

use std::time::Duration;

use kube::Resource;
use kube::runtime::controller::Action;

use super::Context;
use super::status::Reason;
use crate::cloud::{CloudError, ErrorCategory};

/// Errors that end a reconcile early: either a condition to report or an API failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{reason:?}: {message}")]
    Failed {
        reason: Reason,
        message: String,
        retry_after: Option<Duration>,
        on_change_only: bool,
    },
    /// Not an error: try again after this long (a conflict, an echo not cached yet).
    #[error("requeue")]
    Requeue(Duration),
    /// The terminal failure the status already reports, not asked of the cloud again (nothing
    /// it depends on changed): no status write, no Event; counted under its reason.
    #[error("{0:?}, unchanged")]
    Unchanged(Reason),
    /// Not an error either, but a wait users should see: the reconcile cannot finish before
    /// `after` (a create that may still be in flight, deletion held up), reported as
    /// `Reconciling=True` with `reason`.
    #[error("{reason:?}: {message}")]
    Wait {
        after: Duration,
        reason: Reason,
        message: String,
    },
}

impl Error {
    pub(crate) fn failed(reason: Reason, message: impl Into<String>) -> Self {
        Error::Failed {
            reason,
            message: message.into(),
            retry_after: None,
            on_change_only: false,
        }
    }

    /// A cloud error as a condition. Secret material never reaches the message: the client
    /// scrubs what it sent and reports codes, not bodies.
    pub(crate) fn cloud(e: CloudError) -> Self {
        let reason = match e.category() {
            // A request that could not even be built (an id too long for a URL, say) fails the
            // same way every time: as terminal as what the cloud rejects.
            ErrorCategory::InvalidInput
            | ErrorCategory::Conflict
            | ErrorCategory::InvalidRequest => Reason::InvalidSpec,
            ErrorCategory::QuotaExceeded => Reason::QuotaExceeded,
            ErrorCategory::Unauthorized | ErrorCategory::Forbidden => Reason::Unauthorized,
            ErrorCategory::AlreadyExists => Reason::NameConflict,
            ErrorCategory::KeyTaken => Reason::KeyConflict,
            _ => Reason::CloudUnavailable,
        };
        let message = if e.category() == ErrorCategory::KeyTaken {
            format!("the app key is already held by another app; choose another key: {e}")
        } else {
            e.to_string()
        };
        Error::Failed {
            reason,
            message,
            retry_after: e.retry_after(),
            // Only a spec change can fix what the cloud rejected as invalid: no retry until then.
            on_change_only: e.category() == ErrorCategory::InvalidInput,
        }
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns a reconcile's result into the action for the runtime, and the failure reason for
/// metrics. A reported failure gets a Warning Event when terminal, a status written by
/// `report`, and a requeue that fits it: Retry-After, a resync for terminal reasons, nothing
/// until the spec changes for what the cloud rejected as invalid, backoff otherwise.
pub(crate) async fn settle<K, Fut>(
    obj: &K,
    ctx: &Context,
    result: Result<Action>,
    report: impl FnOnce(Reason, String) -> Fut,
) -> std::result::Result<(Action, Option<&'static str>), kube::Error>
where
    K: Resource<DynamicType = ()>,
    Fut: std::future::Future<Output = std::result::Result<(), kube::Error>>,
{
    let uid = obj.meta().uid.clone().unwrap_or_default();
    match result {
        Ok(action) => {
            ctx.succeeded(&uid);
            Ok((action, None))
        }
        Err(Error::Requeue(after)) => Ok((Action::requeue(after), None)),
        Err(Error::Unchanged(reason)) => {
            left_to_the_sweep(ctx, &uid);
            Ok((Action::await_change(), Some(reason.as_str())))
        }
        Err(Error::Wait {
            after,
            reason,
            message,
        }) => {
            report(reason, message.clone()).await?;
            super::waits::warn_if_long(obj, ctx, &uid, reason, &message).await;
            // Back within a minute, so that a long wait is told in an Event while it lasts.
            Ok((Action::requeue(after.min(super::waits::LONG_WAIT)), None))
        }
        Err(Error::Kube(e)) if is_conflict(&e) => {
            Ok((Action::requeue(Duration::from_millis(200)), None))
        }
        Err(Error::Kube(e)) => Err(e),
        Err(Error::Failed {
            reason,
            message,
            retry_after,
            on_change_only,
        }) => {
            // Deletion held up by a recoverable failure: users see it as such.
            let deleting = obj.meta().deletion_timestamp.is_some() && !reason.is_terminal();
            let (reason, message) = if deleting {
                (Reason::Deleting, format!("deletion waits: {message}"))
            } else {
                (reason, message)
            };
            let name = obj.meta().name.clone().unwrap_or_default();
            let namespace = obj.meta().namespace.clone().unwrap_or_default();
            tracing::info!(object = %name, %namespace, reason = reason.as_str(), "reconcile failed: {message}");
            if reason.warns() {
                ctx.warning(obj, reason.as_str(), "Reconcile", message.clone())
                    .await;
            }
            report(reason, message.clone()).await?;
            if deleting {
                super::waits::warn_if_long(obj, ctx, &uid, reason, &message).await;
            }
            if on_change_only {
                let generation = obj.meta().generation.unwrap_or_default();
                ctx.memory
                    .with(&uid, |m| m.rare_mut(|r| r.rejected = Some(generation)));
                return Ok((Action::await_change(), Some(reason.as_str())));
            }
            let wait = match retry_after {
                Some(d) => d,
                None if reason.is_terminal() => {
                    left_to_the_sweep(ctx, &uid);
                    return Ok((Action::await_change(), Some(reason.as_str())));
                }
                None => ctx.backoff(&uid, reason == Reason::QuotaExceeded),
            };
            // A deletion held up retries at least once a minute: someone is waiting for it.
            let wait = if deleting {
                wait.min(super::waits::LONG_WAIT)
            } else {
                wait
            };
            Ok((Action::requeue(wait), Some(reason.as_str())))
        }
    }
}

/// A terminal failure is tried again at the resync sweep, with the backoff of earlier failures
/// (an apiserver error in between, say) and any wait over: the sweep leaves an object retrying
/// on its own alone, and this one has no retry of its own.
fn left_to_the_sweep(ctx: &Context, uid: &str) {
    ctx.memory.update(uid, |m| {
        m.failures = 0;
        m.rare_mut(|r| r.wait = None);
    });
}

/// Whether the cloud rejected this generation of the object as invalid (no cloud call until
/// the spec changes).
pub(crate) fn rejected_generation<K: Resource>(obj: &K, ctx: &Context) -> bool {
    let uid = obj.meta().uid.clone().unwrap_or_default();
    let rejected = ctx.memory.get(&uid, |m| m.rare().rejected).flatten();
    rejected.is_some() && rejected == obj.meta().generation
}

pub(crate) fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
