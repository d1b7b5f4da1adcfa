//! The InferenceApi reconciler (SPEC §4): registers an app-authenticated API on a ModelArts
//! real-time service, authorizes the referenced GatewayApps to it, and keeps that true.

mod bindings;
mod connection;

use connection::{delete_connection_secret, write_connection_secret};

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::common::{self, Error, Result};
use super::marker::{self, PendingMarker};
use super::status::{self, Outcome, Reason};
use super::{Context, waits};
use crate::api::{
    ApiMethod, AuthType, CLEANUP_FINALIZER, Condition, DeletionPolicy, InferenceApi,
    InferenceApiStatus, MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_KIND_LABEL, annotations,
};
use crate::cloud::modelarts::{ApiInput, InferenceApiInfo};
use crate::cloud::{Account, CloudClient};
use crate::naming;

const FIELD_MANAGER: &str = "appauth-operator";

pub async fn reconcile(api: Arc<InferenceApi>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let started = Instant::now();
    let result = reconcile_inner(&api, &ctx).await;
    let reason = match &result {
        Ok((_, reason)) => *reason,
        Err(_) => Some("KubernetesApi"),
    };
    ctx.metrics
        .reconciled("InferenceApi", started.elapsed(), reason);
    result.map(|(action, _)| action)
}

pub fn error_policy(api: Arc<InferenceApi>, error: &kube::Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(object = %api.name_any(), error = %error, "reconcile error");
    Action::requeue(ctx.backoff(&api.uid().unwrap_or_default(), false))
}

async fn reconcile_inner(
    api: &Arc<InferenceApi>,
    ctx: &Arc<Context>,
) -> Result<(Action, Option<&'static str>), kube::Error> {
    if ctx.is_stale(api.as_ref()) {
        ctx.metrics.skipped("InferenceApi", "stale");
        return Ok((Action::requeue(Duration::from_secs(2)), None));
    }
    if api.metadata.deletion_timestamp.is_none()
        && !is_paused(api)
        && common::rejected_generation(api.as_ref(), ctx)
    {
        return Ok((Action::await_change(), None));
    }
    let result = if is_paused(api) {
        pause(api, ctx).await
    } else if api.metadata.deletion_timestamp.is_some() {
        cleanup(api, ctx).await
    } else {
        apply(api, ctx).await
    };
    common::settle(api.as_ref(), ctx, result, |reason, message| async move {
        write_status(api, ctx, None, &Outcome::failed(reason, message), None).await
    })
    .await
}

fn is_paused(api: &InferenceApi) -> bool {
    api.annotations()
        .get(annotations::PAUSED)
        .is_some_and(|v| v == "true")
}

fn objects(api: &InferenceApi, ctx: &Context) -> Api<InferenceApi> {
    Api::namespaced(ctx.client.clone(), &api.namespace().unwrap_or_default())
}

fn status(api: &InferenceApi) -> InferenceApiStatus {
    api.status.clone().unwrap_or_default()
}

fn known_api_id(api: &InferenceApi) -> Option<String> {
    status(api).api_id.filter(|s| !s.is_empty()).or_else(|| {
        api.annotations()
            .get(annotations::API_ID)
            .cloned()
            .filter(|s| !s.is_empty())
    })
}

fn workspace(api: &InferenceApi) -> &str {
    &api.spec.workspace_id
}

async fn resolve_account(api: &InferenceApi, ctx: &Context) -> Result<Account> {
    let ns = api.namespace().unwrap_or_default();
    common::resolve_account(
        ctx,
        &ns,
        api.spec.account_ref.as_ref(),
        api.metadata.deletion_timestamp.is_some(),
    )
    .await
}

