//! The GatewayApp reconciler (SPEC §3): a thin driver over the pure steps in `secret`,
//! `marker`, `status`, `naming` and the service-neutral `backend`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use rand::RngCore;
use serde_json::json;

use super::Context;
use super::account;
use super::marker::{self, PendingMarker};
use super::secret::{self as secret_step, Existing};
use super::status::{self, Outcome, Reason};
use crate::api::{
    CLEANUP_FINALIZER, CredentialsMode, DeletionPolicy, GatewayApp, GatewayAppStatus,
    IN_USE_FINALIZER, RotationStatus, annotations,
};
use crate::backend::{ChosenCredentials, CloudApp, Target};
use crate::cloud::{Account, CloudClient, CloudError, ErrorCategory, SecretString};
use crate::naming;

pub const FIELD_MANAGER: &str = "appauth-operator";

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
    /// Not an error: try again after this long (a foreign marker is ageing, a conflict).
    #[error("requeue")]
    Requeue(Duration),
}

impl Error {
    fn failed(reason: Reason, message: impl Into<String>) -> Self {
        Error::Failed {
            reason,
            message: message.into(),
            retry_after: None,
            on_change_only: false,
        }
    }

    /// A cloud error as a condition. Secret material never reaches the message: the client
    /// scrubs what it sent and reports codes, not bodies.
    fn cloud(e: CloudError) -> Self {
        let reason = match e.category() {
            ErrorCategory::InvalidInput | ErrorCategory::Conflict => Reason::InvalidSpec,
            ErrorCategory::QuotaExceeded => Reason::QuotaExceeded,
            ErrorCategory::Unauthorized | ErrorCategory::Forbidden => Reason::Unauthorized,
            ErrorCategory::AlreadyExists => Reason::NameConflict,
            _ => Reason::CloudUnavailable,
        };
        Error::Failed {
            reason,
            message: e.to_string(),
            retry_after: e.retry_after(),
            // Only a spec change can fix what the cloud rejected as invalid: no retry until then.
            on_change_only: e.category() == ErrorCategory::InvalidInput,
        }
    }
}

type Result<T, E = Error> = std::result::Result<T, E>;

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
    let uid = app.uid().unwrap_or_default();
    if ctx.is_stale(app.as_ref()) {
        // Our own newer write has not reached the cache yet; its watch event brings it.
        return Ok((Action::requeue(Duration::from_secs(2)), None));
    }
    let rejected = ctx
        .rejected
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&uid)
        .copied();
    if app.metadata.deletion_timestamp.is_none()
        && !is_paused(app)
        && rejected.is_some()
        && rejected == app.metadata.generation
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
    match result {
        Ok(action) => {
            ctx.succeeded(&uid);
            Ok((action, None))
        }
        Err(Error::Requeue(after)) => Ok((Action::requeue(after), None)),
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
            tracing::info!(object = %app.name_any(), namespace = app.namespace().unwrap_or_default(), reason = reason.as_str(), "reconcile failed: {message}");
            if reason.is_terminal() {
                ctx.event(
                    &app.object_ref(&()),
                    EventType::Warning,
                    reason.as_str(),
                    "Reconcile",
                    message.clone(),
                )
                .await;
            }
            if app.metadata.deletion_timestamp.is_none() {
                write_status(app, ctx, None, &Outcome::failed(reason, message)).await?;
            }
            if on_change_only {
                let generation = app.metadata.generation.unwrap_or_default();
                ctx.rejected
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(uid.clone(), generation);
                return Ok((Action::await_change(), Some(reason.as_str())));
            }
            let wait = match retry_after {
                Some(d) => d,
                None if reason.is_terminal() => ctx.resync(),
                None => ctx.backoff(&uid, reason == Reason::QuotaExceeded),
            };
            Ok((Action::requeue(wait), Some(reason.as_str())))
        }
    }
}

