//! One driver for both kinds: the reconcile entry point and error policy, pause, deletion and
//! the finalizer, and the status write (the pending marker is in `pending.rs`, the account
//! checks in `account_use.rs`). A kind says what is its own through `Managed`: its status, where
//! its cloud resource lives, and the work of applying and deleting it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use kube::ResourceExt;
use kube::runtime::controller::{Action, Controller};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::common::{self, Result};
use super::status::{self, Outcome};
use super::{Context, account_use};
use crate::api::{CLEANUP_FINALIZER, Condition, DeletionPolicy, LocalObjectReference, annotations};

/// Where an object's cloud resource lives, as its status recorded it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Location {
    pub project: Option<String>,
    pub region: Option<String>,
    /// GatewayApps: the service instance (or workspace); InferenceApis have none.
    pub instance: Option<String>,
}

/// What a kind the operator manages tells the driver.
pub trait Managed:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + super::tenancy::Governed
    + 'static
{
    /// The status block, as written by server-side apply.
    type Status: Default + Clone + PartialEq + Serialize + Send + Sync;
    /// "app" or "API", in messages.
    const WHAT: &'static str;

    fn status_or_default(&self) -> Self::Status;
    fn status_ref(&self) -> Option<&Self::Status>;
    fn conditions(status: &Self::Status) -> &[Condition];
    fn observed_generation(status: &Self::Status) -> Option<i64>;
    /// Sets the fields every status write owns: observedGeneration and the conditions.
    fn stamp(status: &mut Self::Status, generation: Option<i64>, conditions: Vec<Condition>);
    fn account_ref(&self) -> Option<&LocalObjectReference>;
    /// The account Secret the last successful reconcile used (status).
    fn recorded_account(&self) -> Option<&str>;
    fn location(&self) -> Location;
    fn deletion_policy(&self) -> DeletionPolicy;
    /// The kind's triggers not yet reconciled (`work_queue.rs`).
    fn work_queue(ctx: &Context) -> &super::work_queue::WorkQueue;

    /// Brings the cloud resource and the Secrets to the spec; writes status on success.
    fn apply(&self, ctx: &Context) -> impl Future<Output = Result<Action>> + Send;
    /// With `deletionPolicy: Delete`: removes the cloud resource (the finalizer goes after).
    fn delete_in_cloud(&self, ctx: &Context) -> impl Future<Output = Result<()>> + Send;
    /// Conditions besides the standard four, kept as they are when a reconcile writes none.
    fn kept_conditions(&self) -> Vec<Condition> {
        Vec::new()
    }
}

/// The part of `Managed` both kinds implement alike, field for field: their statuses and specs
/// name these fields the same.
macro_rules! managed_fields {
    ($status:ty) => {
        type Status = $status;

        fn status_or_default(&self) -> $status {
            self.status.clone().unwrap_or_default()
        }
        fn status_ref(&self) -> Option<&$status> {
            self.status.as_ref()
        }
        fn conditions(status: &$status) -> &[$crate::api::Condition] {
            &status.conditions
        }
        fn observed_generation(status: &$status) -> Option<i64> {
            status.observed_generation
        }
        fn stamp(
            status: &mut $status,
            generation: Option<i64>,
            conditions: Vec<$crate::api::Condition>,
        ) {
            status.observed_generation = generation;
            status.conditions = conditions;
        }
        fn account_ref(&self) -> Option<&$crate::api::LocalObjectReference> {
            self.spec.account_ref.as_deref()
        }
        fn recorded_account(&self) -> Option<&str> {
            self.status
                .as_ref()
                .and_then(|s| s.account_secret.as_deref())
        }
    };
}
pub(crate) use managed_fields;

fn uid<K: Resource>(obj: &K) -> String {
    obj.meta().uid.clone().unwrap_or_default()
}

pub fn is_paused<K: Resource>(obj: &K) -> bool {
    obj.meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(annotations::PAUSED))
        .is_some_and(|v| v == "true")
}