fn check_account_unchanged(api: &InferenceApi, account: &Account) -> Result<()> {
    let st = status(api);
    let changed = |have: &Option<String>, want: &str| have.as_deref().is_some_and(|h| h != want);
    if changed(&st.project, &account.project_id) || changed(&st.region, &account.region) {
        return Err(Error::failed(
            Reason::AccountChanged,
            format!(
                "the API lives in project {} / region {}; the object now resolves elsewhere. Restore the account, or set deletionPolicy: Retain and delete the object",
                st.project.unwrap_or_default(),
                st.region.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

fn method(m: ApiMethod) -> &'static str {
    match m {
        ApiMethod::Get => "GET",
        ApiMethod::Post => "POST",
        ApiMethod::Put => "PUT",
        ApiMethod::Delete => "DELETE",
        ApiMethod::Head => "HEAD",
        ApiMethod::Patch => "PATCH",
        ApiMethod::Options => "OPTIONS",
        ApiMethod::Any => "ANY",
    }
}

fn auth(a: AuthType) -> &'static str {
    match a {
        AuthType::None => "NONE",
        AuthType::App => "APP",
        AuthType::Iam => "IAM",
    }
}

/// Whether a cloud API is the one this object created: the fingerprint in its remark (the cloud
/// may rename the API, so the name alone proves nothing), and the path when one was asked for.
fn is_ours(api: &InferenceApi, info: &InferenceApiInfo) -> bool {
    let uid = api.uid().unwrap_or_default();
    naming::has_fingerprint(info.api_remark.as_deref(), &uid)
        && info
            .service_id
            .as_deref()
            .is_none_or(|s| s == api.spec.service_id)
}

async fn write_marker(api: &InferenceApi, ctx: &Context, name: &str) -> Result<PendingMarker> {
    let marker = PendingMarker {
        name: name.to_string(),
        time: Utc::now(),
        instance: ctx.settings.instance.clone(),
    };
    let mut finalizers = api.finalizers().to_vec();
    if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
        finalizers.push(CLEANUP_FINALIZER.to_string());
    }
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "annotations": {annotations::PENDING: marker.to_annotation()},
        "resourceVersion": api.resource_version(),
    }});
    let written = objects(api, ctx)
        .patch(
            &api.name_any(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
    ctx.note_written(&written, api);
    Ok(marker)
}

/// The API in the cloud: found by id, recovered after a crash by fingerprint, or created.
async fn ensure_api(
    api: &InferenceApi,
    ctx: &Context,
    client: &CloudClient,
) -> Result<InferenceApiInfo> {
    let uid = api.uid().unwrap_or_default();
    let ma = client.modelarts(workspace(api));
    if let Some(id) = known_api_id(api) {
        let read_due = ctx.last_read.due(&uid, ctx.settings.resync);
        let st = status(api);
        if !read_due && st.api_id.as_deref() == Some(id.as_str()) {
            return Ok(InferenceApiInfo {
                api_id: id,
                api_name: st.api_name,
                predict_url: st.predict_url,
                service_id: Some(api.spec.service_id.clone()),
                api_method: None,
                api_remark: None,
                auth_type: None,
                support_app_code: None,
            });
        }
        let apis = ma
            .list_apis(&api.spec.service_id)
            .await
            .map_err(Error::cloud)?;
        ctx.last_read.mark(&uid);
        if let Some(found) = apis.into_iter().find(|a| a.api_id == id) {
            return Ok(found);
        }
        ctx.event(
            &api.object_ref(&()),
            EventType::Warning,
            "Recreating",
            "Drift",
            format!(
                "API {id} no longer exists in the cloud; creating it again and re-binding its apps"
            ),
        )
        .await;
        let patch = json!({"metadata": {"annotations": {annotations::API_ID: null}}});
        let updated = objects(api, ctx)
            .patch(
                &api.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
        ctx.note_written(&updated, api);
        let mut fresh = updated;
        fresh.status = Some(InferenceApiStatus {
            api_id: None,
            authorized_apps: Vec::new(),
            ..status(api)
        });
        return Box::pin(create_or_recover(&fresh, ctx, client, true)).await;
    }
    create_or_recover(api, ctx, client, false).await
}

async fn create_or_recover(
    api: &InferenceApi,
    ctx: &Context,
    client: &CloudClient,
    force_new_marker: bool,
) -> Result<InferenceApiInfo> {
    let uid = api.uid().unwrap_or_default();
    let name = api.spec.api_name.clone().unwrap_or_else(|| {
        naming::default_app_name(
            &ctx.settings.cluster_name,
            &api.namespace().unwrap_or_default(),
            &api.name_any(),
        )
    });
    let existing_marker = api
        .annotations()
        .get(annotations::PENDING)
        .and_then(|v| PendingMarker::parse(v));
    let (marker, fresh) = match existing_marker {
        Some(m) if !force_new_marker => (m, false),
        _ => (write_marker(api, ctx, &name).await?, !force_new_marker),
    };
    let ma = client.modelarts(workspace(api));
    if !fresh {
        let apis = ma
            .list_apis(&api.spec.service_id)
            .await
            .map_err(Error::cloud)?;
        let mut ours: Vec<InferenceApiInfo> =
            apis.into_iter().filter(|a| is_ours(api, a)).collect();
        ours.sort_by(|a, b| a.api_id.cmp(&b.api_id));
        if let Some(first) = ours.first().cloned() {
            for twin in ours.iter().skip(1) {
                ma.delete_api(&api.spec.service_id, &twin.api_id)
                    .await
                    .map_err(Error::cloud)?;
                ctx.event(
                    &api.object_ref(&()),
                    EventType::Warning,
                    "DuplicateRemoved",
                    "Recover",
                    format!("deleted duplicate API {}", twin.api_id),
                )
                .await;
            }
            return Ok(first);
        }
        let grace = ctx.settings.marker_grace;
        if let Some(at) = ctx
            .unresolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&uid)
            .copied()
            && at.elapsed() < grace
        {
            return Err(waits::in_flight(
                grace - at.elapsed(),
                &format!("API {name}"),
                Reason::Creating,
            ));
        }
        marker::may_create(&marker, &ctx.settings.instance, false, Utc::now(), grace)
            .map_err(|after| waits::in_flight(after, &format!("API {name}"), Reason::Creating))?;
        if marker.instance != ctx.settings.instance
            || (Utc::now() - marker.time).to_std().unwrap_or_default() >= grace / 2
        {
            let current = objects(api, ctx).get(&api.name_any()).await?;
            write_marker(&current, ctx, &name).await?;
        }
    }
    let input = ApiInput {
        workspace_id: api.spec.workspace_id.clone(),
        support_app_code: api.spec.support_app_code,
        auth_type: auth(api.spec.auth_type).to_string(),
        api_name: Some(name.clone()),
        api_url: api.spec.api_url.clone(),
        api_path: api.spec.api_path.clone(),
        api_method: method(api.spec.method).to_string(),
        api_remark: Some(naming::remark_with_fingerprint(
            api.spec.description.as_deref(),
            &uid,
        )),
    };
    ctx.unresolved
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(uid.clone(), Instant::now());
    match ma.create_api(&api.spec.service_id, &input).await {
        Ok(created) => {
            ctx.unresolved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uid);
            crate::failpoint("after-create-api");
            ctx.last_read.mark(&uid);
            ctx.event(
                &api.object_ref(&()),
                EventType::Normal,
                "Created",
                "Create",
                format!(
                    "created API {} on service {}",
                    created.api_id, api.spec.service_id
                ),
            )
            .await;
            Ok(created)
        }
        Err(e) if e.outcome_unknown() => Err(waits::in_flight(
            Duration::from_millis(500),
            &format!("API {name}"),
            Reason::Creating,
        )),
        Err(e) => {
            ctx.unresolved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uid);
            Err(Error::cloud(e))
        }
    }
}

