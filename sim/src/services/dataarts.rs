//! DataArts Studio DataService apps (reference §3). Apps are partitioned by the `workspace`
//! header; not found is HTTP 400 DLM.4063 (confirmed); DLM.4011 and DLM.4000 are UNCONFIRMED.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Ctx, Route, Target, fuzzy, offset_limit};
use crate::error::{ApiError, ErrorStyle, dataarts as err};
use crate::http::{Body, Reply, Req, page};
use crate::state::{App, State, Svc, hex32};
use crate::validate;

/// Description limit (SIM-CHOSEN; UNCONFIRMED).
const MAX_DESCRIPTION: usize = 255;

pub enum Op {
    Create,
    List,
    Show(String),
    Update(String),
    Delete(String),
}

pub fn route(method: &Method, segs: &[&str]) -> Option<Route> {
    let ["v1", project, "service", "apps", rest @ ..] = segs else {
        return None;
    };
    let (op, name) = match (method, rest) {
        (&Method::POST, []) => (Op::Create, "create"),
        (&Method::GET, []) => (Op::List, "list"),
        (&Method::GET, [id]) => (Op::Show(id.to_string()), "show"),
        (&Method::PUT, [id]) => (Op::Update(id.to_string()), "update"),
        (&Method::DELETE, [id]) => (Op::Delete(id.to_string()), "delete"),
        _ => return None,
    };
    Some(Route::new(
        Svc::DataArts,
        name,
        ErrorStyle::Plain,
        Some(project),
        Target::DataArts(op),
    ))
}

fn invalid(param: &str) -> ApiError {
    err::invalid(format!("Invalid parameter: {param}"))
}

/// The `workspace` header (mandatory) and `Dlm-Type` (optional, SHARED by default).
fn workspace(req: &Req) -> Result<(String, String), ApiError> {
    let ws = req
        .header("workspace")
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty())
        .ok_or_else(err::no_workspace)?;
    let dlm = match req.header("dlm-type") {
        None => "SHARED".to_string(),
        Some(v) => {
            let up = v.trim().to_ascii_uppercase();
            if up != "SHARED" && up != "EXCLUSIVE" {
                return Err(invalid("Dlm-Type"));
            }
            up
        }
    };
    Ok((ws, dlm))
}

/// `AppReturnDto`.
fn app_json(app: &App) -> Value {
    json!({
        "id": app.id,
        "name": app.name,
        "description": app.remark,
        "app_key": app.key,
        "app_secret": app.secret,
        "register_time": app.created.timestamp_millis(),
        "update_time": app.updated.timestamp_millis(),
        "create_user": app.user_name,
        "update_user": app.user_name,
        "app_type": app.app_type,
    })
}

fn name_taken(state: &State, project: &str, ws: &str, name: &str, except: Option<&str>) -> bool {
    state.apps.iter().any(|a| {
        a.service == Svc::DataArts
            && a.project == project
            && a.instance == ws
            && a.name == name
            && Some(a.id.as_str()) != except
    })
}

fn find_mut<'a>(
    state: &'a mut State,
    project: &str,
    ws: &str,
    id: &str,
) -> Result<&'a mut App, ApiError> {
    state
        .app_mut(Svc::DataArts, project, id)
        .filter(|a| a.instance == ws)
        .ok_or_else(|| err::app_not_found(id))
}

