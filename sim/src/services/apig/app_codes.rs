//! APIG AppCode handlers, shared with ROMA's APIC view.

use http::StatusCode;
use serde_json::{Value, json};

use super::{CodeOp, parse_body};
use crate::error::{ApiError, apig as err};
use crate::http::{Reply, Req, page};
use crate::services::Ctx;
use crate::state::{App, AppCode, State, app_code_value, hex32, rfc3339_nanos};
use crate::validate;

/// Up to 5 AppCodes per app (TF MaxItems 5).
pub const MAX_APP_CODES: usize = 5;

fn code_json(app: &App, code: &AppCode) -> Value {
    json!({
        "id": code.id,
        "app_code": code.code,
        "app_id": app.id,
        "create_time": rfc3339_nanos(code.created),
    })
}

/// AppCode operations on `state.apps[idx]` (APIG and ROMA APIC; APIG error codes).
pub fn app_codes(
    state: &mut State,
    ctx: &Ctx,
    idx: usize,
    op: &CodeOp,
    req: &Req,
) -> Result<Reply, ApiError> {
    match op {
        CodeOp::Create | CodeOp::Generate => {
            let value = if matches!(op, CodeOp::Create) {
                let body = parse_body(req)?;
                let v = body.required_str("app_code")?;
                if !validate::app_code(&v) {
                    return Err(err::invalid("app_code"));
                }
                v
            } else {
                app_code_value()
            };
            if state.apps[idx].app_codes.len() >= MAX_APP_CODES {
                return Err(err::app_code_quota());
            }
            // SIM-CHOSEN: an AppCode value is unique across all apps (so a gateway
            // could tell which app it belongs to).
            if state
                .apps
                .iter()
                .any(|a| a.app_codes.iter().any(|c| c.code == value))
            {
                return Err(err::invalid("app_code"));
            }
            let code = AppCode {
                id: hex32(),
                code: value,
                created: ctx.now,
            };
            let app = &mut state.apps[idx];
            let out = code_json(app, &code);
            app.app_codes.push(code);
            Ok(Reply::json(StatusCode::CREATED, out))
        }
        CodeOp::List => {
            let offset = req.q_int("offset", err::invalid)?.unwrap_or(0).max(0) as usize;
            let limit = match req.q_int("limit", err::invalid)?.unwrap_or(20) {
                l if l <= 0 => 20,
                l if l > 500 => 500,
                l => l as usize,
            };
            let app = &state.apps[idx];
            let all: Vec<Value> = app.app_codes.iter().map(|c| code_json(app, c)).collect();
            let items = page(&all, offset, limit);
            Ok(Reply::ok(json!({
                "size": items.len(),
                "total": all.len(),
                "app_codes": items,
            })))
        }
        CodeOp::Show(code_id) => {
            let app = &state.apps[idx];
            let code = app
                .app_codes
                .iter()
                .find(|c| c.id == *code_id)
                .ok_or_else(|| err::app_code_not_found(code_id))?;
            Ok(Reply::ok(code_json(app, code)))
        }
        CodeOp::Delete(code_id) => {
            let app = &mut state.apps[idx];
            let pos = app
                .app_codes
                .iter()
                .position(|c| c.id == *code_id)
                .ok_or_else(|| err::app_code_not_found(code_id))?;
            app.app_codes.remove(pos);
            Ok(Reply::empty(StatusCode::NO_CONTENT))
        }
    }
}
