//! APIG app handlers: create, update and list, the app JSON and lookups in an instance.

use http::StatusCode;
use serde_json::{Value, json};

use super::parse_body;
use crate::error::{ApiError, apig as err};
use crate::http::{Body, Reply, Req, page};
use crate::services::{Ctx, fuzzy};
use crate::state::{App, State, Svc, hex32, rfc3339_nanos};
use crate::validate;

const MAX_REMARK: usize = 255;

/// The APIG app object (create/show/update/reset responses).
pub fn app_json(app: &App) -> Value {
    let mut v = json!({
        "id": app.id,
        "name": app.name,
        "remark": app.remark,
        "creator": "USER",
        "update_time": rfc3339_nanos(app.updated),
        "app_key": app.key,
        "app_secret": app.secret,
        "register_time": rfc3339_nanos(app.created),
        "status": 1,
        "app_type": "apig",
        "roma_app_type": "",
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(d) = &app.related_domain_id {
            obj.insert("related_domain_id".into(), json!(d));
        }
        if let Some(p) = &app.related_project_id {
            obj.insert("related_project_id".into(), json!(p));
        }
    }
    v
}

pub(super) fn find_idx(
    state: &State,
    project: &str,
    instance: &str,
    id: &str,
) -> Result<usize, ApiError> {
    state
        .apps
        .iter()
        .position(|a| {
            a.service == Svc::Apig && a.project == project && a.instance == instance && a.id == id
        })
        .ok_or_else(|| err::app_not_found(id))
}

fn in_instance<'a>(
    state: &'a State,
    project: &'a str,
    instance: &'a str,
) -> impl Iterator<Item = &'a App> {
    state
        .apps
        .iter()
        .filter(move |a| a.service == Svc::Apig && a.project == project && a.instance == instance)
}

/// Optional remark, app_key and app_secret of a create/update body.
struct Fields {
    remark: Option<String>,
    key: Option<String>,
    secret: Option<String>,
}

fn validate_fields(body: &Body) -> Result<Fields, ApiError> {
    let remark = body.str("remark")?;
    if let Some(r) = &remark
        && !validate::remark(r, MAX_REMARK)
    {
        return Err(err::invalid("remark"));
    }
    let key = body.str("app_key")?.filter(|k| !k.is_empty());
    if let Some(k) = &key
        && !validate::apig_key(k)
    {
        return Err(err::invalid("app_key"));
    }
    let secret = body.str("app_secret")?.filter(|s| !s.is_empty());
    if let Some(s) = &secret
        && !validate::apig_secret(s)
    {
        return Err(err::invalid("app_secret"));
    }
    Ok(Fields {
        remark,
        key,
        secret,
    })
}

fn check_unique(
    state: &State,
    project: &str,
    instance: &str,
    name: Option<&str>,
    key: Option<&str>,
    except: Option<&str>,
) -> Result<(), ApiError> {
    let others = || in_instance(state, project, instance).filter(|a| Some(a.id.as_str()) != except);
    if let Some(n) = name
        && state.config.unique_names.apig
        && others().any(|a| a.name == n)
    {
        return Err(err::name_exists());
    }
    if let Some(k) = key
        && others().any(|a| a.key == k)
    {
        return Err(err::key_exists());
    }
    Ok(())
}

pub(super) fn create(
    state: &mut State,
    ctx: &Ctx,
    project: &str,
    instance: &str,
    req: &Req,
) -> Result<Reply, ApiError> {
    let body = parse_body(req)?;
    let name = body.required_str("name")?;
    if !validate::apig_name(&name) {
        return Err(err::invalid("name"));
    }
    let Fields {
        remark,
        key,
        secret,
    } = validate_fields(&body)?;
    let related_domain_id = body.str("related_domain_id")?;
    let related_project_id = body.str("related_project_id")?;
    if in_instance(state, project, instance).count() >= state.config.apig_quota {
        return Err(err::quota());
    }
    check_unique(state, project, instance, Some(&name), key.as_deref(), None)?;
    let app = App {
        service: Svc::Apig,
        project: project.to_string(),
        instance: instance.to_string(),
        id: hex32(),
        name,
        key: key.unwrap_or_else(hex32),
        secret: secret.unwrap_or_else(hex32),
        remark: remark.unwrap_or_default(),
        app_codes: Vec::new(),
        user_id: ctx.user_id(),
        user_name: ctx.account.user.clone(),
        created: ctx.now,
        updated: ctx.now,
        favorite: false,
        app_type: "apig".to_string(),
        dlm_type: String::new(),
        related_domain_id,
        related_project_id,
    };
    let out = app_json(&app);
    state.apps.push(app);
    Ok(Reply::json(StatusCode::CREATED, out))
}

