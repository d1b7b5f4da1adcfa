//! `POST /v3.0/OS-CREDENTIAL/securitytokens`: an IAM token (password or federated) ->
//! temporary AK/SK and security token acting for the token's account.

use chrono::Utc;
use http::StatusCode;
use serde_json::{Value, json};

use super::jwt::Claims;
use super::records::{Kind, Record};
use super::{err, lifetime};
use crate::dispatch::Sim;
use crate::error::ApiError;
use crate::http::{Reply, Req};
use crate::services::iam::str_at;

const MIN_DURATION: u64 = 900;
const MAX_DURATION: u64 = 86_400;

pub fn handle(sim: &Sim, req: &Req) -> Result<Reply, ApiError> {
    let mut st = sim.lock();
    let mut who: (Option<String>, Option<String>) = (None, None);
    let result = issue(&mut st, req, &mut who);
    let claims = Claims {
        sub: who.1,
        ..Claims::default()
    };
    let record = Record::new(Kind::SecurityToken, who.0, Some(&claims), &result);
    st.fed.records.push(record);
    result
}

fn issue(
    st: &mut crate::state::State,
    req: &Req,
    who: &mut (Option<String>, Option<String>),
) -> Result<Reply, ApiError> {
    let bad = |msg: &str| err(StatusCode::BAD_REQUEST, "IAM.0011", msg);
    let unauthorized = |msg: &str| err(StatusCode::UNAUTHORIZED, "IAM.0001", msg);
    let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&req.body).map_err(|_| bad("the request body is not valid JSON"))?
    };
    let identity = body.get("auth").and_then(|a| a.get("identity"));
    if let Some(methods) = identity.and_then(|i| i.get("methods")) {
        let has_token = methods
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x.as_str() == Some("token")));
        if !has_token {
            return Err(bad("auth.identity.methods must contain token"));
        }
    }
    let duration = match identity
        .and_then(|i| i.get("token"))
        .and_then(|t| t.get("duration_seconds"))
    {
        None | Some(Value::Null) => MIN_DURATION,
        Some(v) => v
            .as_u64()
            .filter(|d| (MIN_DURATION..=MAX_DURATION).contains(d))
            .ok_or_else(|| {
                bad("auth.identity.token.duration_seconds must be an integer from 900 to 86400")
            })?,
    };
    let token_id = str_at(&body, &["auth", "identity", "token", "id"])
        .map(str::to_string)
        .or_else(|| req.header("x-auth-token"))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            unauthorized("an IAM token is required (auth.identity.token.id or X-Auth-Token)")
        })?;
    let now = Utc::now();
    let token = st
        .tokens
        .get(&token_id)
        .filter(|t| t.account < st.config.accounts.len())
        .cloned()
        .ok_or_else(|| unauthorized("the IAM token is not one IAM issued"))?;
    if let Some(f) = &token.federated {
        *who = (Some(f.idp_id.clone()), Some(f.sub.clone()));
    }
    if !token.is_valid_at(now) {
        return Err(unauthorized("the IAM token has expired"));
    }
    let secs = lifetime(st, duration);
    let issued = st.fed.issue(token.account, secs, now);
    Ok(Reply::json(
        StatusCode::CREATED,
        json!({"credential": {
            "access": issued.access,
            "secret": issued.secret,
            "securitytoken": issued.security_token,
            "expires_at": issued.expires_at(),
        }}),
    ))
}
