//! ModelArts app-auth apps (reference §1). Error codes here are all UNCONFIRMED.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Ctx, Route, Target, fuzzy, offset_limit};
use crate::error::{ApiError, ErrorStyle, modelarts as err};
use crate::http::{Body, Reply, Req, page};
use crate::state::{App, AppCode, State, Svc, app_code_value, hex32, mask, uuid_like};
use crate::validate;

/// Maximum AppCodes per ModelArts app (SIM-CHOSEN, as APIG).
const MAX_APP_CODES: usize = 5;
/// app_remark limit (documented).
const MAX_REMARK: usize = 200;

pub enum Op {
    Create,
    List,
    Show(String),
    Exists(String),
    Delete(String),
    ResetSecret(String),
    AddAppCode(String),
    ResetAppCode(String, String),
    AppApis(String),
}

pub fn route(method: &Method, segs: &[&str]) -> Option<Route> {
    let ["v1", project, "app-auth", "apps", rest @ ..] = segs else {
        return None;
    };
    let s = |v: &str| v.to_string();
    let (op, name) = match (method, rest) {
        (&Method::POST, []) => (Op::Create, "create"),
        (&Method::GET, []) => (Op::List, "list"),
        (&Method::GET, [name, "exists"]) => (Op::Exists(s(name)), "exists"),
        (&Method::GET, [id, "auth-apis"]) => (Op::AppApis(s(id)), "list_app_apis"),
        (&Method::GET, [id]) => (Op::Show(s(id)), "show"),
        (&Method::DELETE, [id]) => (Op::Delete(s(id)), "delete"),
        (&Method::PUT, [id, "app-secret"]) => (Op::ResetSecret(s(id)), "reset_secret"),
        (&Method::POST, [id, "app-code"]) => (Op::AddAppCode(s(id)), "create_app_code"),
        (&Method::PUT, [id, "app-code", code]) => {
            (Op::ResetAppCode(s(id), s(code)), "reset_app_code")
        }
        _ => return None,
    };
    Some(Route::new(
        Svc::ModelArts,
        name,
        ErrorStyle::Plain,
        Some(project),
        Target::ModelArts(op),
    ))
}

fn invalid(param: &str) -> ApiError {
    err::invalid(format!("Invalid parameter: {param}"))
}

pub fn execute(state: &mut State, ctx: &Ctx, op: &Op, req: &Req) -> Result<Reply, ApiError> {
    let project = ctx.account.project_id.clone();
    match op {
        Op::Create => create(state, ctx, req),
        Op::List => list(state, &project, req),
        Op::Show(id) => {
            let app = find(state, &project, id, req)?;
            let plain = plaintext(state, req, &app.id);
            Ok(Reply::ok(json!({"app": app_json(state, app, plain)})))
        }
        Op::Exists(name) => {
            let ws = req.q("workspace_id").unwrap_or("0");
            let exists = state.apps.iter().any(|a| {
                a.service == Svc::ModelArts
                    && a.project == project
                    && a.instance == ws
                    && a.name == *name
            });
            Ok(Reply::ok(json!({ "exists": exists })))
        }
        Op::Delete(id) => delete(state, ctx, &project, id, req),
        Op::ResetSecret(id) => {
            Body::parse(req, invalid)?;
            let app = owned_mut(state, ctx, &project, id, req)?;
            app.secret = hex32();
            app.updated = ctx.now;
            let app = app.clone();
            Ok(Reply::ok(json!({"app": app_json(state, &app, true)})))
        }
        Op::AddAppCode(id) => {
            Body::parse(req, invalid)?;
            let app = owned_mut(state, ctx, &project, id, req)?;
            if app.app_codes.len() >= MAX_APP_CODES {
                // UNCONFIRMED: the AppCode quota error is not documented (ModelArts.6406).
                return Err(err::app_code_quota(MAX_APP_CODES));
            }
            app.app_codes.push(AppCode {
                id: hex32(),
                code: app_code_value(),
                created: ctx.now,
            });
            app.updated = ctx.now;
            let app = app.clone();
            Ok(Reply::ok(json!({"app": app_json(state, &app, false)})))
        }
        Op::ResetAppCode(id, code) => {
            Body::parse(req, invalid)?;
            let app = owned_mut(state, ctx, &project, id, req)?;
            let slot = app
                .app_codes
                .iter_mut()
                .find(|c| c.code == *code || c.id == *code)
                // UNCONFIRMED: the AppCode-not-found error is not documented.
                .ok_or_else(|| {
                    err::invalid(format!("AppCode {code} does not belong to app {id}"))
                })?;
            slot.code = app_code_value();
            slot.created = ctx.now;
            app.updated = ctx.now;
            let app = app.clone();
            Ok(Reply::ok(json!({"app": app_json(state, &app, false)})))
        }
        Op::AppApis(id) => {
            let app_id = find(state, &project, id, req)?.id.clone();
            let (offset, limit) = offset_limit(req, 1000, invalid)?;
            let service_name = req.q("service_name");
            let apis: Vec<Value> = state
                .apis
                .iter()
                .filter(|api| {
                    api.project == project && api.bindings.iter().any(|b| b.app_id == app_id)
                })
                .filter(|api| {
                    fuzzy(
                        &super::modelarts_api::service_name(&api.service_id),
                        service_name,
                    )
                })
                .map(super::modelarts_api::api_json)
                .collect();
            let items = page(&apis, offset, limit);
            Ok(Reply::ok(json!({
                "apis": items,
                "count": items.len(),
                "total_count": apis.len(),
            })))
        }
    }
}

