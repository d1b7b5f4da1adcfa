//! ROMA Connect integration apps (reference §5) and the APIC view of the same apps.
//! ROMA error codes other than ROMA.00000101 are UNCONFIRMED.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::apig::{CodeOp, app_codes};
use super::{Ctx, Route, Target, fuzzy, offset_limit};
use crate::error::{ApiError, ErrorStyle, apig as apig_err, roma as err};
use crate::http::{Body, Reply, Req, page};
use crate::state::{App, State, Svc, hex32, rfc3339, uuid_like};
use crate::validate;

/// Remark limit (SIM-CHOSEN; UNCONFIRMED).
const MAX_REMARK: usize = 255;

pub enum Op {
    Create,
    List,
    Validate,
    Show(String),
    Update(String),
    Delete(String),
    GetSecret(String),
    ResetSecret(String),
    /// `GET /v2/{project_id}/apic/instances/{instance_id}/apps/{app_id}`.
    ApicShow(String),
    /// AppCodes under the APIC path.
    ApicAppCodes(String, CodeOp),
}

pub fn route(method: &Method, segs: &[&str]) -> Option<Route> {
    let s = |v: &str| v.to_string();
    let (project, instance, op, name, style) = match segs {
        ["v2", p, "instances", inst, rest @ ..] => {
            let (op, name) = match (method, rest) {
                (&Method::POST, ["apps"]) => (Op::Create, "create"),
                (&Method::GET, ["apps"]) => (Op::List, "list"),
                (&Method::GET, ["validate-apps"]) => (Op::Validate, "validate"),
                (&Method::GET, ["apps", id]) => (Op::Show(s(id)), "show"),
                (&Method::PUT, ["apps", id]) => (Op::Update(s(id)), "update"),
                (&Method::DELETE, ["apps", id]) => (Op::Delete(s(id)), "delete"),
                (&Method::GET, ["apps", id, "secret"]) => (Op::GetSecret(s(id)), "get_secret"),
                (&Method::PUT, ["apps", id, "secret"]) => (Op::ResetSecret(s(id)), "reset_secret"),
                _ => return None,
            };
            (p, inst, op, name, ErrorStyle::Roma)
        }
        ["v2", p, "apic", "instances", inst, "apps", id, rest @ ..] => {
            let (op, name) = match (method, rest) {
                (&Method::GET, []) => (Op::ApicShow(s(id)), "apic_show"),
                (_, ["app-codes", tail @ ..]) => {
                    let (code_op, name) = CodeOp::route(method, tail)?;
                    (Op::ApicAppCodes(s(id), code_op), name)
                }
                _ => return None,
            };
            (p, inst, op, name, ErrorStyle::Plain)
        }
        _ => return None,
    };
    Some(Route::new(
        Svc::Roma,
        name,
        style,
        Some(project),
        Target::Roma(instance.to_string(), op),
    ))
}

fn invalid(param: &str) -> ApiError {
    err::invalid(format!("Invalid parameter: {param}"))
}

/// `ServerAppInfo` (never contains the secret).
fn app_json(app: &App, caller: &str) -> Value {
    let user = json!({"user_id": app.user_id, "user_name": app.user_name});
    json!({
        "id": app.id,
        "name": app.name,
        "remark": app.remark,
        "roles": ["read", "access", "delete", "modify", "admin"],
        "create_time": rfc3339(app.created),
        "update_time": rfc3339(app.updated),
        "created_user": user,
        "last_updated_user": user,
        "owner": app.user_id == caller,
        "key": app.key,
        "favorite": app.favorite,
    })
}

/// The APIC view (includes key and secret).
fn apic_json(app: &App) -> Value {
    json!({
        "id": app.id,
        "name": app.name,
        "remark": app.remark,
        "creator": "USER",
        "app_key": app.key,
        "app_secret": app.secret,
        "register_time": rfc3339(app.created),
        "update_time": rfc3339(app.updated),
        "status": 1,
        "app_type": "roma",
        "roma_app_type": "integration",
    })
}

fn find_idx(state: &State, project: &str, instance: &str, id: &str) -> Option<usize> {
    state.apps.iter().position(|a| {
        a.service == Svc::Roma && a.project == project && a.instance == instance && a.id == id
    })
}

fn in_instance<'a>(
    state: &'a State,
    project: &'a str,
    instance: &'a str,
) -> impl Iterator<Item = &'a App> {
    state
        .apps
        .iter()
        .filter(move |a| a.service == Svc::Roma && a.project == project && a.instance == instance)
}

