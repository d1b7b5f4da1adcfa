//! ModelArts app-auth APIs and their authorizations to apps (reference §2).
//! Error codes here are all UNCONFIRMED. Routing and dispatch are here; API registration
//! (`apis`) and authorizations to apps (`bindings`) each have a file of their own.

mod apis;
mod bindings;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Ctx, Route, Target};
use crate::error::{ApiError, ErrorStyle, modelarts as err};
use crate::http::{Body, Reply, Req};
use crate::state::{State, Svc};
use apis::new_api;
pub use apis::{api_json, service_name};
use bindings::{app_ids, authed_apps, bind, list_bindings, require_app_auth, unbind};

pub enum Op {
    CreateApi(String),
    CreateAndBind(String),
    ListApis(String),
    DeleteApi(String, String),
    Bind(String, String),
    UpdateBindings(String, String),
    Unbind(String, String),
    ListBindings(String, String),
    ServiceAuths(String),
}

pub fn route(method: &Method, segs: &[&str]) -> Option<Route> {
    let s = |v: &str| v.to_string();
    let (project, op, name) = match (method, segs) {
        (&Method::POST, ["v1", p, "app-auth", sid, "apis"]) if *sid != "apps" => {
            (p, Op::CreateApi(s(sid)), "create_api")
        }
        (_, ["v1", p, "services", sid, rest @ ..]) => match (method, rest) {
            (&Method::POST, ["app-auth-api"]) => {
                (p, Op::CreateAndBind(s(sid)), "create_and_bind_api")
            }
            (&Method::GET, ["app-auth-apis"]) => (p, Op::ListApis(s(sid)), "list_apis"),
            (&Method::DELETE, ["app-auth-apis", api]) => {
                (p, Op::DeleteApi(s(sid), s(api)), "delete_api")
            }
            (&Method::POST, ["app-auth-apis", api, "app-auth-api"]) => {
                (p, Op::Bind(s(sid), s(api)), "bind")
            }
            (&Method::PUT, ["app-auth-apis", api, "app-auth-api"]) => {
                (p, Op::UpdateBindings(s(sid), s(api)), "update_bindings")
            }
            (&Method::DELETE, ["app-auth-apis", api, "app-auth-api"]) => {
                (p, Op::Unbind(s(sid), s(api)), "unbind")
            }
            (&Method::GET, ["app-auth-apis", api, "api-auths"]) => {
                (p, Op::ListBindings(s(sid), s(api)), "list_bindings")
            }
            (&Method::GET, ["api-auths"]) => (p, Op::ServiceAuths(s(sid)), "service_auths"),
            _ => return None,
        },
        _ => return None,
    };
    Some(Route::new(
        Svc::ModelArts,
        name,
        ErrorStyle::Plain,
        Some(project),
        Target::ModelArtsApi(op),
    ))
}

fn invalid(param: &str) -> ApiError {
    err::invalid(format!("Invalid parameter: {param}"))
}

fn check_service(state: &State, service_id: &str) -> Result<(), ApiError> {
    match &state.config.modelarts_services {
        Some(ids) if !ids.iter().any(|i| i == service_id) => {
            Err(err::service_not_found(service_id))
        }
        _ => Ok(()),
    }
}

fn api_index(
    state: &State,
    project: &str,
    service_id: &str,
    api_id: &str,
) -> Result<usize, ApiError> {
    state
        .apis
        .iter()
        .position(|a| a.project == project && a.service_id == service_id && a.id == api_id)
        .ok_or_else(|| err::api_not_found(api_id))
}

pub fn execute(state: &mut State, ctx: &Ctx, op: &Op, req: &Req) -> Result<Reply, ApiError> {
    let project = ctx.account.project_id.clone();
    match op {
        Op::CreateApi(sid) => {
            check_service(state, sid)?;
            let body = Body::parse(req, invalid)?;
            let api = new_api(ctx, sid, &body)?;
            let out = json!({"api": api_json(&api)});
            state.apis.push(api);
            Ok(Reply::ok(out))
        }
        Op::CreateAndBind(sid) => {
            check_service(state, sid)?;
            let body = Body::parse(req, invalid)?;
            let app_ids = app_ids(&body)?;
            let api = new_api(ctx, sid, &body)?;
            require_app_auth(&api)?;
            state.apis.push(api);
            let idx = state.apis.len() - 1;
            let results = bind(state, &project, idx, &app_ids);
            let out = json!({"api": api_json(&state.apis[idx]), "auth_result": results});
            Ok(Reply::ok(out))
        }
        Op::ListApis(sid) => {
            check_service(state, sid)?;
            let ws = req.q("workspace_id");
            let apis: Vec<Value> = state
                .apis
                .iter()
                .filter(|a| a.project == project && a.service_id == *sid)
                .filter(|a| ws.is_none_or(|w| w == a.workspace_id))
                .map(api_json)
                .collect();
            Ok(Reply::ok(json!({
                "apis": apis,
                "count": apis.len(),
                "total_count": apis.len(),
            })))
        }
        Op::DeleteApi(sid, api_id) => {
            check_service(state, sid)?;
            let idx = api_index(state, &project, sid, api_id)?;
            state.apis.remove(idx);
            Ok(Reply::empty(StatusCode::NO_CONTENT))
        }
        Op::Bind(sid, api_id) => {
            check_service(state, sid)?;
            let idx = api_index(state, &project, sid, api_id)?;
            let body = Body::parse(req, invalid)?;
            let ids = app_ids(&body)?;
            require_app_auth(&state.apis[idx])?;
            let results = bind(state, &project, idx, &ids);
            Ok(Reply::ok(json!({ "auth_result": results })))
        }
        Op::UpdateBindings(sid, api_id) => {
            check_service(state, sid)?;
            let idx = api_index(state, &project, sid, api_id)?;
            let body = Body::parse(req, invalid)?;
            let ids = app_ids(&body)?;
            require_app_auth(&state.apis[idx])?;
            let results = bind(state, &project, idx, &ids);
            // Replace semantics (UNCONFIRMED): bindings not in the request are removed.
            state.apis[idx].bindings.retain(|b| ids.contains(&b.app_id));
            Ok(Reply::ok(json!({ "auth_result": results })))
        }
        Op::Unbind(sid, api_id) => {
            check_service(state, sid)?;
            let idx = api_index(state, &project, sid, api_id)?;
            let body = Body::parse(req, invalid)?;
            let ids = app_ids(&body)?;
            let results = unbind(state, &project, idx, &ids);
            Ok(Reply::ok(json!({ "unauth_result": results })))
        }
        Op::ListBindings(sid, api_id) => {
            check_service(state, sid)?;
            let idx = api_index(state, &project, sid, api_id)?;
            list_bindings(state, &project, idx, req)
        }
        Op::ServiceAuths(sid) => {
            check_service(state, sid)?;
            let ws = req.q("workspace_id");
            let api = state.apis.iter().find(|a| {
                a.project == project
                    && a.service_id == *sid
                    && a.auth_type == "APP"
                    && ws.is_none_or(|w| w == a.workspace_id)
            });
            let out = match api {
                Some(api) => json!({
                    "enable_app_auth": true,
                    "app_auth_api": {
                        "api_id": api.id,
                        "authed_apps": authed_apps(state, api),
                    },
                }),
                None => json!({"enable_app_auth": false, "app_auth_api": null}),
            };
            Ok(Reply::ok(out))
        }
    }
}