pub fn execute(state: &mut State, ctx: &Ctx, op: &Op, req: &Req) -> Result<Reply, ApiError> {
    let project = ctx.account.project_id.clone();
    let (ws, dlm) = workspace(req)?;
    match op {
        Op::Create => create(state, ctx, &ws, &dlm, req),
        Op::List => {
            let (offset, limit) = offset_limit(req, 10, invalid)?;
            let limit = if limit == 0 { 10 } else { limit };
            let name = req.q("name");
            let app_type = req.q("app_type");
            let apps: Vec<&App> = state
                .apps
                .iter()
                .filter(|a| a.service == Svc::DataArts && a.project == project && a.instance == ws)
                .filter(|a| fuzzy(&a.name, name))
                .filter(|a| app_type.is_none_or(|t| t.is_empty() || t == a.app_type))
                .collect();
            let items: Vec<Value> = page(&apps, offset, limit)
                .into_iter()
                .map(app_json)
                .collect();
            Ok(Reply::ok(json!({"total": apps.len(), "apps": items})))
        }
        Op::Show(id) => Ok(Reply::ok(app_json(find_mut(state, &project, &ws, id)?))),
        Op::Update(id) => {
            let body = Body::parse(req, invalid)?;
            let name = body.str("name")?;
            let description = body.str("description")?;
            if let Some(n) = &name
                && !validate::free_name(n)
            {
                return Err(invalid("name"));
            }
            if let Some(d) = &description
                && !validate::remark(d, MAX_DESCRIPTION)
            {
                return Err(invalid("description"));
            }
            find_mut(state, &project, &ws, id)?;
            if let Some(n) = &name
                && state.config.unique_names.dataarts
                && name_taken(state, &project, &ws, n, Some(id))
            {
                return Err(err::duplicate_name(n));
            }
            let app = find_mut(state, &project, &ws, id)?;
            if let Some(n) = name {
                app.name = n;
            }
            if let Some(d) = description {
                app.remark = d;
            }
            app.updated = ctx.now;
            Ok(Reply::ok(app_json(app)))
        }
        Op::Delete(id) => {
            find_mut(state, &project, &ws, id)?;
            state.remove_app(Svc::DataArts, &project, id);
            Ok(Reply::empty(StatusCode::NO_CONTENT))
        }
    }
}

fn create(state: &mut State, ctx: &Ctx, ws: &str, dlm: &str, req: &Req) -> Result<Reply, ApiError> {
    let body = Body::parse(req, invalid)?;
    let app_type = match body.str("app_type")?.as_deref() {
        None | Some("APP") => "APP",
        Some("IAM") => "IAM",
        // Deprecated values are accepted and stored as APP.
        Some("APIG") | Some("APIGW") | Some("DLM") | Some("ROMA_APIC") => "APP",
        Some(_) => return Err(invalid("app_type")),
    };
    if let Some(t) = body.str("apig_type")?
        && !["APIG", "APIGW", "ROMA_APIC"].contains(&t.as_str())
    {
        return Err(invalid("apig_type"));
    }
    let name = body.required_str("name")?;
    if !validate::free_name(&name) {
        return Err(invalid("name"));
    }
    let description = body.str("description")?.unwrap_or_default();
    if !validate::remark(&description, MAX_DESCRIPTION) {
        return Err(invalid("description"));
    }
    let project = ctx.account.project_id.clone();
    if app_type == "IAM" {
        // An IAM app is named after the account and exists at most once (reference §3).
        if name != ctx.account.domain {
            return Err(err::invalid(
                "The name of an IAM app must be the account name",
            ));
        }
        if state.apps.iter().any(|a| {
            a.service == Svc::DataArts
                && a.project == project
                && a.instance == ws
                && a.app_type == "IAM"
        }) {
            return Err(err::duplicate_name(&name));
        }
    }
    if state.config.unique_names.dataarts && name_taken(state, &project, ws, &name, None) {
        return Err(err::duplicate_name(&name));
    }
    let (key, secret) = if app_type == "IAM" {
        (String::new(), String::new())
    } else {
        (hex32(), hex32())
    };
    let app = App {
        service: Svc::DataArts,
        project,
        instance: ws.to_string(),
        id: hex32(),
        name,
        key,
        secret,
        remark: description,
        app_codes: Vec::new(),
        user_id: ctx.user_id(),
        user_name: ctx.account.user.clone(),
        created: ctx.now,
        updated: ctx.now,
        favorite: false,
        app_type: app_type.to_string(),
        dlm_type: dlm.to_string(),
        related_domain_id: None,
        related_project_id: None,
    };
    let out = app_json(&app);
    state.apps.push(app);
    Ok(Reply::ok(out))
}