pub(super) fn update(
    state: &mut State,
    ctx: &Ctx,
    project: &str,
    instance: &str,
    id: &str,
    req: &Req,
) -> Result<Reply, ApiError> {
    let idx = find_idx(state, project, instance, id)?;
    let body = parse_body(req)?;
    let name = body.required_str("name")?;
    if !validate::apig_name(&name) {
        return Err(err::invalid("name"));
    }
    let Fields {
        remark,
        key,
        secret,
    } = validate_fields(&body)?;
    check_unique(
        state,
        project,
        instance,
        Some(&name),
        key.as_deref(),
        Some(id),
    )?;
    let related_domain_id = body.str("related_domain_id")?;
    let related_project_id = body.str("related_project_id")?;
    let app = &mut state.apps[idx];
    app.name = name;
    if let Some(r) = remark {
        app.remark = r;
    }
    if let Some(k) = key {
        app.key = k;
    }
    if let Some(s) = secret {
        app.secret = s;
    }
    if related_domain_id.is_some() {
        app.related_domain_id = related_domain_id;
    }
    if related_project_id.is_some() {
        app.related_project_id = related_project_id;
    }
    app.updated = ctx.now;
    Ok(Reply::ok(app_json(app)))
}

pub(super) fn list(
    state: &State,
    project: &str,
    instance: &str,
    req: &Req,
) -> Result<Reply, ApiError> {
    let offset = req.q_int("offset", err::invalid)?.unwrap_or(0).max(0) as usize;
    let limit = match req.q_int("limit", err::invalid)?.unwrap_or(20) {
        l if l <= 0 => 20,
        l if l > 500 => 500,
        l => l as usize,
    };
    let precise = req
        .q("precise_search")
        .is_some_and(|p| p.split(',').any(|f| f.trim() == "name"));
    let name = req.q("name").filter(|n| !n.is_empty());
    let id = req.q("id").filter(|v| !v.is_empty());
    let key = req.q("app_key").filter(|v| !v.is_empty());
    let creator = req.q("creator").filter(|v| !v.is_empty());
    let status = req.q_int("status", err::invalid)?;
    let apps: Vec<&App> = in_instance(state, project, instance)
        .filter(|a| match name {
            Some(n) if precise => a.name == n,
            n => fuzzy(&a.name, n),
        })
        .filter(|a| id.is_none_or(|i| a.id == i))
        .filter(|a| key.is_none_or(|k| a.key == k))
        // Every app is created by a USER and valid (status 1).
        .filter(|_| creator.is_none_or(|c| c == "USER") && status.is_none_or(|s| s == 1))
        .filter(|a| {
            req.q("related_domain_id")
                .is_none_or(|d| a.related_domain_id.as_deref() == Some(d))
        })
        .filter(|a| {
            req.q("related_project_id")
                .is_none_or(|p| a.related_project_id.as_deref() == Some(p))
        })
        .collect();
    let items: Vec<Value> = page(&apps, offset, limit)
        .into_iter()
        .map(|a| {
            let mut v = app_json(a);
            if let Some(obj) = v.as_object_mut() {
                obj.insert("bind_num".into(), json!(0));
            }
            v
        })
        .collect();
    Ok(Reply::ok(json!({
        "size": items.len(),
        "total": apps.len(),
        "apps": items,
    })))
}
