//! The GatewayApp reconciler (SPEC §3): a thin driver over the pure steps in `secret`,
//! `marker`, `status`, `naming` and the service-neutral `backend`.

mod claim;
mod create;
mod delete;
mod maintain;
mod rotation;

pub(crate) use claim::claim_of;
use claim::*;
use create::*;
use delete::*;
use maintain::*;
use rotation::*;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use rand::RngCore;
use serde_json::{Value, json};

use super::common::{self, Error, Result};
use super::{Context, echo, waits};

use super::marker::{self, PendingMarker};
use super::secret::{self as secret_step, Existing};
use super::status::{self, Outcome, Reason};
use crate::api::{
    CLEANUP_FINALIZER, CredentialsMode, DeletionPolicy, GatewayApp, GatewayAppStatus,
    RotationStatus, annotations,
};
use crate::backend::{ChosenCredentials, CloudApp, Target};
use crate::cloud::{Account, CloudClient, ErrorCategory, SecretString};
use crate::naming;

pub const FIELD_MANAGER: &str = "appauth-operator";

/// Entry point for the controller runtime.
pub async fn reconcile(app: Arc<GatewayApp>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let started = Instant::now();
    let result = reconcile_inner(&app, &ctx).await;
    let reason = match &result {
        Ok((_, reason)) => *reason,
        Err(_) => Some("KubernetesApi"),
    };
    ctx.metrics
        .reconciled("GatewayApp", started.elapsed(), reason);
    if let Ok((action, _)) = &result {
        tracing::debug!(object = %app.name_any(), ?action, "reconciled");
    }
    result.map(|(action, _)| action)
}

/// The action, and the failure reason (for metrics) when the reconcile reported one.
async fn reconcile_inner(
    app: &Arc<GatewayApp>,
    ctx: &Arc<Context>,
) -> Result<(Action, Option<&'static str>), kube::Error> {
    if ctx.is_stale(app.as_ref()) {
        // Our own newer write has not reached the cache yet; its watch event brings it.
        ctx.metrics.skipped("GatewayApp", "stale");
        return Ok((Action::requeue(Duration::from_secs(2)), None));
    }
    let uid = app.uid().unwrap_or_default();
    let secret = secret_step::secret_name(app);
    let rv = echo::version_of(&app.metadata);
    if let Some(wait) = ctx.settled.remaining(&uid, rv, &secret, Instant::now()) {
        // Exactly as our last reconcile left it (an echo of our own write that raced its
        // response): nothing to do until the next resync or rotation.
        ctx.metrics.skipped("GatewayApp", "settled");
        return Ok((Action::requeue(wait), None));
    }
    ctx.settled.begin(&uid);
    if app.metadata.deletion_timestamp.is_none()
        && !is_paused(app)
        && common::rejected_generation(app.as_ref(), ctx)
    {
        // The cloud rejected this spec as invalid; wait for it to change.
        return Ok((Action::await_change(), None));
    }
    let result = if is_paused(app) {
        pause(app, ctx).await
    } else if app.metadata.deletion_timestamp.is_some() {
        cleanup(app, ctx).await
    } else {
        apply(app, ctx).await
    };
    common::settle(app.as_ref(), ctx, result, |reason, message| async move {
        write_status(app, ctx, None, &Outcome::failed(reason, message)).await
    })
    .await
}

/// Errors that escaped `reconcile` (API failures): retry with per-object backoff.
pub fn error_policy(app: Arc<GatewayApp>, error: &kube::Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(object = %app.name_any(), error = %error, "reconcile error");
    Action::requeue(ctx.backoff(&app.uid().unwrap_or_default(), false))
}

fn is_paused(app: &GatewayApp) -> bool {
    app.annotations()
        .get(annotations::PAUSED)
        .is_some_and(|v| v == "true")
}

fn api(app: &GatewayApp, ctx: &Context) -> Api<GatewayApp> {
    Api::namespaced(ctx.client.clone(), &app.namespace().unwrap_or_default())
}

fn secrets(app: &GatewayApp, ctx: &Context) -> Api<Secret> {
    Api::namespaced(ctx.client.clone(), &app.namespace().unwrap_or_default())
}

async fn get_secret(app: &GatewayApp, ctx: &Context, name: &str) -> Result<Option<Secret>> {
    Ok(secrets(app, ctx).get_opt(name).await?)
}

