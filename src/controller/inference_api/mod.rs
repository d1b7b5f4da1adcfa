//! The InferenceApi reconciler: registers an app-authenticated API on a ModelArts real-time
//! service, authorizes the referenced GatewayApps to it, and keeps that true. What is an
//! InferenceApi's own for the shared driver.

mod bindings;
mod connection;
mod create;
mod delete;

use connection::{delete_connection_secret, write_connection_secret};
use create::ensure_api;

use std::time::Duration;

use chrono::Utc;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

use super::audit::{self, Mutation};
use super::common::{Error, Result};
use super::driver::{self, Location, Managed};
use super::status::{self, Outcome, Reason};
use super::{Context, account_use, claims, pending, plan, waits};
use crate::api::{
    ApiMethod, AuthType, Condition, DeletionPolicy, InferenceApi, InferenceApiStatus,
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_KIND_LABEL, annotations,
};
use crate::cloud::CloudClient;
use crate::cloud::modelarts::{ApiInput, InferenceApiInfo};
use crate::naming;
use std::sync::atomic::Ordering;

impl Managed for InferenceApi {
    driver::managed_fields!(InferenceApiStatus);
    const WHAT: &'static str = "API";
    fn work_queue(ctx: &Context) -> &super::work_queue::WorkQueue {
        &ctx.work_queues.inference_apis
    }
    fn location(&self) -> Location {
        let st = status(self);
        Location {
            project: st.project,
            region: st.region,
            instance: None,
        }
    }
    fn deletion_policy(&self) -> DeletionPolicy {
        self.spec.deletion_policy
    }
    /// AppsBound stays as the last successful reconcile wrote it.
    fn kept_conditions(&self) -> Vec<Condition> {
        status(self)
            .conditions
            .into_iter()
            .filter(|c| c.type_ == APPS_BOUND)
            .collect()
    }
    async fn apply(&self, ctx: &Context) -> Result<Action> {
        apply(self, ctx).await
    }
    async fn delete_in_cloud(&self, ctx: &Context) -> Result<()> {
        delete::delete_in_cloud(self, ctx).await
    }
}

/// Whether every referenced app is authorized to the API.
const APPS_BOUND: &str = "AppsBound";