/// Errors that escaped `reconcile` (API failures): retry with per-object backoff.
pub fn error_policy(app: Arc<GatewayApp>, error: &kube::Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(object = %app.name_any(), error = %error, "reconcile error");
    Action::requeue(ctx.backoff(&app.uid().unwrap_or_default(), false))
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
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
    status(app).app_id.filter(|s| !s.is_empty()).or_else(|| {
        app.annotations()
            .get(annotations::APP_ID)
            .cloned()
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

// ---- account ----

async fn resolve_account(app: &GatewayApp, ctx: &Context) -> Result<Account> {
    let Some(reference) = &app.spec.account_ref else {
        return ctx.default_account.clone().ok_or_else(|| {
            Error::failed(
                Reason::AccountInvalid,
                "no spec.accountRef and the operator has no default account configured",
            )
        });
    };
    let secret = get_secret(app, ctx, &reference.name)
        .await?
        .ok_or_else(|| {
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
    if app.metadata.deletion_timestamp.is_none()
        && !secret.finalizers().iter().any(|f| f == IN_USE_FINALIZER)
    {
        let mut finalizers = secret.finalizers().to_vec();
        finalizers.push(IN_USE_FINALIZER.to_string());
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": secret.resource_version()}});
        secrets(app, ctx)
            .patch(
                &reference.name,
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
    }
    Ok(account)
}

/// Drops the in-use finalizer from an account Secret when no live object needs it any more.
async fn release_account(app: &GatewayApp, ctx: &Context) -> Result<()> {
    let Some(reference) = &app.spec.account_ref else {
        return Ok(());
    };
    let ns = app.namespace().unwrap_or_default();
    let uid = app.uid().unwrap_or_default();
    let still_used = ctx.gateway_apps.get().is_some_and(|store| {
        store.state().iter().any(|other| {
            other.uid().unwrap_or_default() != uid
                && other.namespace().as_deref() == Some(ns.as_str())
                && other
                    .spec
                    .account_ref
                    .as_ref()
                    .is_some_and(|r| r.name == reference.name)
                && other.finalizers().iter().any(|f| f == CLEANUP_FINALIZER)
        })
    });
    if still_used {
        return Ok(());
    }
    if let Some(secret) = get_secret(app, ctx, &reference.name).await?
        && secret.finalizers().iter().any(|f| f == IN_USE_FINALIZER)
    {
        let finalizers: Vec<&String> = secret
            .finalizers()
            .iter()
            .filter(|f| *f != IN_USE_FINALIZER)
            .collect();
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": secret.resource_version()}});
        secrets(app, ctx)
            .patch(
                &reference.name,
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
    }
    Ok(())
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

// ---- apply ----

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
        None => create_or_recover(app, ctx, &client, &target).await?,
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
        ..st.clone()
    };
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
    if fresh
        || rotated
        || !app.annotations().contains_key(annotations::APP_ID)
        || app.annotations().contains_key(annotations::PENDING)
        || app.annotations().contains_key(annotations::ROTATING)
    {
        // Mirror the id for restores (external-name pattern); the markers have done their job.
        let patch = json!({"metadata": {"annotations": {
            annotations::APP_ID: delivered.app_id,
            annotations::PENDING: null,
            annotations::ROTATING: null,
        }}});
        let written = api(app, ctx)
            .patch(
                &app.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
        ctx.note_written(&written);
    }
    ctx.succeeded(&uid);
    let next = match next_rotation(app, delivered.rotated.as_ref()) {
        Some(at) => ctx.resync().min(
            (at - Utc::now())
                .to_std()
                .unwrap_or_default()
                .max(Duration::from_secs(1)),
        ),
        None => ctx.resync(),
    };
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
    ctx.note_written(&written);
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
    ctx.note_written(&written);
    Ok(marker)
}

fn claimed_by_other(app: &GatewayApp, ctx: &Context, app_id: &str) -> Option<String> {
    let uid = app.uid().unwrap_or_default();
    ctx.gateway_apps.get().and_then(|store| {
        store
            .state()
            .iter()
            .find(|o| {
                o.uid().unwrap_or_default() != uid && known_app_id(o).as_deref() == Some(app_id)
            })
            .map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
    })
}

fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Client-chosen credentials for Generated (kept in the target Secret before the create) and
/// FromSecret (from the source Secret).
async fn chosen_credentials(
    app: &GatewayApp,
    ctx: &Context,
) -> Result<Option<(String, SecretString)>> {
    match app.spec.credentials {
        CredentialsMode::CloudGenerated => Ok(None),
        CredentialsMode::FromSecret => {
            let name = app
                .spec
                .credentials_from
                .as_ref()
                .map(|r| r.name.clone())
                .unwrap_or_default();
            let source = get_secret(app, ctx, &name).await?.ok_or_else(|| {
                Error::failed(
                    Reason::InvalidSpec,
                    format!("spec.credentialsFrom: Secret {name} not found"),
                )
            })?;
            let data = source.data.unwrap_or_default();
            let read = |k: &str| {
                data.get(k)
                    .and_then(|v| String::from_utf8(v.0.clone()).ok())
            };
            match (read("app_key"), read("app_secret")) {
                (Some(k), Some(s)) => Ok(Some((k, SecretString::from(s)))),
                _ => Err(Error::failed(
                    Reason::InvalidSpec,
                    format!(
                        "spec.credentialsFrom: Secret {name} needs keys app_key and app_secret"
                    ),
                )),
            }
        }
        CredentialsMode::Generated => {
            // Reuse what an earlier attempt stored, so a retried create sends the same values.
            let name = secret_step::secret_name(app);
            if let Some(existing) = get_secret(app, ctx, &name).await?
                && existing.annotations().get(annotations::OWNER_UID) == app.uid().as_ref()
                && let Some(found) = secret_step::read_credentials(app, &existing)
            {
                return Ok(Some(found));
            }
            let creds = (
                format!("k{}", random_token(31)),
                SecretString::from(format!("s{}", random_token(39))),
            );
            let staged = secret_step::Credentials {
                app_id: String::new(),
                app_key: creds.0.clone(),
                app_secret: creds.1.clone(),
                app_code: None,
            };
            write_secret(app, ctx, &staged).await?;
            Ok(Some(creds))
        }
    }
}

async fn create_or_recover(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
) -> Result<Delivered> {
    let uid = app.uid().unwrap_or_default();
    let mut name = cloud_name(app, ctx);
    let remark = naming::remark_with_fingerprint(app.spec.description.as_deref(), &uid);
    // A marker this reconcile wrote (conflict-checked against the object it read) proves no
    // earlier attempt exists, so the lookup below can be skipped: one cloud call per new app.
    let (mut marker, fresh_marker) = match marker_of(app) {
        Some(m) => (m, false),
        None => (write_marker(app, ctx, &name).await?, true),
    };
    // The name changed before the app existed (a typo the cloud rejected was fixed): settle the
    // old name first, then move the marker to the new one.
    if let Some(wanted) = app.spec.app_name.clone().filter(|w| *w != marker.name) {
        let old = target
            .find_by_name(client, &marker.name)
            .await
            .map_err(Error::cloud)?;
        if !old
            .iter()
            .any(|a| naming::has_fingerprint(a.remark.as_deref(), &uid))
        {
            let unresolved = ctx
                .unresolved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&uid);
            marker::may_create(
                &marker,
                &ctx.settings.instance,
                unresolved,
                Utc::now(),
                ctx.settings.marker_grace,
            )
            .map_err(Error::Requeue)?;
            ctx.unresolved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uid);
            let current = api(app, ctx).get(&app.name_any()).await?;
            marker = write_marker(&current, ctx, &wanted).await?;
            name = wanted;
        }
    }

    // Never create an app whose credentials could not be delivered.
    let secret_name = secret_step::secret_name(app);
    let existing = get_secret(app, ctx, &secret_name).await?;
    let ours = existing
        .as_ref()
        .is_some_and(|s| s.annotations().get(annotations::OWNER_UID) == app.uid().as_ref());
    if !ours && existing.is_some() {
        return Err(Error::failed(
            Reason::SecretConflict,
            format!("Secret {secret_name} exists and is not managed by this GatewayApp"),
        ));
    }

    // Look before creating: an earlier attempt (ours, or a crashed process's) may have made it.
    let found = if fresh_marker {
        Vec::new()
    } else {
        target
            .find_by_name(client, &name)
            .await
            .map_err(Error::cloud)?
    };
    let (mut ours, foreign): (Vec<CloudApp>, Vec<CloudApp>) = found
        .into_iter()
        .partition(|a| naming::has_fingerprint(a.remark.as_deref(), &uid));
    ours.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(first) = ours.first().cloned() {
        // Twins can only exist where names are not unique; keep one, delete the rest.
        for twin in ours.iter().skip(1) {
            target
                .delete(client, &twin.id)
                .await
                .map_err(Error::cloud)?;
            ctx.event(
                &app.object_ref(&()),
                EventType::Warning,
                "DuplicateRemoved",
                "Recover",
                format!("deleted duplicate cloud app {} named {name}", twin.id),
            )
            .await;
        }
        ctx.unresolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uid);
        ctx.event(
            &app.object_ref(&()),
            EventType::Normal,
            "Recovered",
            "Recover",
            format!("found app {} created by an earlier attempt", first.id),
        )
        .await;
        return deliver_new(app, ctx, client, target, first, None).await;
    }
    if let Some(other) = foreign.first() {
        let wants_adoption = app
            .annotations()
            .get(annotations::ADOPT)
            .is_some_and(|v| v == "true");
        if !(wants_adoption && ctx.settings.allow_adoption) {
            return Err(Error::failed(
                Reason::NameConflict,
                format!(
                    "a cloud app named {name} already exists ({}) and was not created for this object; set annotation {}: \"true\" to adopt it",
                    other.id,
                    annotations::ADOPT
                ),
            ));
        }
        if let Some(owner) = claimed_by_other(app, ctx, &other.id) {
            return Err(Error::failed(
                Reason::AlreadyManaged,
                format!("app {} is already managed by {owner}", other.id),
            ));
        }
        let adopted = other.clone();
        if target.can_update() {
            target
                .update_remark(client, &adopted, &remark)
                .await
                .map_err(Error::cloud)?;
        }
        ctx.event(
            &app.object_ref(&()),
            EventType::Normal,
            "Adopted",
            "Adopt",
            format!("adopted existing app {} named {name}", adopted.id),
        )
        .await;
        return deliver_new(app, ctx, client, target, adopted, None).await;
    }

    // Nothing found: create, unless a create of unknown outcome may still land.
    let grace = ctx.settings.marker_grace;
    if let Some(at) = ctx
        .unresolved
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&uid)
        .copied()
    {
        let since = at.elapsed();
        if since < grace {
            return Err(Error::Requeue(grace - since));
        }
    }
    marker::may_create(&marker, &ctx.settings.instance, false, Utc::now(), grace)
        .map_err(Error::Requeue)?;
    let fresh_marker = marker.instance == ctx.settings.instance
        && (Utc::now() - marker.time).to_std().unwrap_or_default() < grace / 2;
    if !fresh_marker {
        // Re-stamp the marker: a crash during this create must make the next process wait.
        let current = api(app, ctx).get(&app.name_any()).await?;
        write_marker(&current, ctx, &name).await?;
    }
    let chosen = chosen_credentials(app, ctx).await?;
    ctx.unresolved
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(uid.clone(), Instant::now());
    crate::failpoint("before-create");
    let result = target
        .create(
            client,
            &name,
            &remark,
            chosen
                .as_ref()
                .map(|(k, s)| ChosenCredentials { key: k, secret: s }),
        )
        .await;
    match result {
        Ok(created) => {
            ctx.unresolved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uid);
            crate::failpoint("after-create");
            ctx.event(
                &app.object_ref(&()),
                EventType::Normal,
                "Created",
                "Create",
                format!(
                    "created {} app {} named {name}",
                    target.service(),
                    created.id
                ),
            )
            .await;
            deliver_new(app, ctx, client, target, created, chosen.map(|c| c.1)).await
        }
        Err(e) if e.outcome_unknown() => Err(Error::Requeue(Duration::from_millis(500))),
        Err(e) => {
            ctx.unresolved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uid);
            if e.category() == ErrorCategory::AlreadyExists {
                // With a marker set, "already exists" means "look again", never a conflict.
                return Err(Error::Requeue(Duration::from_millis(200)));
            }
            if e.category() == ErrorCategory::InvalidInput
                && app.spec.credentials == CredentialsMode::Generated
            {
                // The staged values will never be used: clear them.
                let name = secret_step::secret_name(app);
                if let Some(s) = get_secret(app, ctx, &name).await?
                    && s.annotations().get(annotations::OWNER_UID) == app.uid().as_ref()
                {
                    secrets(app, ctx)
                        .delete(&name, &DeleteParams::default())
                        .await?;
                }
            }
            Err(Error::cloud(e))
        }
    }
}

/// Steps (3) for a new or recovered app: credentials into the Secret.
async fn deliver_new(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    cloud: CloudApp,
    known_secret: Option<SecretString>,
) -> Result<Delivered> {
    let secret = match known_secret.or_else(|| cloud.secret.clone()) {
        Some(s) => s,
        None => obtain_secret(app, ctx, client, target, &cloud).await?,
    };
    let key = cloud.key.clone().ok_or_else(|| {
        Error::failed(
            Reason::CloudUnavailable,
            format!("app {} has no key in the cloud's answer", cloud.id),
        )
    })?;
    let app_code = if app.spec.app_code {
        target
            .ensure_app_code(client, &cloud)
            .await
            .map_err(Error::cloud)?
    } else {
        None
    };
    let creds = secret_step::Credentials {
        app_id: cloud.id.clone(),
        app_key: key,
        app_secret: secret,
        app_code,
    };
    let secret_name = write_secret(app, ctx, &creds).await?;
    crate::failpoint("after-secret");
    ctx.last_read
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(app.uid().unwrap_or_default(), Instant::now());
    crate::failpoint("before-status");
    Ok(Delivered {
        app_id: cloud.id,
        app_name: cloud.name,
        secret_name,
        rotated: None,
    })
}

/// The secret of an existing app: read back (show, ROMA's secret endpoint, ModelArts' plaintext
/// flag); where nothing can be read, reset it and say so.
async fn obtain_secret(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    cloud: &CloudApp,
) -> Result<SecretString> {
    if let Some(s) = target
        .read_secret(client, cloud)
        .await
        .map_err(Error::cloud)?
    {
        return Ok(s);
    }
    if !target.can_reset() {
        return Err(Error::failed(
            Reason::CloudUnavailable,
            format!("the secret of app {} cannot be read back", cloud.id),
        ));
    }
    let reset = target
        .reset_secret(client, cloud, None)
        .await
        .map_err(Error::cloud)?;
    let secret = match reset {
        Some(s) => s,
        None => target
            .read_secret(client, cloud)
            .await
            .map_err(Error::cloud)?
            .ok_or_else(|| {
                Error::failed(
                    Reason::CloudUnavailable,
                    "the reset secret could not be read",
                )
            })?,
    };
    ctx.event(
        &app.object_ref(&()),
        EventType::Warning,
        "SecretReset",
        "Deliver",
        format!(
            "the secret of app {} could not be read back, so it was reset",
            cloud.id
        ),
    )
    .await;
    Ok(secret)
}

/// Server-side applies the Secret, refusing to touch one that is not ours. Returns its name.
async fn write_secret(
    app: &GatewayApp,
    ctx: &Context,
    creds: &secret_step::Credentials,
) -> Result<String> {
    let name = secret_step::secret_name(app);
    let existing = get_secret(app, ctx, &name).await?;
    let staged_by_us = existing
        .as_ref()
        .is_some_and(|s| s.annotations().get(annotations::OWNER_UID) == app.uid().as_ref());
    if !staged_by_us
        && secret_step::classify(app, existing.as_ref(), &creds.app_id) == Existing::Foreign
    {
        return Err(Error::failed(
            Reason::SecretConflict,
            format!("Secret {name} exists and is not managed by this GatewayApp"),
        ));
    }
    let desired = secret_step::desired(app, creds);
    secrets(app, ctx)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&desired),
        )
        .await?;
    Ok(name)
}