fn status(app: &GatewayApp) -> GatewayAppStatus {
    app.status.clone().unwrap_or_default()
}

/// The app id this object is bound to: status, or the mirrored annotation (an object restored
/// from a backup or from Git finds its app that way).
fn known_app_id(app: &GatewayApp) -> Option<String> {
    known_app_id_ref(app).map(str::to_string)
}

/// `known_app_id` without copying.
fn known_app_id_ref(app: &GatewayApp) -> Option<&str> {
    app.status
        .as_ref()
        .and_then(|s| s.app_id.as_deref())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            app.annotations()
                .get(annotations::APP_ID)
                .map(String::as_str)
                .filter(|s| !s.is_empty())
        })
}

fn marker_of(app: &GatewayApp) -> Option<PendingMarker> {
    app.annotations()
        .get(annotations::PENDING)
        .and_then(|v| PendingMarker::parse(v))
}

/// The cloud name: never recomputed once in use.
fn cloud_name(app: &GatewayApp, ctx: &Context) -> String {
    status(app)
        .app_name
        .or_else(|| marker_of(app).map(|m| m.name))
        .or_else(|| app.spec.app_name.clone())
        .unwrap_or_else(|| {
            naming::default_app_name(
                &ctx.settings.cluster_name,
                &app.namespace().unwrap_or_default(),
                &app.name_any(),
            )
        })
}

async fn resolve_account(app: &GatewayApp, ctx: &Context) -> Result<Account> {
    let ns = app.namespace().unwrap_or_default();
    let deleting = app.metadata.deletion_timestamp.is_some();
    common::resolve_account(ctx, &ns, app.spec.account_ref.as_ref(), deleting).await
}

async fn release_account(app: &GatewayApp, ctx: &Context) -> Result<()> {
    let ns = app.namespace().unwrap_or_default();
    common::release_accounts(
        ctx,
        &ns,
        app.spec.account_ref.as_ref(),
        status(app).account_secret.as_deref(),
        &app.uid().unwrap_or_default(),
    )
    .await
}