pub fn execute(
    state: &mut State,
    ctx: &Ctx,
    instance: &str,
    op: &Op,
    req: &Req,
) -> Result<Reply, ApiError> {
    let project = ctx.account.project_id.clone();
    let caller = ctx.user_id();
    let find = |state: &State, id: &str| {
        find_idx(state, &project, instance, id).ok_or_else(|| err::app_not_found(id))
    };
    match op {
        Op::Create => create(state, ctx, &project, instance, req),
        Op::List => list(state, &project, instance, &caller, req),
        Op::Validate => {
            let name = req.q("name").filter(|v| !v.is_empty());
            let id = req.q("id").filter(|v| !v.is_empty());
            let key = req.q("key").filter(|v| !v.is_empty());
            if name.is_none() && id.is_none() && key.is_none() {
                return Err(err::invalid("One of name, id or key is required"));
            }
            let app = in_instance(state, &project, instance)
                .find(|a| {
                    name.is_none_or(|n| a.name == n)
                        && id.is_none_or(|i| a.id == i)
                        && key.is_none_or(|k| a.key == k)
                })
                .ok_or_else(|| err::app_not_found(name.or(id).or(key).unwrap_or_default()))?;
            Ok(Reply::ok(
                json!({"id": app.id, "name": app.name, "remark": app.remark}),
            ))
        }
        Op::Show(id) => {
            let idx = find(state, id)?;
            Ok(Reply::ok(app_json(&state.apps[idx], &caller)))
        }
        Op::Update(id) => {
            let idx = find(state, id)?;
            let body = Body::parse(req, invalid)?;
            let name = body.str("name")?;
            if let Some(n) = &name {
                if !validate::roma_name(n) {
                    return Err(invalid("name"));
                }
                if state.config.unique_names.roma
                    && in_instance(state, &project, instance).any(|a| a.name == *n && a.id != *id)
                {
                    return Err(err::duplicate_name(n));
                }
            }
            let remark = body.str("remark")?;
            if let Some(r) = &remark
                && !validate::remark(r, MAX_REMARK)
            {
                return Err(invalid("remark"));
            }
            let favorite = body.bool("favorite")?;
            let app = &mut state.apps[idx];
            if let Some(n) = name {
                app.name = n;
            }
            if let Some(r) = remark {
                app.remark = r;
            }
            if let Some(f) = favorite {
                app.favorite = f;
            }
            app.updated = ctx.now;
            Ok(Reply::ok(app_json(app, &caller)))
        }
        Op::Delete(id) => {
            let idx = find(state, id)?;
            state.apps.remove(idx);
            Ok(Reply::empty(StatusCode::OK))
        }
        Op::GetSecret(id) => {
            let idx = find(state, id)?;
            let app = &state.apps[idx];
            Ok(Reply::ok(json!({"id": app.id, "secret": app.secret})))
        }
        Op::ResetSecret(id) => {
            let idx = find(state, id)?;
            let body = Body::parse(req, invalid)?;
            let secret = match body.str("secret")? {
                Some(s) if !s.is_empty() => {
                    if !validate::roma_secret(&s) {
                        return Err(invalid("secret"));
                    }
                    s
                }
                _ => hex32(),
            };
            let app = &mut state.apps[idx];
            app.secret = secret;
            app.updated = ctx.now;
            Ok(Reply::ok(json!({"id": app.id, "secret": app.secret})))
        }
        Op::ApicShow(id) => {
            let idx = find_idx(state, &project, instance, id)
                .ok_or_else(|| apig_err::app_not_found(id))?;
            Ok(Reply::ok(apic_json(&state.apps[idx])))
        }
        Op::ApicAppCodes(id, code_op) => {
            let idx = find_idx(state, &project, instance, id)
                .ok_or_else(|| apig_err::app_not_found(id))?;
            app_codes(state, ctx, idx, code_op, req)
        }
    }
}

fn create(
    state: &mut State,
    ctx: &Ctx,
    project: &str,
    instance: &str,
    req: &Req,
) -> Result<Reply, ApiError> {
    let body = Body::parse(req, invalid)?;
    let name = body.required_str("name")?;
    if !validate::roma_name(&name) {
        return Err(invalid("name"));
    }
    let remark = body.str("remark")?.unwrap_or_default();
    if !validate::remark(&remark, MAX_REMARK) {
        return Err(invalid("remark"));
    }
    let key = body.str("key")?.filter(|k| !k.is_empty());
    if let Some(k) = &key
        && !validate::roma_key(k)
    {
        return Err(invalid("key"));
    }
    let secret = body.str("secret")?.filter(|s| !s.is_empty());
    if let Some(s) = &secret
        && !validate::roma_secret(s)
    {
        return Err(invalid("secret"));
    }
    let favorite = body.bool("favorite")?.unwrap_or(false);
    if state.config.unique_names.roma
        && in_instance(state, project, instance).any(|a| a.name == name)
    {
        return Err(err::duplicate_name(&name));
    }
    if let Some(k) = &key
        && in_instance(state, project, instance).any(|a| a.key == *k)
    {
        return Err(err::duplicate_key());
    }
    let app = App {
        service: Svc::Roma,
        project: project.to_string(),
        instance: instance.to_string(),
        id: uuid_like(),
        name,
        key: key.unwrap_or_else(hex32),
        secret: secret.unwrap_or_else(hex32),
        remark,
        app_codes: Vec::new(),
        user_id: ctx.user_id(),
        user_name: ctx.account.user.clone(),
        created: ctx.now,
        updated: ctx.now,
        favorite,
        app_type: "roma".to_string(),
        dlm_type: String::new(),
        related_domain_id: None,
        related_project_id: None,
    };
    let out = app_json(&app, &ctx.user_id());
    state.apps.push(app);
    Ok(Reply::json(StatusCode::CREATED, out))
}

fn list(
    state: &State,
    project: &str,
    instance: &str,
    caller: &str,
    req: &Req,
) -> Result<Reply, ApiError> {
    let (offset, limit) = offset_limit(req, 10, invalid)?;
    let limit = if limit == 0 { 10 } else { limit };
    let name = req.q("name");
    let favorite = match req.q("favorite") {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(invalid("favorite")),
    };
    let owner = match req.q("owner") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let user_name = req.q("user_name").filter(|u| !u.is_empty());
    let mut apps: Vec<&App> = in_instance(state, project, instance)
        .filter(|a| fuzzy(&a.name, name))
        .filter(|a| favorite.is_none_or(|f| a.favorite == f))
        .filter(|a| owner.is_none_or(|o| (a.user_id == caller) == o))
        .filter(|a| user_name.is_none_or(|u| a.user_name == u))
        .collect();
    // Favorited apps are listed first.
    apps.sort_by_key(|a| !a.favorite);
    let items: Vec<Value> = page(&apps, offset, limit)
        .into_iter()
        .map(|a| app_json(a, caller))
        .collect();
    Ok(Reply::ok(json!({
        "total": apps.len(),
        "size": items.len(),
        "apps": items,
    })))
}
