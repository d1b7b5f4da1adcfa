//! What both reconcilers share: the error type and the account an object resolves to.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::Context;
use super::account;
use super::status::Reason;
use crate::api::{CLEANUP_FINALIZER, IN_USE_FINALIZER, LocalObjectReference};
use crate::cloud::{Account, CloudError, ErrorCategory};

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
            ErrorCategory::InvalidInput | ErrorCategory::Conflict => Reason::InvalidSpec,
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
                ctx.event(
                    &obj.object_ref(&()),
                    EventType::Warning,
                    reason.as_str(),
                    "Reconcile",
                    message.clone(),
                )
                .await;
            }
            report(reason, message.clone()).await?;
            if deleting {
                super::waits::warn_if_long(obj, ctx, &uid, reason, &message).await;
            }
            if on_change_only {
                let generation = obj.meta().generation.unwrap_or_default();
                ctx.memory.with(&uid, |m| m.rejected = Some(generation));
                return Ok((Action::await_change(), Some(reason.as_str())));
            }
            let wait = match retry_after {
                Some(d) => d,
                None if reason.is_terminal() => ctx.resync(),
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

/// Whether the cloud rejected this generation of the object as invalid (no cloud call until
/// the spec changes).
pub(crate) fn rejected_generation<K: Resource>(obj: &K, ctx: &Context) -> bool {
    let uid = obj.meta().uid.clone().unwrap_or_default();
    let rejected = ctx.memory.get(&uid, |m| m.rejected).flatten();
    rejected.is_some() && rejected == obj.meta().generation
}

pub(crate) fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// The account for an object: its accountRef Secret (same namespace, never merged with the
/// default) or the operator's default. A live object's account Secret gets the in-use finalizer.
pub(crate) async fn resolve_account(
    ctx: &Context,
    namespace: &str,
    reference: Option<&LocalObjectReference>,
    deleting: bool,
) -> Result<Account> {
    let Some(reference) = reference else {
        return ctx.default_account.clone().ok_or_else(|| {
            Error::failed(
                Reason::AccountInvalid,
                "no spec.accountRef and the operator has no default account configured",
            )
        });
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = secrets.get_opt(&reference.name).await?.ok_or_else(|| {
        Error::failed(
            Reason::AccountInvalid,
            format!(
                "spec.accountRef: Secret {} not found in this namespace",
                reference.name
            ),
        )
    })?;
    let account =
        account::from_secret_data(&reference.name, &secret.data.clone().unwrap_or_default())
            .map_err(|m| Error::failed(Reason::AccountInvalid, format!("spec.accountRef: {m}")))?;
    if !deleting && !secret.finalizers().iter().any(|f| f == IN_USE_FINALIZER) {
        let mut finalizers = secret.finalizers().to_vec();
        finalizers.push(IN_USE_FINALIZER.to_string());
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": secret.resource_version()}});
        ctx.patch(&secret, &patch).await?;
    }
    Ok(account)
}

/// An object letting go of its accounts (deleted, or detached): the one its spec names and the
/// one its status recorded, when they differ.
pub(crate) async fn release_accounts(
    ctx: &Context,
    namespace: &str,
    reference: Option<&LocalObjectReference>,
    recorded: Option<&str>,
    uid: &str,
) -> Result<()> {
    release_account(ctx, namespace, reference, uid).await?;
    if let Some(recorded) = recorded.filter(|r| reference.is_none_or(|s| s.name != *r)) {
        let previous = LocalObjectReference {
            name: recorded.to_string(),
        };
        release_account(ctx, namespace, Some(&previous), uid).await?;
    }
    Ok(())
}

/// After a successful reconcile: the account Secret used before, if the ref has changed since,
/// is released (its in-use finalizer goes when no other object uses it).
pub(crate) async fn release_previous_account(
    ctx: &Context,
    namespace: &str,
    previous: Option<&str>,
    current: Option<&LocalObjectReference>,
    uid: &str,
) -> Result<()> {
    let Some(previous) = previous.filter(|p| current.is_none_or(|c| c.name != *p)) else {
        return Ok(());
    };
    let reference = LocalObjectReference {
        name: previous.to_string(),
    };
    release_account(ctx, namespace, Some(&reference), uid).await
}

/// Drops the in-use finalizer from an account Secret when no other live object needs it.
pub(crate) async fn release_account(
    ctx: &Context,
    namespace: &str,
    reference: Option<&LocalObjectReference>,
    uid: &str,
) -> Result<()> {
    let Some(reference) = reference else {
        return Ok(());
    };
    // Another live object uses it: by its accountRef, or (its ref moved and no reconcile has
    // succeeded since) as the account its status still records.
    let uses = |other_uid: Option<String>,
                other_ns: Option<String>,
                other_ref: Option<&LocalObjectReference>,
                recorded: Option<&str>,
                finalizers: &[String]| {
        other_uid.as_deref() != Some(uid)
            && other_ns.as_deref() == Some(namespace)
            && (other_ref.is_some_and(|r| r.name == reference.name)
                || recorded == Some(reference.name.as_str()))
            && finalizers.iter().any(|f| f == CLEANUP_FINALIZER)
    };
    let by_apps = ctx.gateway_apps.get().is_some_and(|store| {
        store.state().iter().any(|o| {
            uses(
                o.uid(),
                o.namespace(),
                o.spec.account_ref.as_ref(),
                o.status.as_ref().and_then(|s| s.account_secret.as_deref()),
                o.finalizers(),
            )
        })
    });
    let by_apis = ctx.inference_apis.get().is_some_and(|store| {
        store.state().iter().any(|o| {
            uses(
                o.uid(),
                o.namespace(),
                o.spec.account_ref.as_ref(),
                o.status.as_ref().and_then(|s| s.account_secret.as_deref()),
                o.finalizers(),
            )
        })
    });
    if by_apps || by_apis {
        return Ok(());
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    if let Some(secret) = secrets.get_opt(&reference.name).await?
        && secret.finalizers().iter().any(|f| f == IN_USE_FINALIZER)
    {
        let finalizers: Vec<&String> = secret
            .finalizers()
            .iter()
            .filter(|f| *f != IN_USE_FINALIZER)
            .collect();
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": secret.resource_version()}});
        ctx.patch(&secret, &patch).await?;
    }
    Ok(())
}
