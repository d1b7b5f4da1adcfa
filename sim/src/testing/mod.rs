//! Test endpoints under `/_sim/` (no authentication) and the app-credential gateway check;
//! the federation ones (identity providers, Pod Identity, records, test issuer) are in
//! `federation`.

mod federation;

use chrono::Utc;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::auth::signature::{SigError, parse_authorization};
use crate::auth::verify_signature;
use crate::config::Account;
use crate::dispatch::Sim;
use crate::error::{AUTH_EXPIRED, AUTH_FAILED};
use crate::faults::{self, FaultSpec};
use crate::http::{Reply, Req};

pub(crate) fn bad(msg: impl Into<String>) -> Reply {
    Reply::json(StatusCode::BAD_REQUEST, json!({"error": msg.into()}))
}

fn parse_json(req: &Req) -> Result<Value, Reply> {
    serde_json::from_slice(&req.body).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

/// Handles `/_sim/...`.
pub async fn handle(sim: &Sim, req: &Req) -> Reply {
    if let Some(reply) = federation::handle(sim, req).await {
        return reply;
    }
    handle_sync(sim, req)
}

fn handle_sync(sim: &Sim, req: &Req) -> Reply {
    let segs = req.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (&req.method, segs.as_slice()) {
        (_, ["_sim", "gateway", ..]) => gateway(sim, req),
        (&Method::GET, ["_sim", "health"]) => Reply::ok(json!({"status": "ok"})),
        (&Method::GET, ["_sim", "state"]) => Reply::ok(json!(sim.lock().snapshot())),
        (&Method::GET, ["_sim", "faults"]) => Reply::ok(json!(sim.lock().faults)),
        (&Method::POST, ["_sim", "faults"]) => {
            let spec = match parse_json(req).and_then(|v| FaultSpec::from_json(v).map_err(bad)) {
                Ok(s) => s,
                Err(r) => return r,
            };
            match faults::add(&mut sim.lock(), spec) {
                Ok(id) => Reply::json(StatusCode::CREATED, json!({ "id": id })),
                Err(e) => bad(e),
            }
        }
        (&Method::DELETE, ["_sim", "faults"]) => {
            sim.lock().faults.clear();
            Reply::empty(StatusCode::NO_CONTENT)
        }
        (&Method::GET, ["_sim", "counts"]) => Reply::ok(json!(sim.lock().counts)),
        (&Method::DELETE, ["_sim", "counts"]) => {
            sim.lock().counts.clear();
            Reply::empty(StatusCode::NO_CONTENT)
        }
        (&Method::GET, ["_sim", "config"]) => Reply::ok(sim.lock().config.settings_json()),
        (&Method::PUT, ["_sim", "config"]) | (&Method::PATCH, ["_sim", "config"]) => {
            let patch = match parse_json(req) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let mut st = sim.lock();
            let old_seed = st.config.seed;
            match st.config.apply_patch(&patch) {
                Ok(()) => {
                    if st.config.seed != old_seed || patch.get("seed").is_some() {
                        st.reseed();
                    }
                    Reply::ok(st.config.settings_json())
                }
                Err(e) => bad(e),
            }
        }
        (&Method::GET, ["_sim", "accounts"]) => {
            let st = sim.lock();
            let list: Vec<Value> = st
                .config
                .accounts
                .iter()
                .map(Account::public_view)
                .collect();
            Reply::ok(json!(list))
        }
        (&Method::POST, ["_sim", "accounts"]) => {
            let account: Account = match serde_json::from_slice(&req.body) {
                Ok(a) => a,
                Err(e) => return bad(format!("invalid account: {e}")),
            };
            match add_account(sim, account) {
                Ok(view) => Reply::json(StatusCode::CREATED, view),
                Err(e) => Reply::json(StatusCode::CONFLICT, json!({"error": e})),
            }
        }
        (&Method::POST, ["_sim", "reset"]) => {
            sim.lock().reset();
            Reply::empty(StatusCode::NO_CONTENT)
        }
        _ => Reply::json(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no test endpoint {} {}", req.method, req.raw_path)}),
        ),
    }
}

/// Adds an account; its access key, and its domain/user pair, must be new.
pub fn add_account(sim: &Sim, mut account: Account) -> Result<Value, String> {
    if account.access_key.is_empty()
        || account.secret_key.is_empty()
        || account.project_id.is_empty()
    {
        return Err("access_key, secret_key and project_id must not be empty".to_string());
    }
    let mut st = sim.lock();
    let n = st.config.accounts.len() + 1;
    if account.domain.is_empty() {
        account.domain = format!("hwsim-domain-{n}");
    }
    if account.user.is_empty() {
        account.user = format!("hwsim-user-{n}");
    }
    if st
        .config
        .accounts
        .iter()
        .any(|a| a.access_key == account.access_key)
    {
        return Err("an account with this access key exists".to_string());
    }
    if st
        .config
        .accounts
        .iter()
        .any(|a| a.domain == account.domain && a.user == account.user)
    {
        return Err(format!(
            "IAM user {}/{} exists; give the new account another domain or user",
            account.domain, account.user
        ));
    }
    let view = account.public_view();
    st.config.accounts.push(account);
    Ok(view)
}

fn gateway_denied(code: &str, msg: &str) -> Reply {
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"error_code": code, "error_msg": msg}),
    )
}

/// `ANY /_sim/gateway/{*rest}`: 200 while the request is signed with an existing app's key
/// and current secret (or carries a current AppCode in `X-Apig-AppCode`), 401 otherwise.
fn gateway(sim: &Sim, req: &Req) -> Reply {
    let st = sim.lock();
    let found = |app: &crate::state::App| {
        Reply::ok(json!({
            "app_id": app.id,
            "service": app.service.as_str(),
            "name": app.name,
            "project": app.project,
            "instance": app.instance,
        }))
    };
    let Some(authz) = req.header("authorization") else {
        if let Some(code) = req.header("x-apig-appcode") {
            let code = code.trim();
            return match st
                .apps
                .iter()
                .find(|a| a.app_codes.iter().any(|c| c.code == code))
            {
                Some(app) => found(app),
                None => gateway_denied(AUTH_FAILED, "AppCode not found"),
            };
        }
        return gateway_denied(AUTH_FAILED, "Authorization header missing");
    };
    let parsed = match parse_authorization(&authz) {
        Ok(p) => p,
        Err(_) => return gateway_denied(AUTH_FAILED, "Authorization header malformed"),
    };
    let now = Utc::now();
    let mut expired = false;
    for app in st
        .apps
        .iter()
        .filter(|a| !a.key.is_empty() && a.key == parsed.access)
    {
        match verify_signature(
            req,
            &app.secret,
            &parsed,
            now,
            st.config.max_clock_skew_secs,
        ) {
            Ok(()) => return found(app),
            Err(SigError::Expired) => expired = true,
            Err(_) => {}
        }
    }
    if expired {
        gateway_denied(AUTH_EXPIRED, "Signature expired")
    } else {
        gateway_denied(
            AUTH_FAILED,
            "Incorrect app authentication information: unknown app key or signature mismatch",
        )
    }
}