/// SPEC §3.5: the object must still resolve to the account, region and instance it was created in.
fn check_account_unchanged(app: &GatewayApp, account: &Account, target: &Target) -> Result<()> {
    let st = status(app);
    let changed = |have: &Option<String>, want: &str| have.as_deref().is_some_and(|h| h != want);
    if changed(&st.project, &account.project_id)
        || changed(&st.region, &account.region)
        || changed(&st.instance, target.instance())
    {
        return Err(Error::failed(
            Reason::AccountChanged,
            format!(
                "the app lives in project {} / region {} / instance {}; the object now resolves elsewhere. Restore the account, or set deletionPolicy: Retain and delete the object",
                st.project.unwrap_or_default(),
                st.region.unwrap_or_default(),
                st.instance.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

struct Delivered {
    app_id: String,
    app_name: String,
    secret_name: String,
    /// A rotation completed in this reconcile (recorded only after the Secret was written).
    rotated: Option<RotationStatus>,
}

async fn apply(app: &GatewayApp, ctx: &Context) -> Result<Action> {
    let target = Target::from_spec(&app.spec).ok_or_else(|| {
        Error::failed(
            Reason::InvalidSpec,
            "spec: exactly one of apig, modelarts, dataarts or roma must be set",
        )
    })?;
    let account = resolve_account(app, ctx).await?;
    check_account_unchanged(app, &account, &target)?;
    let client = ctx.cloud.client(&account);
    let uid = app.uid().unwrap_or_default();

    let delivered = match known_app_id(app) {
        Some(id) => maintain(app, ctx, &client, &target, &id).await?,
        None => {
            let made = create_or_recover(app, ctx, &client, &target).await?;
            // The create (or the adoption) sent this generation's description.
            ctx.pushed.record(&uid, app.metadata.generation);
            made
        }
    };
    let st = status(app);
    let new_status = GatewayAppStatus {
        service: Some(target.service().as_str().to_string()),
        app_id: Some(delivered.app_id.clone()),
        app_name: Some(delivered.app_name.clone()),
        project: Some(account.project_id.clone()),
        region: Some(account.region.clone()),
        instance: Some(target.instance().to_string()),
        secret_name: Some(delivered.secret_name.clone()),
        rotation: delivered.rotated.clone().or(st.rotation.clone()),
        account_secret: app.spec.account_ref.as_ref().map(|r| r.name.clone()),
        ..st.clone()
    };
    // The account used before a ref change, released before the status forgets it.
    common::release_previous_account(
        ctx,
        &app.namespace().unwrap_or_default(),
        st.account_secret.as_deref(),
        app.spec.account_ref.as_ref(),
        &uid,
    )
    .await?;
    let fresh = st.app_id.is_none();
    let rotated = delivered.rotated.is_some();
    write_status(
        app,
        ctx,
        Some(new_status),
        &Outcome::available(format!(
            "app {} delivered into Secret {}",
            delivered.app_id, delivered.secret_name
        )),
    )
    .await?;
    let mirror = ctx.settings.mirror_app_id
        && (fresh
            || rotated
            || app.annotations().get(annotations::APP_ID) != Some(&delivered.app_id)
            || app.annotations().contains_key(annotations::PENDING));
    // `rotating` goes once the rotation is recorded (set in this very reconcile, or earlier).
    if mirror || rotated || app.annotations().contains_key(annotations::ROTATING) {
        // Mirror the id for restores (external-name pattern); the markers have done their job.
        // Without the mirror, a pending marker stays: with the id in status it is inert.
        let mut annots = serde_json::Map::new();
        annots.insert(annotations::ROTATING.into(), Value::Null);
        if mirror {
            annots.insert(annotations::APP_ID.into(), json!(delivered.app_id));
            annots.insert(annotations::PENDING.into(), Value::Null);
        }
        let patch = json!({"metadata": {"annotations": annots}});
        let written = api(app, ctx)
            .patch(
                &app.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
        ctx.note_written(&written, app);
    }
    ctx.succeeded(&uid);
    // A service that cannot reset has no rotation to schedule (it warns at its resyncs).
    let rotation_at = next_rotation(app, delivered.rotated.as_ref()).filter(|_| target.can_reset());
    let next = match rotation_at {
        Some(at) => ctx.resync().min(
            (at - Utc::now())
                .to_std()
                .unwrap_or_default()
                .max(Duration::from_secs(1)),
        ),
        None => ctx.resync(),
    };
    let rv = ctx
        .own_writes
        .latest(&uid)
        .unwrap_or(0)
        .max(echo::version_of(&app.metadata));
    ctx.settled.record(&uid, rv, Instant::now() + next);
    Ok(Action::requeue(next))
}

/// Writes status (observedGeneration, conditions, and the given fields) by server-side apply,
/// only when something changed.
async fn write_status(
    app: &GatewayApp,
    ctx: &Context,
    fields: Option<GatewayAppStatus>,
    outcome: &Outcome,
) -> Result<(), kube::Error> {
    let old = status(app);
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let conditions = status::conditions(&old.conditions, outcome, app.metadata.generation, &now);
    let mut new = fields.unwrap_or_else(|| old.clone());
    new.observed_generation = app.metadata.generation;
    new.conditions = conditions;
    let unchanged = GatewayAppStatus {
        conditions: Vec::new(),
        ..new.clone()
    } == GatewayAppStatus {
        conditions: Vec::new(),
        ..old.clone()
    } && status::same_conditions(&new.conditions, &old.conditions);
    if unchanged {
        return Ok(());
    }
    let patch =
        json!({"apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp", "status": new});
    let written = api(app, ctx)
        .patch_status(
            &app.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await?;
    ctx.note_written(&written, app);
    Ok(())
}

/// Step (1) of §3.4: one conflict-checked patch adds the finalizer and the pending marker.
async fn write_marker(app: &GatewayApp, ctx: &Context, name: &str) -> Result<PendingMarker> {
    let marker = PendingMarker {
        name: name.to_string(),
        time: Utc::now(),
        instance: ctx.settings.instance.clone(),
    };
    let mut finalizers = app.finalizers().to_vec();
    if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
        finalizers.push(CLEANUP_FINALIZER.to_string());
    }
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "annotations": {annotations::PENDING: marker.to_annotation()},
        "resourceVersion": app.resource_version(),
    }});
    let written = api(app, ctx)
        .patch(
            &app.name_any(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
    ctx.note_written(&written, app);
    Ok(marker)
}