/// An app that exists: check claims, drift (at most once per resync period), and deliver.
async fn maintain(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
) -> Result<Delivered> {
    let uid = app.uid().unwrap_or_default();
    if let Some(owner) = claimed_by_other(app, ctx, app_id) {
        return Err(Error::failed(
            Reason::AlreadyManaged,
            format!("app {app_id} is already managed by {owner}"),
        ));
    }
    let name = secret_step::secret_name(app);
    let existing = get_secret(app, ctx, &name).await?;
    let state = secret_step::classify(app, existing.as_ref(), app_id);
    if state == Existing::Foreign {
        return Err(Error::failed(
            Reason::SecretConflict,
            format!("Secret {name} exists and is not managed by this GatewayApp"),
        ));
    }
    let read_due = ctx
        .last_read
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&uid)
        .is_none_or(|t| t.elapsed() >= ctx.settings.resync);
    let app_name = cloud_name(app, ctx);
    let remark = naming::remark_with_fingerprint(app.spec.description.as_deref(), &uid);
    let resuming_rotation = app.annotations().contains_key(annotations::ROTATING);
    let rotation = rotation_due(app, Utc::now());
    if resuming_rotation || rotation.is_some() {
        if target.can_reset() {
            let cause = rotation.unwrap_or_default();
            return rotate(app, ctx, client, target, app_id, resuming_rotation, cause).await;
        }
        warn_rotation_unsupported(app, ctx, target).await;
    }
    if let Some((key, value)) = from_secret_changed(app, ctx, existing.as_ref()).await? {
        return push_source(app, ctx, client, target, app_id, &key, &value).await;
    }
    if state == Existing::UpToDate && !read_due {
        cleanup_old_secret(app, ctx, &name).await?;
        return Ok(Delivered {
            app_id: app_id.to_string(),
            app_name,
            secret_name: name,
            rotated: None,
        });
    }

    let cloud = match target.show(client, app_id).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => return recreate(app, ctx, client, target, app_id).await,
        Err(e) => return Err(Error::cloud(e)),
    };
    ctx.last_read
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(uid.clone(), Instant::now());
    let want_description = app.spec.description.clone().unwrap_or_default();
    if naming::strip_fingerprint(cloud.remark.as_deref().unwrap_or_default()) != want_description
        || !naming::has_fingerprint(cloud.remark.as_deref(), &uid)
    {
        if target.can_update() {
            target
                .update_remark(client, &cloud, &remark)
                .await
                .map_err(Error::cloud)?;
        } else {
            ctx.event(
                &app.object_ref(&()),
                EventType::Normal,
                "UpdateUnsupported",
                "Update",
                format!("{} cannot update an app's description", target.service()),
            )
            .await;
        }
    }
    let secret_key_matches = existing
        .as_ref()
        .and_then(|s| secret_step::read_credentials(app, s))
        .is_some_and(|(k, _)| Some(k) == cloud.key);
    if state == Existing::UpToDate && secret_key_matches {
        cleanup_old_secret(app, ctx, &name).await?;
        return Ok(Delivered {
            app_id: app_id.to_string(),
            app_name: cloud.name,
            secret_name: name,
            rotated: None,
        });
    }
    // Missing, edited or stale: deliver again from the cloud.
    let secret = match cloud.secret.clone() {
        Some(s) => s,
        None => obtain_secret(app, ctx, client, target, &cloud).await?,
    };
    let key = cloud.key.clone().ok_or_else(|| {
        Error::failed(Reason::CloudUnavailable, format!("app {app_id} has no key"))
    })?;
    let app_code = if app.spec.app_code {
        target
            .ensure_app_code(client, &cloud)
            .await
            .map_err(Error::cloud)?
    } else {
        None
    };
    let creds = secret_step::Credentials {
        app_id: app_id.to_string(),
        app_key: key,
        app_secret: secret,
        app_code,
    };
    let written = write_secret(app, ctx, &creds).await?;
    cleanup_old_secret(app, ctx, &written).await?;
    Ok(Delivered {
        app_id: app_id.to_string(),
        app_name: cloud.name,
        secret_name: written,
        rotated: None,
    })
}

