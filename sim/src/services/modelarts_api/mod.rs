//! ModelArts app-auth APIs and their authorizations to apps (reference §2).
//! Error codes here are all UNCONFIRMED.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Ctx, Route, Target, fuzzy, offset_limit};
use crate::error::{ApiError, ErrorStyle, modelarts as err};
use crate::http::{Body, Reply, Req, page};
use crate::state::{Api, Binding, State, Svc, hex32};
use crate::validate;

const MAX_FIELD: usize = 255;
const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "ANY",
];

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

/// A deterministic service name for a service id (the simulator has no real services).
pub fn service_name(service_id: &str) -> String {
    let digest = hex::encode(Sha256::digest(service_id.as_bytes()));
    format!("service-{}", &digest[..4])
}

/// `AuthTypeApiBasicInfo` (plus api_url, api_path, workspace_id).
pub fn api_json(api: &Api) -> Value {
    json!({
        "api_id": api.id,
        "api_name": api.name,
        "api_method": api.method,
        "api_remark": api.remark,
        "auth_type": api.auth_type,
        "predict_url": api.predict_url,
        "service_id": api.service_id,
        "service_name": service_name(&api.service_id),
        "support_app_code": api.support_app_code,
        "api_url": api.api_url,
        "api_path": api.api_path,
        "workspace_id": api.workspace_id,
    })
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

fn authed_apps(state: &State, api: &Api) -> Vec<Value> {
    api.bindings
        .iter()
        .filter_map(|b| state.app(Svc::ModelArts, &api.project, &b.app_id))
        .map(|a| super::modelarts::app_json(state, a, false))
        .collect()
}

fn require_app_auth(api: &Api) -> Result<(), ApiError> {
    if api.auth_type == "APP" {
        Ok(())
    } else {
        Err(err::invalid(format!(
            "API {} uses auth type {}; only APP APIs can be authorized to apps",
            api.id, api.auth_type
        )))
    }
}

fn new_api(ctx: &Ctx, service_id: &str, body: &Body) -> Result<Api, ApiError> {
    let workspace = body
        .str("workspace_id")?
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "0".to_string());
    let auth_type = match body.str("auth_type")?.as_deref() {
        None | Some("APP") | Some("APIG") => "APP".to_string(),
        Some("NONE") => "NONE".to_string(),
        Some("IAM") => "IAM".to_string(),
        Some(_) => return Err(invalid("auth_type")),
    };
    let method = match body.str("api_method")? {
        None => "ANY".to_string(),
        Some(m) => {
            let up = m.to_ascii_uppercase();
            if !METHODS.contains(&up.as_str()) {
                return Err(invalid("api_method"));
            }
            up
        }
    };
    let mut fields = Vec::new();
    for key in ["api_url", "api_path", "api_remark"] {
        let v = body.str(key)?.unwrap_or_default();
        if !validate::remark(&v, MAX_FIELD) {
            return Err(err::invalid(format!(
                "Invalid parameter: {key} exceeds {MAX_FIELD} characters"
            )));
        }
        fields.push(v);
    }
    let [api_url, api_path, remark] =
        <[String; 3]>::try_from(fields).map_err(|_| invalid("body"))?;
    let name = match body.str("api_name")? {
        Some(n) if !n.is_empty() => {
            if !validate::free_name(&n) {
                return Err(invalid("api_name"));
            }
            n
        }
        _ => format!("infer_{}", service_id.replace('-', "")),
    };
    let domain_digest = hex::encode(Sha256::digest(
        format!("{}/{service_id}", ctx.account.project_id).as_bytes(),
    ));
    let path = if api_path.is_empty() {
        format!("/v1/infers/{service_id}")
    } else if api_path.starts_with('/') {
        api_path.clone()
    } else {
        format!("/{api_path}")
    };
    let predict_url = format!(
        "https://{}.apig.{}.huaweicloudapis.com{path}",
        &domain_digest[..32],
        ctx.account.region
    );
    Ok(Api {
        project: ctx.account.project_id.clone(),
        service_id: service_id.to_string(),
        workspace_id: workspace,
        id: hex32(),
        name,
        remark,
        method,
        auth_type,
        support_app_code: body.bool("support_app_code")?.unwrap_or(false),
        api_url,
        api_path,
        predict_url,
        user_id: ctx.user_id(),
        created: ctx.now,
        bindings: Vec::new(),
    })
}

/// `apps: [{app_id}]` from the body (mandatory).
fn app_ids(body: &Body) -> Result<Vec<String>, ApiError> {
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
fn bind(state: &mut State, project: &str, idx: usize, app_ids: &[String]) -> Vec<Value> {
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
fn unbind(state: &mut State, project: &str, idx: usize, app_ids: &[String]) -> Vec<Value> {
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

fn list_bindings(state: &State, project: &str, idx: usize, req: &Req) -> Result<Reply, ApiError> {
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
                    let mut v = super::modelarts::app_json(state, a, false);
                    if let Some(obj) = v.as_object_mut() {
                        obj.insert("auth_id".into(), json!(b.auth_id));
                        obj.insert("api_id".into(), json!(api.id));
                    }
                    Some(v)
                }
                (None, true) => Some(super::modelarts::app_json(state, a, false)),
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