async fn apply(api: &InferenceApi, ctx: &Context) -> Result<Action> {
    let account = resolve_account(api, ctx).await?;
    check_account_unchanged(api, &account)?;
    let refs = bindings::resolve_refs(api, ctx, &account)?;
    let client = ctx.cloud.client(&account);
    if let Some(id) = known_api_id(api) {
        // A copy carrying the id of an API another object holds in its status is refused, and
        // gets no finalizer (deleting it must not delete the other's API).
        if status(api).api_id.is_none()
            && let Some(owner) = held_by_other(api, ctx, &id, true)
        {
            return Err(Error::failed(
                Reason::AlreadyManaged,
                format!("API {id} is already managed by {owner}"),
            ));
        }
        common::ensure_finalizer(api, &objects(api, ctx), ctx).await?;
    }
    let info = ensure_api(api, ctx, &client).await?;
    let bound = bindings::reconcile(api, &client, &info.api_id, &refs).await?;
    let secret_name = match &api.spec.secret {
        Some(target) => Some(write_connection_secret(api, ctx, &target.name, &info).await?),
        None => None,
    };
    let st = status(api);
    if let Some(old) = st
        .secret_name
        .as_deref()
        .filter(|o| Some(*o) != secret_name.as_deref())
    {
        delete_connection_secret(api, ctx, old).await?;
    }
    let new_status = InferenceApiStatus {
        api_id: Some(info.api_id.clone()),
        api_name: info.api_name.clone().or(st.api_name.clone()),
        predict_url: info.predict_url.clone().or(st.predict_url.clone()),
        project: Some(account.project_id.clone()),
        region: Some(account.region.clone()),
        authorized_apps: bound.authorized.clone(),
        secret_name,
        account_secret: api.spec.account_ref.as_ref().map(|r| r.name.clone()),
        ..st.clone()
    };
    let outcome = if bound.waiting.is_empty() {
        Outcome::available(format!(
            "API {} with {} authorized app(s)",
            info.api_id,
            bound.authorized.len()
        ))
    } else {
        Outcome::failed(
            Reason::WaitingForApps,
            format!("waiting for apps: {}", bound.waiting.join("; ")),
        )
    };
    // The account used before a ref change, released before the status forgets it.
    common::release_previous_account(
        ctx,
        &api.namespace().unwrap_or_default(),
        st.account_secret.as_deref(),
        api.spec.account_ref.as_ref(),
        &api.uid().unwrap_or_default(),
    )
    .await?;
    write_status(api, ctx, Some(new_status), &outcome, Some(&bound)).await?;
    if known_api_id(api).is_none()
        || api.annotations().contains_key(annotations::PENDING)
        || api.annotations().get(annotations::API_ID) != Some(&info.api_id)
    {
        let patch = json!({"metadata": {"annotations": {annotations::API_ID: info.api_id, annotations::PENDING: null}}});
        let written = objects(api, ctx)
            .patch(
                &api.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
        ctx.note_written(&written, api);
    }
    if bound.waiting.is_empty() {
        Ok(Action::requeue(ctx.resync()))
    } else {
        // Apps becoming Ready trigger a reconcile through the GatewayApp watch; this is a backstop.
        Ok(Action::requeue(
            ctx.backoff(&api.uid().unwrap_or_default(), false)
                .max(Duration::from_secs(5)),
        ))
    }
}

/// Another live InferenceApi that holds API `id` (in its status; with `status_only` false, by
/// its annotation too): its namespace/name.
fn held_by_other(api: &InferenceApi, ctx: &Context, id: &str, status_only: bool) -> Option<String> {
    let uid = api.uid();
    let store = ctx.inference_apis.get()?;
    store
        .state()
        .iter()
        .find(|o| {
            let holds = status(o).api_id.as_deref() == Some(id)
                || (!status_only && known_api_id(o).as_deref() == Some(id));
            o.uid() != uid && o.metadata.deletion_timestamp.is_none() && holds
        })
        .map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
}

async fn write_status(
    api: &InferenceApi,
    ctx: &Context,
    fields: Option<InferenceApiStatus>,
    outcome: &Outcome,
    bound: Option<&bindings::Bound>,
) -> Result<(), kube::Error> {
    let old = status(api);
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut conditions =
        status::conditions(&old.conditions, outcome, api.metadata.generation, &now);
    let apps_bound = match bound {
        Some(b) if b.waiting.is_empty() => Some((true, Reason::Available, String::new())),
        Some(b) => Some((false, Reason::WaitingForApps, b.waiting.join("; "))),
        None => old
            .conditions
            .iter()
            .find(|c| c.type_ == "AppsBound")
            .map(|c| (c.status == "True", Reason::Available, c.message.clone())),
    };
    if let Some((ok, reason, message)) = apps_bound {
        let previous = old.conditions.iter().find(|c| c.type_ == "AppsBound");
        let status_str = if ok { "True" } else { "False" };
        let reason = if ok { "Bound" } else { reason.as_str() };
        let transition = previous
            .filter(|c| c.status == status_str)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.clone());
        conditions.push(Condition {
            type_: "AppsBound".into(),
            status: status_str.into(),
            reason: reason.into(),
            message: message.chars().take(1024).collect(),
            observed_generation: api.metadata.generation,
            last_transition_time: transition,
        });
    }
    let mut new = fields.unwrap_or_else(|| old.clone());
    new.observed_generation = api.metadata.generation;
    new.conditions = conditions;
    let strip = |s: &InferenceApiStatus| InferenceApiStatus {
        conditions: Vec::new(),
        ..s.clone()
    };
    if strip(&new) == strip(&old) && status::same_conditions(&new.conditions, &old.conditions) {
        return Ok(());
    }
    let patch = json!({"apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "InferenceApi", "status": new});
    let written = objects(api, ctx)
        .patch_status(
            &api.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await?;
    ctx.note_written(&written, api);
    Ok(())
}

async fn remove_finalizer(api: &InferenceApi, ctx: &Context) -> Result<()> {
    if !api.finalizers().iter().any(|f| f == CLEANUP_FINALIZER) {
        return Ok(());
    }
    let finalizers: Vec<&String> = api
        .finalizers()
        .iter()
        .filter(|f| *f != CLEANUP_FINALIZER)
        .collect();
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": api.resource_version()}});
    objects(api, ctx)
        .patch(
            &api.name_any(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
    Ok(())
}

async fn pause(api: &InferenceApi, ctx: &Context) -> Result<Action> {
    if api.metadata.deletion_timestamp.is_some() {
        // Detached: no cloud call, but the account Secret is no longer needed by this object.
        common::release_accounts(
            ctx,
            &api.namespace().unwrap_or_default(),
            api.spec.account_ref.as_ref(),
            status(api).account_secret.as_deref(),
            &api.uid().unwrap_or_default(),
        )
        .await?;
        remove_finalizer(api, ctx).await?;
        ctx.event(
            &api.object_ref(&()),
            EventType::Normal,
            "Detached",
            "Delete",
            "paused object deleted: the cloud API was left untouched".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let outcome = Outcome {
        paused: true,
        ..Outcome::available(format!("{}: \"true\": no cloud calls", annotations::PAUSED))
    };
    write_status(api, ctx, None, &outcome, None).await?;
    Ok(Action::await_change())
}

/// Delete: unbind every app and delete the API. Retain: keep both.
async fn cleanup(api: &InferenceApi, ctx: &Context) -> Result<Action> {
    if !api.finalizers().iter().any(|f| f == CLEANUP_FINALIZER) {
        return Ok(Action::await_change());
    }
    if api.spec.deletion_policy == DeletionPolicy::Delete {
        let account = resolve_account(api, ctx).await?;
        check_account_unchanged(api, &account)?;
        let client = ctx.cloud.client(&account);
        let ma = client.modelarts(workspace(api));
        let mut ids: Vec<String> = known_api_id(api).into_iter().collect();
        if ids.is_empty() && api.annotations().contains_key(annotations::PENDING) {
            let apis = ma
                .list_apis(&api.spec.service_id)
                .await
                .map_err(Error::cloud)?;
            ids.extend(
                apis.into_iter()
                    .filter(|a| is_ours(api, a))
                    .map(|a| a.api_id),
            );
            if ids.is_empty()
                && let Some(marker) = api
                    .annotations()
                    .get(annotations::PENDING)
                    .and_then(|v| PendingMarker::parse(v))
            {
                // A create of a dead process (or ours, unanswered) may still land: look again
                // once the marker is older than such a create can be.
                let uid = api.uid().unwrap_or_default();
                waits::marker_settled(ctx, &uid, &marker, "API", Reason::Deleting)?;
            }
        }
        // An API another live object holds is left to it.
        ids.retain(|id| held_by_other(api, ctx, id, false).is_none());
        for id in &ids {
            let bound = match ma.bindings(&api.spec.service_id, id).await {
                Ok(b) => b,
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(Error::cloud(e)),
            };
            let app_ids: Vec<&str> = bound.iter().map(|a| a.app_id.as_str()).collect();
            if !app_ids.is_empty() {
                ma.unbind(&api.spec.service_id, id, &app_ids)
                    .await
                    .map_err(Error::cloud)?;
            }
            match ma.delete_api(&api.spec.service_id, id).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(Error::cloud(e)),
            }
            ctx.event(
                &api.object_ref(&()),
                EventType::Normal,
                "Deleted",
                "Delete",
                format!("unbound {} app(s) and deleted API {id}", app_ids.len()),
            )
            .await;
        }
    }
    let ns = api.namespace().unwrap_or_default();
    common::release_accounts(
        ctx,
        &ns,
        api.spec.account_ref.as_ref(),
        status(api).account_secret.as_deref(),
        &api.uid().unwrap_or_default(),
    )
    .await?;
    remove_finalizer(api, ctx).await?;
    Ok(Action::await_change())
}