/// After a rename of spec.secret.name: the new Secret is written, so delete the old one if ours.
async fn cleanup_old_secret(app: &GatewayApp, ctx: &Context, current: &str) -> Result<()> {
    let Some(old) = status(app).secret_name.filter(|n| n != current) else {
        return Ok(());
    };
    if let Some(s) = get_secret(app, ctx, &old).await?
        && s.annotations().get(annotations::OWNER_UID) == app.uid().as_ref()
    {
        secrets(app, ctx)
            .delete(&old, &DeleteParams::default())
            .await?;
    }
    Ok(())
}

/// The app is confirmed gone: forget the id and create it again, with the full §3.4 order.
async fn recreate(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    old_id: &str,
) -> Result<Delivered> {
    ctx.event(
        &app.object_ref(&()),
        EventType::Warning,
        "Recreating",
        "Drift",
        format!(
            "app {old_id} no longer exists in the cloud; creating it again with new credentials"
        ),
    )
    .await;
    let name = cloud_name(app, ctx);
    let marker = write_marker(app, ctx, &name).await?;
    let patch = json!({"metadata": {"annotations": {annotations::APP_ID: null}}});
    let updated = api(app, ctx)
        .patch(
            &app.name_any(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
    let mut fresh = updated.clone();
    // Status still holds the old id; the create path must not see it.
    fresh.status = Some(GatewayAppStatus {
        app_id: None,
        ..status(app)
    });
    let _ = marker;
    create_or_recover(&fresh, ctx, client, target).await
}

// ---- pause and deletion ----

async fn pause(app: &GatewayApp, ctx: &Context) -> Result<Action> {
    if app.metadata.deletion_timestamp.is_some() {
        remove_finalizer(app, ctx).await?;
        ctx.event(
            &app.object_ref(&()),
            EventType::Normal,
            "Detached",
            "Delete",
            "paused object deleted: the cloud app was left untouched".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let outcome = Outcome {
        paused: true,
        ..Outcome::available(format!("{}: \"true\": no cloud calls", annotations::PAUSED))
    };
    write_status(app, ctx, None, &outcome).await?;
    Ok(Action::await_change())
}

async fn remove_finalizer(app: &GatewayApp, ctx: &Context) -> Result<()> {
    if !app.finalizers().iter().any(|f| f == CLEANUP_FINALIZER) {
        return Ok(());
    }
    let finalizers: Vec<&String> = app
        .finalizers()
        .iter()
        .filter(|f| *f != CLEANUP_FINALIZER)
        .collect();
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": app.resource_version()}});
    api(app, ctx)
        .patch(
            &app.name_any(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
    Ok(())
}

async fn cleanup(app: &GatewayApp, ctx: &Context) -> Result<Action> {
    if !app.finalizers().iter().any(|f| f == CLEANUP_FINALIZER) {
        return Ok(Action::await_change());
    }
    if app.spec.deletion_policy == DeletionPolicy::Delete {
        let target = Target::from_spec(&app.spec)
            .ok_or_else(|| Error::failed(Reason::InvalidSpec, "no service block"))?;
        let account = resolve_account(app, ctx).await?;
        check_account_unchanged(app, &account, &target)?;
        let client = ctx.cloud.client(&account);
        let uid = app.uid().unwrap_or_default();
        let mut ids: Vec<String> = known_app_id(app).into_iter().collect();
        if ids.is_empty() && marker_of(app).is_some() {
            // Resolve the open marker: a create may have happened before we saw its answer.
            let name = cloud_name(app, ctx);
            let found = target
                .find_by_name(&client, &name)
                .await
                .map_err(Error::cloud)?;
            ids.extend(
                found
                    .into_iter()
                    .filter(|a| naming::has_fingerprint(a.remark.as_deref(), &uid))
                    .map(|a| a.id),
            );
        }
        for id in &ids {
            if let Target::ModelArts { workspace } = &target {
                unbind_all(app, ctx, &client, workspace, id).await?;
            }
            target.delete(&client, id).await.map_err(Error::cloud)?;
            ctx.event(
                &app.object_ref(&()),
                EventType::Normal,
                "Deleted",
                "Delete",
                format!("deleted {} app {id}", target.service()),
            )
            .await;
        }
    }
    release_account(app, ctx).await?;
    remove_finalizer(app, ctx).await?;
    Ok(Action::await_change())
}

/// ModelArts refuses to delete a bound app: remove its API authorizations first.
async fn unbind_all(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    workspace: &str,
    app_id: &str,
) -> Result<()> {
    let ma = client.modelarts(workspace);
    let apis = match ma.app_apis(app_id).await {
        Ok(a) => a,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(Error::cloud(e)),
    };
    if apis.is_empty() {
        return Ok(());
    }
    let mut names = Vec::new();
    for api_info in &apis {
        let service = api_info.service_id.clone().unwrap_or_default();
        ma.unbind(&service, &api_info.api_id, &[app_id])
            .await
            .map_err(Error::cloud)?;
        names.push(
            api_info
                .api_name
                .clone()
                .unwrap_or_else(|| api_info.api_id.clone()),
        );
    }
    ctx.event(
        &app.object_ref(&()),
        EventType::Normal,
        "Unbound",
        "Delete",
        format!(
            "removed the app's authorization to APIs: {}",
            names.join(", ")
        ),
    )
    .await;
    Ok(())
}

// ---- rotation (SPEC §3.6) ----

/// Why a rotation is due: a new rotate-annotation token, or the interval elapsing.
#[derive(Debug, Clone, Default)]
struct RotationCause {
    token: Option<String>,
}

fn rotation_due(app: &GatewayApp, now: chrono::DateTime<Utc>) -> Option<RotationCause> {
    let last = status(app).rotation.unwrap_or_default();
    if let Some(token) = app.annotations().get(annotations::ROTATE)
        && last.last_token.as_ref() != Some(token)
    {
        return Some(RotationCause {
            token: Some(token.clone()),
        });
    }
    next_rotation(app, None)
        .filter(|at| *at <= now)
        .map(|_| RotationCause { token: None })
}

/// When the interval next elapses: from the last rotation, or from creation.
fn next_rotation(
    app: &GatewayApp,
    just_rotated: Option<&RotationStatus>,
) -> Option<chrono::DateTime<Utc>> {
    let interval = humantime::parse_duration(&app.spec.rotation.as_ref()?.interval).ok()?;
    let last = just_rotated
        .cloned()
        .or_else(|| status(app).rotation)
        .and_then(|r| r.last_time);
    let since = last
        .and_then(|t| {
            chrono::DateTime::parse_from_rfc3339(&t)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
        .or_else(|| {
            app.metadata
                .creation_timestamp
                .as_ref()
                .and_then(|t| chrono::DateTime::from_timestamp(t.0.as_second(), 0))
        })?;
    Some(since + chrono::Duration::from_std(interval).ok()?)
}

async fn warn_rotation_unsupported(app: &GatewayApp, ctx: &Context, target: &Target) {
    let token = app
        .annotations()
        .get(annotations::ROTATE)
        .cloned()
        .unwrap_or_default();
    let key = format!("rotation-warned:{}:{token}", app.uid().unwrap_or_default());
    let first = ctx
        .last_read
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, Instant::now())
        .is_none();
    if first {
        let note = format!(
            "{} has no secret reset; the secret was not rotated",
            target.service()
        );
        ctx.event(
            &app.object_ref(&()),
            EventType::Warning,
            "RotationUnsupported",
            "Rotate",
            note,
        )
        .await;
    }
}

/// Resets the secret, writes the Secret, and only then records the rotation. A crash between
/// the reset and the Secret write leaves the rotating annotation: the next attempt reads the
/// secret back instead of resetting again.
async fn rotate(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
    resuming: bool,
    cause: RotationCause,
) -> Result<Delivered> {
    let cloud = match target.show(client, app_id).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => return recreate(app, ctx, client, target, app_id).await,
        Err(e) => return Err(Error::cloud(e)),
    };
    let unreadable = || {
        Error::failed(
            Reason::CloudUnavailable,
            "the rotated secret cannot be read back",
        )
    };
    let secret = if resuming {
        target
            .read_secret(client, &cloud)
            .await
            .map_err(Error::cloud)?
            .ok_or_else(unreadable)?
    } else {
        let marker = cause.token.clone().unwrap_or_else(|| "interval".into());
        let patch = json!({"metadata": {"annotations": {annotations::ROTATING: marker}}});
        api(app, ctx)
            .patch(
                &app.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
        let chosen = (app.spec.credentials == CredentialsMode::Generated)
            .then(|| SecretString::from(format!("s{}", random_token(39))));
        let reset = target
            .reset_secret(client, &cloud, chosen.as_ref())
            .await
            .map_err(Error::cloud)?;
        crate::failpoint("after-reset");
        match reset.or(chosen) {
            Some(s) => s,
            None => target
                .read_secret(client, &cloud)
                .await
                .map_err(Error::cloud)?
                .ok_or_else(unreadable)?,
        }
    };
    let key = cloud.key.clone().ok_or_else(|| {
        Error::failed(Reason::CloudUnavailable, format!("app {app_id} has no key"))
    })?;
    let app_code = if app.spec.app_code {
        target
            .ensure_app_code(client, &cloud)
            .await
            .map_err(Error::cloud)?
    } else {
        None
    };
    let creds = secret_step::Credentials {
        app_id: app_id.to_string(),
        app_key: key,
        app_secret: secret,
        app_code,
    };
    let written = write_secret(app, ctx, &creds).await?;
    let token = app
        .annotations()
        .get(annotations::ROTATE)
        .cloned()
        .or(status(app).rotation.and_then(|r| r.last_token));
    let note =
        format!("the secret of app {app_id} was rotated; consumers must reload Secret {written}");
    ctx.event(
        &app.object_ref(&()),
        EventType::Normal,
        "Rotated",
        "Rotate",
        note,
    )
    .await;
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(Delivered {
        app_id: app_id.to_string(),
        app_name: cloud.name,
        secret_name: written,
        rotated: Some(RotationStatus {
            last_token: token,
            last_time: Some(now),
        }),
    })
}

// ---- FromSecret (SPEC §3.2) ----

/// With FromSecret: the source's key and secret when they differ from what was delivered.
async fn from_secret_changed(
    app: &GatewayApp,
    ctx: &Context,
    delivered: Option<&Secret>,
) -> Result<Option<(String, SecretString)>> {
    use crate::cloud::ExposeSecret;
    if app.spec.credentials != CredentialsMode::FromSecret {
        return Ok(None);
    }
    let Some((key, value)) = chosen_credentials(app, ctx).await? else {
        return Ok(None);
    };
    let current = delivered.and_then(|s| secret_step::read_credentials(app, s));
    let same = current.is_some_and(|(k, v)| k == key && v.expose_secret() == value.expose_secret());
    Ok((!same).then_some((key, value)))
}

/// Pushes a changed FromSecret source to the cloud (APIG update, ROMA reset with the value).
async fn push_source(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
    key: &str,
    value: &SecretString,
) -> Result<Delivered> {
    let cloud = match target.show(client, app_id).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => return recreate(app, ctx, client, target, app_id).await,
        Err(e) => return Err(Error::cloud(e)),
    };
    let uid = app.uid().unwrap_or_default();
    let remark = naming::remark_with_fingerprint(app.spec.description.as_deref(), &uid);
    match target {
        Target::Apig { instance } => {
            let input = crate::cloud::apig::AppInput {
                name: &cloud.name,
                remark: Some(&remark),
                app_key: Some(key),
                app_secret: Some(value),
            };
            client
                .apig(instance)
                .update(app_id, &input)
                .await
                .map_err(Error::cloud)?;
        }
        Target::Roma { .. } => {
            if cloud.key.as_deref() != Some(key) {
                return Err(Error::failed(
                    Reason::InvalidSpec,
                    "spec.credentialsFrom: ROMA cannot change an app's key; only app_secret may change",
                ));
            }
            target
                .reset_secret(client, &cloud, Some(value))
                .await
                .map_err(Error::cloud)?;
        }
        _ => {
            return Err(Error::failed(
                Reason::InvalidSpec,
                "spec.credentials: FromSecret is only supported for apig and roma",
            ));
        }
    }
    let creds = secret_step::Credentials {
        app_id: app_id.to_string(),
        app_key: key.to_string(),
        app_secret: value.clone(),
        app_code: None,
    };
    let written = write_secret(app, ctx, &creds).await?;
    let source = app
        .spec
        .credentials_from
        .as_ref()
        .map(|r| r.name.clone())
        .unwrap_or_default();
    let note = format!("pushed the changed credentials from Secret {source} to app {app_id}");
    ctx.event(
        &app.object_ref(&()),
        EventType::Normal,
        "CredentialsUpdated",
        "Update",
        note,
    )
    .await;
    Ok(Delivered {
        app_id: app_id.to_string(),
        app_name: cloud.name,
        secret_name: written,
        rotated: None,
    })
}
