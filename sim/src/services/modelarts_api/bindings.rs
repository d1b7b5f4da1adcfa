//! Authorizations of apps to an app-auth API: bind, unbind and the listings of bound apps.

use serde_json::{Value, json};

use super::invalid;
use crate::error::{ApiError, modelarts as err};
use crate::http::{Body, Reply, Req, page};
use crate::services::{fuzzy, offset_limit};
use crate::state::{Api, Binding, State, Svc, hex32};

pub(super) fn authed_apps(state: &State, api: &Api) -> Vec<Value> {
    api.bindings
        .iter()
        .filter_map(|b| state.app(Svc::ModelArts, &api.project, &b.app_id))
        .map(|a| crate::services::modelarts::app_json(state, a, false))
        .collect()
}

pub(super) fn require_app_auth(api: &Api) -> Result<(), ApiError> {
    if api.auth_type == "APP" {
        Ok(())
    } else {
        Err(err::invalid(format!(
            "API {} uses auth type {}; only APP APIs can be authorized to apps",
            api.id, api.auth_type
        )))
    }
}

/// `apps: [{app_id}]` from the body (mandatory).
pub(super) fn app_ids(body: &Body) -> Result<Vec<String>, ApiError> {
    let apps = body.array("apps")?.ok_or_else(|| invalid("apps"))?;
    let mut ids = Vec::with_capacity(apps.len());
    for entry in apps {
        let id = entry
            .get("app_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("apps.app_id"))?;
        ids.push(id.to_string());
    }
    Ok(ids)
}

fn result(api_id: &str, app_id: &str, auth_id: &str, reason: &str, success: bool) -> Value {
    json!({
        "api_id": api_id,
        "app_id": app_id,
        "auth_id": auth_id,
        "reason": reason,
        "success": success,
    })
}

/// Authorizes each app; unknown apps fail individually (HTTP 200 overall).
pub(super) fn bind(state: &mut State, project: &str, idx: usize, app_ids: &[String]) -> Vec<Value> {
    let mut out = Vec::with_capacity(app_ids.len());
    for app_id in app_ids {
        let api_id = state.apis[idx].id.clone();
        if state.app(Svc::ModelArts, project, app_id).is_none() {
            out.push(result(
                &api_id,
                app_id,
                "",
                &format!("App {app_id} does not exist"),
                false,
            ));
            continue;
        }
        let api = &mut state.apis[idx];
        let auth_id = match api.bindings.iter().find(|b| b.app_id == *app_id) {
            Some(b) => b.auth_id.clone(),
            None => {
                let auth_id = hex32();
                api.bindings.push(Binding {
                    app_id: app_id.clone(),
                    auth_id: auth_id.clone(),
                });
                auth_id
            }
        };
        out.push(result(&api_id, app_id, &auth_id, "", true));
    }
    out
}

/// Cancels authorizations; an app that exists but is not bound counts as success.
pub(super) fn unbind(
    state: &mut State,
    project: &str,
    idx: usize,
    app_ids: &[String],
) -> Vec<Value> {
    let mut out = Vec::with_capacity(app_ids.len());
    for app_id in app_ids {
        let exists = state.app(Svc::ModelArts, project, app_id).is_some();
        let api = &mut state.apis[idx];
        let pos = api.bindings.iter().position(|b| b.app_id == *app_id);
        match (pos, exists) {
            (Some(p), _) => {
                let b = api.bindings.remove(p);
                out.push(result(&api.id, app_id, &b.auth_id, "", true));
            }
            (None, true) => out.push(result(&api.id, app_id, "", "", true)),
            (None, false) => out.push(result(
                &api.id,
                app_id,
                "",
                &format!("App {app_id} does not exist"),
                false,
            )),
        }
    }
    out
}

pub(super) fn list_bindings(
    state: &State,
    project: &str,
    idx: usize,
    req: &Req,
) -> Result<Reply, ApiError> {
    let (offset, limit) = offset_limit(req, 1000, invalid)?;
    let api = &state.apis[idx];
    let name = req.q("app_name");
    let unauth = match req.q("show_only") {
        None | Some("AUTH") => false,
        Some("UNAUTH") => true,
        Some(_) => return Err(invalid("show_only")),
    };
    let items: Vec<Value> = state
        .apps
        .iter()
        .filter(|a| a.service == Svc::ModelArts && a.project == project)
        .filter(|a| fuzzy(&a.name, name))
        .filter_map(|a| {
            let binding = api.bindings.iter().find(|b| b.app_id == a.id);
            match (binding, unauth) {
                (Some(b), false) => {
                    let mut v = crate::services::modelarts::app_json(state, a, false);
                    if let Some(obj) = v.as_object_mut() {
                        obj.insert("auth_id".into(), json!(b.auth_id));
                        obj.insert("api_id".into(), json!(api.id));
                    }
                    Some(v)
                }
                (None, true) => Some(crate::services::modelarts::app_json(state, a, false)),
                _ => None,
            }
        })
        .collect();
    let pageed = page(&items, offset, limit);
    Ok(Reply::ok(json!({
        "auths": pageed,
        "count": pageed.len(),
        "total_count": items.len(),
    })))
}
