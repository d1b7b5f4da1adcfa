//! APIG dedicated gateway apps ("credentials") and AppCodes (reference §4). Error codes are
//! the reference's table (confirmed). Routing (`routes`), app handlers (`apps`) and AppCode
//! handlers (`app_codes`) each have a file of their own; this one dispatches.

mod app_codes;
mod apps;
mod routes;

use http::StatusCode;
use serde_json::json;

use super::Ctx;
use crate::error::{ApiError, apig as err};
use crate::http::{Body, Reply, Req};
use crate::state::{State, hex32};
use crate::validate;

pub use app_codes::{MAX_APP_CODES, app_codes};
pub use apps::app_json;
use apps::{create, find_idx, list, update};
pub use routes::{CodeOp, Op, route};

/// A JSON object body; anything else (invalid JSON, an array, ...) is APIG.2012.
fn parse_body(req: &Req) -> Result<Body, ApiError> {
    Body::parse_object(req, err::invalid, err::invalid_body)
}

pub fn execute(
    state: &mut State,
    ctx: &Ctx,
    instance: &str,
    op: &Op,
    req: &Req,
) -> Result<Reply, ApiError> {
    let project = ctx.account.project_id.clone();
    let instance = instance.to_string();
    match op {
        Op::Create => create(state, ctx, &project, &instance, req),
        Op::List => list(state, &project, &instance, req),
        Op::Show(id) => {
            let idx = find_idx(state, &project, &instance, id)?;
            Ok(Reply::ok(app_json(&state.apps[idx])))
        }
        Op::Validate(id) => {
            let idx = find_idx(state, &project, &instance, id)?;
            let a = &state.apps[idx];
            Ok(Reply::ok(
                json!({"id": a.id, "name": a.name, "remark": a.remark}),
            ))
        }
        Op::Update(id) => update(state, ctx, &project, &instance, id, req),
        Op::Delete(id) => {
            let idx = find_idx(state, &project, &instance, id)?;
            state.apps.remove(idx);
            Ok(Reply::empty(StatusCode::NO_CONTENT))
        }
        Op::ResetSecret(id) => {
            let idx = find_idx(state, &project, &instance, id)?;
            let body = parse_body(req)?;
            let secret = match body.str("app_secret")? {
                Some(s) if !s.is_empty() => {
                    if !validate::apig_secret(&s) {
                        return Err(err::invalid("app_secret"));
                    }
                    s
                }
                _ => hex32(),
            };
            let app = &mut state.apps[idx];
            app.secret = secret;
            app.updated = ctx.now;
            Ok(Reply::ok(app_json(app)))
        }
        Op::AppCodes(id, code_op) => {
            let idx = find_idx(state, &project, &instance, id)?;
            app_codes(state, ctx, idx, code_op, req)
        }
    }
}