/// Whether the plaintext query flag (configurable name) asks for unmasked secrets of `app_id`.
fn plaintext(state: &State, req: &Req, app_id: &str) -> bool {
    let flag = req
        .q(&state.config.modelarts_plaintext_flag)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let ids = req.q_all("app_ids");
    flag && (ids.is_empty() || ids.iter().any(|i| i == app_id))
}

/// `ApigAppDetailInfo`.
pub fn app_json(state: &State, app: &App, plaintext: bool) -> Value {
    json!({
        "app_id": app.id,
        "app_name": app.name,
        "app_key": app.key,
        "app_secret": if plaintext { app.secret.clone() } else { mask(&app.secret) },
        "app_codes": app.app_codes.iter().map(|c| c.code.clone()).collect::<Vec<_>>(),
        "app_type": "DEDICATE_APIG",
        "app_remark": app.remark,
        "bounded_api_count": state.bound_api_count(&app.id),
        "created_at": app.created.timestamp_millis(),
        "updated_at": app.updated.timestamp_millis(),
        "project_id": app.project,
        "user_id": app.user_id,
        "workspace_id": app.instance,
    })
}

fn find<'a>(state: &'a State, project: &str, id: &str, req: &Req) -> Result<&'a App, ApiError> {
    state
        .app(Svc::ModelArts, project, id)
        .filter(|a| req.q("workspace_id").is_none_or(|ws| ws == a.instance))
        .ok_or_else(|| err::app_not_found(id))
}

/// The app, for an operation only its creator may perform.
fn owned_mut<'a>(
    state: &'a mut State,
    ctx: &Ctx,
    project: &str,
    id: &str,
    req: &Req,
) -> Result<&'a mut App, ApiError> {
    let ws = req.q("workspace_id").map(str::to_string);
    let user = ctx.user_id();
    let app = state
        .app_mut(Svc::ModelArts, project, id)
        .filter(|a| ws.as_deref().is_none_or(|ws| ws == a.instance))
        .ok_or_else(|| err::app_not_found(id))?;
    if app.user_id != user {
        return Err(crate::error::forbidden(ErrorStyle::Plain));
    }
    Ok(app)
}

fn create(state: &mut State, ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let body = Body::parse(req, invalid)?;
    let name = body.required_str("app_name")?;
    if !validate::free_name(&name) {
        return Err(invalid("app_name"));
    }
    let remark = body.str("app_remark")?.unwrap_or_default();
    if !validate::remark(&remark, MAX_REMARK) {
        return Err(err::invalid(format!(
            "Invalid parameter: app_remark exceeds {MAX_REMARK} characters"
        )));
    }
    let workspace = body
        .str("workspace_id")?
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "0".to_string());
    let project = &ctx.account.project_id;
    let user = ctx.user_id();
    if state.config.unique_names.modelarts
        && state.apps.iter().any(|a| {
            a.service == Svc::ModelArts
                && a.project == *project
                && a.instance == workspace
                && a.name == name
        })
    {
        return Err(err::duplicate_name(&name));
    }
    let owned = state
        .apps
        .iter()
        .filter(|a| a.service == Svc::ModelArts && a.user_id == user)
        .count();
    if owned >= state.config.modelarts_quota {
        return Err(err::quota(state.config.modelarts_quota));
    }
    let app = App {
        service: Svc::ModelArts,
        project: project.clone(),
        instance: workspace,
        id: format!("logic-app-{}", uuid_like()),
        name,
        key: hex32(),
        secret: hex32(),
        remark,
        app_codes: Vec::new(),
        user_id: user,
        user_name: ctx.account.user.clone(),
        created: ctx.now,
        updated: ctx.now,
        favorite: false,
        app_type: "DEDICATE_APIG".to_string(),
        dlm_type: String::new(),
        related_domain_id: None,
        related_project_id: None,
    };
    let body = json!({"app": app_json(state, &app, true)});
    state.apps.push(app);
    Ok(Reply::ok(body))
}

fn list(state: &State, project: &str, req: &Req) -> Result<Reply, ApiError> {
    let (offset, limit) = offset_limit(req, 1000, invalid)?;
    let name = req.q("app_name");
    let ws = req.q("workspace_id");
    let mut apps: Vec<&App> = state
        .apps
        .iter()
        .filter(|a| a.service == Svc::ModelArts && a.project == project)
        .filter(|a| ws.is_none_or(|w| w == a.instance))
        // The reference does not say whether app_name is exact or fuzzy; the simulator
        // matches substrings, so clients must filter exactly themselves.
        .filter(|a| fuzzy(&a.name, name))
        .collect();
    match req.q("sort_by") {
        None | Some("created_at") => apps.sort_by_key(|a| a.created),
        Some("updated_at") => apps.sort_by_key(|a| a.updated),
        Some("app_name") => apps.sort_by(|a, b| a.name.cmp(&b.name)),
        Some(_) => return Err(invalid("sort_by")),
    }
    match req.q("order") {
        None | Some("asc") => {}
        Some("desc") => apps.reverse(),
        Some(_) => return Err(invalid("order")),
    }
    let total = apps.len();
    let items: Vec<Value> = page(&apps, offset, limit)
        .into_iter()
        .map(|a| app_json(state, a, plaintext(state, req, &a.id)))
        .collect();
    Ok(Reply::ok(json!({
        "apps": items,
        "count": items.len(),
        "total_count": total,
    })))
}

fn delete(
    state: &mut State,
    ctx: &Ctx,
    project: &str,
    id: &str,
    req: &Req,
) -> Result<Reply, ApiError> {
    owned_mut(state, ctx, project, id, req)?;
    let bound = state.bound_api_count(id);
    if bound > 0 {
        return Err(err::app_bound(id, bound));
    }
    state.remove_app(Svc::ModelArts, project, id);
    Ok(Reply::empty(StatusCode::OK))
}