pub fn is_deleting<K: Resource>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

/// Runs a kind's controller until a shutdown signal.
pub async fn run<K: Managed>(controller: Controller<K>, ctx: Arc<Context>) {
    controller
        .shutdown_on_signal()
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::warn!(kind = %K::kind(&()), error = %e, "controller error");
            }
        })
        .await;
}

/// The reason a reconcile is counted under when an apiserver call failed it.
pub const KUBERNETES_API_FAILURE: &str = "KubernetesApi";

/// Entry point for the controller runtime.
pub async fn reconcile<K: Managed>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let started = Instant::now();
    let kind = K::kind(&());
    let (namespace, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    if let Some(waited) = K::work_queue(&ctx).started(&namespace, &name, started) {
        ctx.metrics.queue_waited(&kind, waited);
    }
    let result = reconcile_inner(obj.as_ref(), &ctx).await;
    let reason = match &result {
        Ok((_, reason)) => *reason,
        Err(_) => Some(KUBERNETES_API_FAILURE),
    };
    ctx.metrics.reconciled(&kind, started.elapsed(), reason);
    if let Ok((action, _)) = &result {
        tracing::debug!(object = %obj.name_any(), ?action, "reconciled");
    }
    result.map(|(action, _)| action)
}

/// Errors that escaped `reconcile` (API failures): retry with per-object backoff.
pub fn error_policy<K: Managed>(obj: Arc<K>, error: &kube::Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(object = %obj.name_any(), error = %error, "reconcile error");
    Action::requeue(ctx.backoff(&uid(obj.as_ref()), false))
}

/// The action, and the failure reason (for metrics) when the reconcile reported one.
async fn reconcile_inner<K: Managed>(
    obj: &K,
    ctx: &Context,
) -> Result<(Action, Option<&'static str>), kube::Error> {
    if ctx.is_stale(obj) {
        // Our own newer write has not reached the cache yet; its watch event brings it.
        ctx.metrics.skipped(&K::kind(&()), "stale");
        return Ok((Action::requeue(Duration::from_secs(2)), None));
    }
    let paused = is_paused(obj);
    if !is_deleting(obj) && !paused && common::rejected_generation(obj, ctx) {
        // The cloud rejected this spec as invalid; wait for it to change.
        return Ok((Action::await_change(), None));
    }
    let result = if paused {
        pause(obj, ctx).await
    } else if is_deleting(obj) {
        // Not checked against policy: a revoked namespace can still clean up what it made.
        delete(obj, ctx).await
    } else {
        match super::tenancy::check(obj, ctx).await {
            Ok(()) => obj.apply(ctx).await,
            Err(refused) => Err(refused),
        }
    };
    common::settle(obj, ctx, result, |reason, message| async move {
        write_status(obj, ctx, None, &Outcome::failed(reason, message)).await
    })
    .await
}

/// Paused: say so and make no cloud call. Deleting a paused object detaches it: the finalizer
/// goes (and the account Secret is released) and the cloud resource stays.
async fn pause<K: Managed>(obj: &K, ctx: &Context) -> Result<Action> {
    if is_deleting(obj) {
        account_use::release_all(obj, ctx).await?;
        remove_finalizer(obj, ctx).await?;
        let note = format!(
            "paused object deleted: the cloud {} was left untouched",
            K::WHAT
        );
        ctx.normal(obj, "Detached", "Delete", note).await;
        return Ok(Action::await_change());
    }
    let outcome = Outcome {
        paused: true,
        ..Outcome::available(format!("{}: \"true\": no cloud calls", annotations::PAUSED))
    };
    write_status(obj, ctx, None, &outcome).await?;
    Ok(Action::await_change())
}

