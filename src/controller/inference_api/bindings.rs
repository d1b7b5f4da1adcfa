//! The bindings this controller owns: referenced GatewayApps that are Ready are
//! authorized to the API (checking each per-app `success`), the others are reported, and apps
//! no longer referenced are unbound.

use std::collections::BTreeSet;

use std::sync::Arc;

use super::super::audit::{self, Mutation};
use super::super::common::{Error, Result};
use super::super::status::Reason;
use crate::api::{AuthType, AuthorizedApp, GatewayApp, InferenceApi};
use crate::cloud::{Account, CloudClient};

/// A referenced GatewayApp and what it resolves to.
pub(super) struct Ref {
    pub name: String,
    /// The app id when the GatewayApp is Ready and not being deleted.
    pub app_id: Option<String>,
    /// The app id the GatewayApp holds, Ready or not, unless it is being deleted: a binding
    /// it already has is kept through a brief outage (an app that is not Ready for a moment
    /// still works; unbinding it would cut off its callers).
    pub held_id: Option<String>,
    /// Why it cannot be bound yet.
    pub waiting: Option<String>,
}

pub(super) struct Bound {
    pub authorized: Vec<AuthorizedApp>,
    pub waiting: Vec<String>,
}

/// Looks up every appRef with `lookup` (the shared GatewayApp cache, by name in the object's
/// namespace). A ref to a non-modelarts app or to an app in another account is a terminal error
/// naming the ref. Pure.
pub(super) fn resolve_refs(
    api: &InferenceApi,
    lookup: impl Fn(&str) -> Option<Arc<GatewayApp>>,
    account: &Account,
) -> Result<Vec<Ref>> {
    let mut out = Vec::new();
    for (i, r) in api.spec.app_refs.iter().enumerate() {
        let Some(app) = lookup(&r.name) else {
            out.push(Ref {
                name: r.name.clone(),
                app_id: None,
                held_id: None,
                waiting: Some(format!("{}: GatewayApp not found", r.name)),
            });
            continue;
        };
        if app.spec.modelarts.is_none() {
            return Err(Error::failed(
                Reason::InvalidSpec,
                format!(
                    "spec.appRefs[{i}] ({}): only modelarts GatewayApps can be authorized to an inference API",
                    r.name
                ),
            ));
        }
        let st = app.status.clone().unwrap_or_default();
        if st
            .project
            .as_deref()
            .is_some_and(|p| p != account.project_id)
            || st.region.as_deref().is_some_and(|p| p != account.region)
        {
            return Err(Error::failed(
                Reason::InvalidSpec,
                format!(
                    "spec.appRefs[{i}] ({}): the app lives in another account (project {})",
                    r.name,
                    st.project.unwrap_or_default()
                ),
            ));
        }
        let ready = st
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let deleting = app.metadata.deletion_timestamp.is_some();
        let held_id = st.app_id.clone().filter(|id| !deleting && !id.is_empty());
        match (st.app_id.filter(|_| ready && !deleting), deleting) {
            (Some(id), _) => out.push(Ref {
                name: r.name.clone(),
                app_id: Some(id),
                held_id,
                waiting: None,
            }),
            (None, true) => out.push(Ref {
                name: r.name.clone(),
                app_id: None,
                held_id,
                waiting: Some(format!("{}: being deleted", r.name)),
            }),
            (None, false) => out.push(Ref {
                name: r.name.clone(),
                app_id: None,
                held_id,
                waiting: Some(format!("{}: not Ready", r.name)),
            }),
        }
    }
    Ok(out)
}

/// What to bind and unbind, from the cloud's current bindings: Ready apps are bound; a binding
/// is removed only when no ref holds its app any more (the ref left appRefs, the GatewayApp was
/// deleted or is being deleted, or its app was replaced by another id). Pure.
pub(super) fn plan(refs: &[Ref], current: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    let held: BTreeSet<&str> = refs
        .iter()
        .filter_map(|r| r.app_id.as_deref().or(r.held_id.as_deref()))
        .collect();
    let to_unbind = current
        .iter()
        .filter(|id| !held.contains(id.as_str()))
        .cloned()
        .collect();
    let desired: BTreeSet<&str> = refs.iter().filter_map(|r| r.app_id.as_deref()).collect();
    let to_bind = desired
        .into_iter()
        .filter(|id| !current.contains(*id))
        .map(str::to_string)
        .collect();
    (to_bind, to_unbind)
}

/// Binds what should be bound, unbinds what should not, from the cloud's own list of bindings.
pub(super) async fn reconcile(
    api: &InferenceApi,
    client: &CloudClient,
    api_id: &str,
    refs: &[Ref],
) -> Result<Bound> {
    let ma = client.modelarts(&api.spec.workspace_id);
    let service = &api.spec.service_id;
    // A ref whose app is bound already is not waiting, Ready or not.
    let mut waiting: Vec<String> = Vec::new();
    if api.spec.auth_type != AuthType::App {
        return Ok(Bound {
            authorized: Vec::new(),
            waiting,
        });
    }
    let current: BTreeSet<String> = ma
        .bindings(service, api_id)
        .await
        .map_err(Error::cloud)?
        .into_iter()
        .map(|a| a.app_id)
        .collect();
    let still_bound = |r: &Ref| r.held_id.as_ref().is_some_and(|id| current.contains(id));
    waiting.extend(
        refs.iter()
            .filter(|r| !still_bound(r))
            .filter_map(|r| r.waiting.clone()),
    );
    let (to_bind, to_unbind) = plan(refs, &current);
    let to_unbind: Vec<&str> = to_unbind.iter().map(String::as_str).collect();
    let to_bind: Vec<&str> = to_bind.iter().map(String::as_str).collect();
    if !to_unbind.is_empty() {
        let results = ma
            .unbind(service, api_id, &to_unbind)
            .await
            .map_err(Error::cloud)?;
        for done in results.iter().filter(|r| r.success) {
            let app_id = Some(done.app_id.as_str());
            audit::api(api, Mutation::Unbind, api_id, app_id);
        }
    }
    let mut failed: BTreeSet<String> = BTreeSet::new();
    if !to_bind.is_empty() {
        for result in ma
            .bind(service, api_id, &to_bind)
            .await
            .map_err(Error::cloud)?
        {
            if result.success {
                let app_id = Some(result.app_id.as_str());
                audit::api(api, Mutation::Bind, api_id, app_id);
            } else {
                let name = refs
                    .iter()
                    .find(|r| r.app_id.as_deref() == Some(result.app_id.as_str()))
                    .map(|r| r.name.clone())
                    .unwrap_or_default();
                waiting.push(format!(
                    "{name}: binding failed ({})",
                    result.reason.unwrap_or_default()
                ));
                failed.insert(result.app_id);
            }
        }
    }
    let authorized = refs
        .iter()
        .filter_map(|r| {
            r.app_id
                .as_ref()
                .or(r.held_id.as_ref().filter(|id| current.contains(*id)))
                .filter(|id| !failed.contains(*id))
                .map(|id| AuthorizedApp {
                    name: r.name.clone(),
                    app_id: id.clone(),
                })
        })
        .collect();
    Ok(Bound {
        authorized,
        waiting,
    })
}

#[cfg(test)]
mod tests;