fn apps_bound(api: &InferenceApi, bound: &bindings::Bound, now: &str) -> Condition {
    let ok = bound.waiting.is_empty();
    let (reason, message) = if ok {
        ("Bound", String::new())
    } else {
        (Reason::WaitingForApps.as_str(), bound.waiting.join("; "))
    };
    status::extra_condition(
        &status(api).conditions,
        APPS_BOUND,
        ok,
        reason,
        &message,
        api.metadata.generation,
        now,
    )
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
fn is_ours(api: &InferenceApi, ctx: &Context, info: &InferenceApiInfo) -> bool {
    let uid = api.uid().unwrap_or_default();
    ctx.fingerprint(&uid).is_mine(info.api_remark.as_deref())
        && info
            .service_id
            .as_deref()
            .is_none_or(|s| s == api.spec.service_id)
}

/// An id the annotation names and status does not bind yet (a restore, a copy): refused when
/// the API's fingerprint names another cluster or another InferenceApi that still exists.
/// Adoption was permitted before any cloud call. ModelArts cannot update an API, so its remark
/// keeps the fingerprint it has.
async fn check_takeover(
    api: &InferenceApi,
    ctx: &Context,
    client: &CloudClient,
    id: &str,
) -> Result<()> {
    let apis = client
        .modelarts(workspace(api))
        .list_apis(&api.spec.service_id)
        .await
        .map_err(Error::cloud)?;
    let Some(found) = apis.into_iter().find(|a| a.api_id == id) else {
        return Ok(());
    };
    let store = ctx
        .inference_apis
        .get()
        .filter(|_| ctx.inference_apis_listed.load(Ordering::Relaxed))
        .ok_or(Error::Requeue(Duration::from_secs(1)))?;
    let me = ctx.fingerprint(&api.uid().unwrap_or_default());
    let holder = claims::held_by_fingerprint(me.holder(found.api_remark.as_deref()), store);
    // Two objects taking one API over at once: the first keeps it.
    let bound = status(api).api_id.is_some();
    let holder = holder.or_else(|| ctx.claims.take(id, &claims::Claim::of(api, bound)).err());
    match holder {
        Some(holder) => Err(Error::failed(
            Reason::AlreadyManaged,
            format!(
                "API {id} (annotation {}) is already managed by {holder}",
                annotations::API_ID
            ),
        )),
        None => Ok(()),
    }
}

/// Another live InferenceApi whose status binds API `id`: its namespace/name. (An annotation
/// naming the id holds nothing until checked.)
fn held_by_other(api: &InferenceApi, ctx: &Context, id: &str) -> Option<String> {
    let uid = api.uid();
    let store = ctx.inference_apis.get()?;
    store
        .state()
        .iter()
        .find(|o| {
            let holds = status(o).api_id.as_deref() == Some(id);
            o.uid() != uid && o.metadata.deletion_timestamp.is_none() && holds
        })
        .map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
}

async fn apply(api: &InferenceApi, ctx: &Context) -> Result<Action> {
    let account = account_use::resolve(api, ctx).await?;
    account_use::check_unchanged(api, &account, None)?;
    let ns = api.namespace().unwrap_or_default();
    let apps = ctx.gateway_apps.get();
    let lookup = |name: &str| apps.and_then(|s| s.get(&ObjectRef::new(name).within(&ns)));
    let refs = bindings::resolve_refs(api, lookup, &account)?;
    let client = ctx.cloud.client(&account);
    if let Some(id) = known_api_id(api) {
        // A copy carrying the id of an API another object holds in its status is refused, and
        // gets no finalizer (deleting it must not delete the other's API).
        if status(api).api_id.is_none() {
            if let Some(owner) = held_by_other(api, ctx, &id) {
                return Err(Error::failed(
                    Reason::AlreadyManaged,
                    format!("API {id} is already managed by {owner}"),
                ));
            }
            check_takeover(api, ctx, &client, &id).await?;
        }
        driver::ensure_finalizer(api, ctx).await?;
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
    account_use::release_previous(api, ctx).await?;
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let apps_bound = apps_bound(api, &bound, &now);
    driver::write_status_with(api, ctx, Some(new_status), &outcome, vec![apps_bound]).await?;
    if known_api_id(api).is_none()
        || api.annotations().contains_key(annotations::PENDING)
        || api.annotations().get(annotations::API_ID) != Some(&info.api_id)
    {
        let mut mirror = serde_json::Map::new();
        mirror.insert(annotations::API_ID.into(), json!(info.api_id));
        mirror.insert(annotations::PENDING.into(), serde_json::Value::Null);
        driver::annotate(api, ctx, mirror).await?;
    }
    if bound.waiting.is_empty() {
        // The resync sweep brings it back once a period.
        Ok(Action::await_change())
    } else {
        // Apps becoming Ready trigger a reconcile through the GatewayApp watch; this is a backstop.
        Ok(Action::requeue(
            ctx.backoff(&api.uid().unwrap_or_default(), false)
                .max(Duration::from_secs(5)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_apps_bound_as_the_last_success_wrote_it() {
        let api: InferenceApi = serde_json::from_value(json!({
            "apiVersion": "appauth.hwcloud.dev/v1alpha1",
            "kind": "InferenceApi",
            "metadata": {"name": "api", "namespace": "ns"},
            "spec": {"workspaceId": "w", "serviceId": "s"},
            "status": {"conditions": [
                {"type": "Ready", "status": "False", "reason": "WaitingForApps", "message": "", "lastTransitionTime": "t0"},
                {"type": "AppsBound", "status": "False", "reason": "WaitingForApps", "message": "g: not Ready", "lastTransitionTime": "t0"},
            ]},
        }))
        .expect("InferenceApi");
        let kept = api.kept_conditions();
        assert_eq!(kept.len(), 1);
        assert_eq!(
            (
                kept[0].type_.as_str(),
                kept[0].status.as_str(),
                kept[0].reason.as_str()
            ),
            ("AppsBound", "False", "WaitingForApps"),
            "its reason stays (it used to be rewritten to Available)"
        );
        assert_eq!(&*kept[0].message, "g: not Ready");
    }
}
