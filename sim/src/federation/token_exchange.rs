//! `POST /v3.0/OS-AUTH/id-token/tokens`: an OIDC ID token -> an IAM token acting as the
//! account the provider's mapping rule names.

use chrono::{Duration, Utc};
use http::StatusCode;
use serde_json::Value;

use super::fetch::OwnedKeySource;
use super::jwt::{self, Claims, Expect};
use super::records::{Kind, Record};
use super::{account_by_user, err, verify};
use crate::auth::token::{Federated, Token, TokenScope};
use crate::dispatch::Sim;
use crate::error::ApiError;
use crate::http::{Reply, Req};
use crate::services::iam::{resolve_scope, str_at, token_body};
use crate::state::token_value;

const BAD_REQUEST: &str = "IAM.0011";
const UNAUTHORIZED: &str = "IAM.0001";
const FORBIDDEN: &str = "IAM.0003";
const NOT_FOUND: &str = "IAM.0004";

pub async fn handle(sim: &Sim, req: &Req) -> Result<Reply, ApiError> {
    let idp_id = req
        .header("x-idp-id")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let mut seen = None;
    let result = exchange(sim, req, idp_id.as_deref(), &mut seen).await;
    let record = Record::new(Kind::IdToken, idp_id, seen.as_ref(), &result);
    sim.lock().fed.records.push(record);
    result
}

async fn exchange(
    sim: &Sim,
    req: &Req,
    idp_id: Option<&str>,
    seen: &mut Option<Claims>,
) -> Result<Reply, ApiError> {
    let bad = |msg: &str| err(StatusCode::BAD_REQUEST, BAD_REQUEST, msg);
    let idp_id = idp_id.ok_or_else(|| bad("the X-Idp-Id header is required"))?;
    let body: Value =
        serde_json::from_slice(&req.body).map_err(|_| bad("the request body is not valid JSON"))?;
    let id_token = str_at(&body, &["auth", "id_token", "id"])
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| bad("auth.id_token.id is required"))?;

    let provider = {
        let st = sim.lock();
        st.config
            .identity_providers
            .iter()
            .find(|p| p.id == idp_id)
            .cloned()
    };
    let provider = provider.ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            NOT_FOUND,
            format!("identity provider {idp_id} does not exist"),
        )
    })?;
    if !provider.enabled {
        return Err(err(
            StatusCode::NOT_FOUND,
            NOT_FOUND,
            format!("identity provider {idp_id} is disabled"),
        ));
    }

    let refused = |e: jwt::JwtError| err(StatusCode::UNAUTHORIZED, UNAUTHORIZED, e.to_string());
    let parsed = jwt::parse(id_token).map_err(refused)?;
    *seen = Some(parsed.claims.clone());
    let expect = Expect {
        issuer: &provider.issuer,
        audience: &provider.client_id,
    };
    let src = OwnedKeySource::from(provider.key_source());
    let claims = verify::verify(sim, &provider.cache_key(), &src, &parsed, &expect)
        .await
        .map_err(refused)?;
    let sub = claims.sub.clone().unwrap_or_default();
    let user = provider.mapped_user(&sub).ok_or_else(|| {
        err(
            StatusCode::FORBIDDEN,
            FORBIDDEN,
            format!("no mapping rule of identity provider {idp_id} matches sub {sub}"),
        )
    })?;

    let now = Utc::now();
    let mut st = sim.lock();
    let idx = account_by_user(&st, user).ok_or_else(|| {
        err(
            StatusCode::FORBIDDEN,
            FORBIDDEN,
            format!("the mapping rule of identity provider {idp_id} names user {user}, which no simulator account has"),
        )
    })?;
    let account = st.config.accounts[idx].clone();
    let scope = resolve_scope(
        body.get("auth").and_then(|a| a.get("scope")),
        &account,
        TokenScope::Unscoped,
    )?;
    let ttl = st.config.token_ttl_secs.min(100 * 365 * 86_400) as i64;
    let token = Token {
        account: idx,
        issued: now,
        expires: now
            .checked_add_signed(Duration::seconds(ttl))
            .unwrap_or(now),
        scope,
        federated: Some(Federated {
            idp_id: idp_id.to_string(),
            sub,
        }),
    };
    let value = token_value();
    let body = token_body(&account, &token, false);
    st.tokens.insert(value.clone(), token);
    Ok(Reply::json(StatusCode::CREATED, body).with_header("x-subject-token", &value))
}