/// Deletion: with `Delete`, the cloud resource first; then the account Secrets are released and
/// the finalizer removed.
async fn delete<K: Managed>(obj: &K, ctx: &Context) -> Result<Action> {
    if !has_finalizer(obj) {
        return Ok(Action::await_change());
    }
    let policy = super::tenancy::deletion_policy(obj, ctx).await?;
    if policy != obj.deletion_policy() {
        let note = format!(
            "deletionPolicy {:?} is not permitted by the AppAuthPolicies of this namespace: the deletion follows {policy:?}",
            obj.deletion_policy()
        );
        ctx.warning(obj, "DeletionPolicyNotPermitted", "Delete", note)
            .await;
    }
    if policy == DeletionPolicy::Delete {
        obj.delete_in_cloud(ctx).await?;
    }
    account_use::release_all(obj, ctx).await?;
    remove_finalizer(obj, ctx).await?;
    Ok(Action::await_change())
}

fn has_finalizer<K: Resource>(obj: &K) -> bool {
    obj.meta()
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == CLEANUP_FINALIZER)
}

/// Writes status (observedGeneration, conditions, and the given fields) by server-side apply,
/// only when something changed. Conditions besides the standard four stay as they were.
pub async fn write_status<K: Managed>(
    obj: &K,
    ctx: &Context,
    fields: Option<K::Status>,
    outcome: &Outcome,
) -> Result<(), kube::Error> {
    let generation = obj.meta().generation;
    let kept = obj
        .kept_conditions()
        .into_iter()
        .map(|c| Condition {
            observed_generation: generation,
            ..c
        })
        .collect();
    write_status_with(obj, ctx, fields, outcome, kept).await
}

/// `write_status` with the conditions besides the standard four.
pub async fn write_status_with<K: Managed>(
    obj: &K,
    ctx: &Context,
    fields: Option<K::Status>,
    outcome: &Outcome,
    extra: Vec<Condition>,
) -> Result<(), kube::Error> {
    let old = obj.status_or_default();
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let generation = obj.meta().generation;
    let mut conditions = status::conditions(K::conditions(&old), outcome, generation, &now);
    conditions.extend(extra);
    let same_conditions = status::same_conditions(&conditions, K::conditions(&old));
    let mut new = fields.unwrap_or_else(|| old.clone());
    K::stamp(&mut new, generation, Vec::new());
    let mut old_fields = old.clone();
    K::stamp(&mut old_fields, K::observed_generation(&old), Vec::new());
    if same_conditions && new == old_fields {
        return Ok(());
    }
    K::stamp(&mut new, generation, conditions);
    ctx.apply_status(obj, &new).await?;
    Ok(())
}

/// Adds the cleanup finalizer to an object that found its cloud resource without writing a
/// pending marker (restored from a backup or from Git with the id annotation and no status),
/// so that deleting it still cleans up. Conflict-checked; no write when it is there.
pub async fn ensure_finalizer<K: Managed>(obj: &K, ctx: &Context) -> Result<()> {
    if has_finalizer(obj) {
        return Ok(());
    }
    let mut finalizers = obj.finalizers().to_vec();
    finalizers.push(CLEANUP_FINALIZER.to_string());
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": obj.resource_version()}});
    ctx.patch(obj, &patch).await?;
    Ok(())
}

async fn remove_finalizer<K: Managed>(obj: &K, ctx: &Context) -> Result<()> {
    if !has_finalizer(obj) {
        return Ok(());
    }
    let finalizers: Vec<&String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != CLEANUP_FINALIZER)
        .collect();
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": obj.resource_version()}});
    ctx.patch(obj, &patch).await?;
    Ok(())
}

/// Our annotations on the object (the id mirror, the markers): one merge patch.
pub async fn annotate<K: Managed>(
    obj: &K,
    ctx: &Context,
    annotations: serde_json::Map<String, serde_json::Value>,
) -> Result<K> {
    let patch = json!({"metadata": {"annotations": annotations}});
    Ok(ctx.patch(obj, &patch).await?)
}
