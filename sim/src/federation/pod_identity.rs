//! `POST /cce-pod-identity/v1/credentials`: a projected ServiceAccount token (audience
//! `service.cce.pods`) -> temporary AK/SK for the account its association names.
//!
//! Error codes are SIM-CHOSEN (CCE documents none for this path): `CCE.01400001` bad request,
//! `CCE.01401001` token refused, `CCE.01403001` no association, `CCE.01404001` Pod Identity
//! not configured.

use chrono::Utc;
use http::StatusCode;
use serde_json::{Value, json};

use super::fetch::OwnedKeySource;
use super::jwt::{self, Claims, Expect};
use super::provider::{POD_IDENTITY_AUDIENCE, POD_IDENTITY_CACHE_KEY, service_account_of};
use super::records::{Kind, Record};
use super::{account_by_user, err, lifetime, verify};
use crate::dispatch::Sim;
use crate::error::ApiError;
use crate::http::{Reply, Req};

pub const BAD_REQUEST: &str = "CCE.01400001";
pub const UNAUTHORIZED: &str = "CCE.01401001";
pub const FORBIDDEN: &str = "CCE.01403001";
pub const NOT_CONFIGURED: &str = "CCE.01404001";

/// Credentials from Pod Identity last at most an hour.
const LIFETIME_SECS: u64 = 3600;

pub async fn handle(sim: &Sim, req: &Req) -> Result<Reply, ApiError> {
    let mut seen = None;
    let result = exchange(sim, req, &mut seen).await;
    let record = Record::new(Kind::PodIdentity, None, seen.as_ref(), &result);
    sim.lock().fed.records.push(record);
    result
}

/// The token from `Authorization`: as is (the Python SDK sends the file's contents), or after
/// `Bearer `.
fn token_of(header: &str) -> &str {
    let h = header.trim();
    match h.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => h[7..].trim(),
        _ => h,
    }
}

async fn exchange(sim: &Sim, req: &Req, seen: &mut Option<Claims>) -> Result<Reply, ApiError> {
    let unauthorized = |msg: String| err(StatusCode::UNAUTHORIZED, UNAUTHORIZED, msg);
    if !req.body.iter().all(u8::is_ascii_whitespace)
        && !matches!(
            serde_json::from_slice::<Value>(&req.body),
            Ok(Value::Object(_))
        )
    {
        return Err(err(
            StatusCode::BAD_REQUEST,
            BAD_REQUEST,
            "the request body must be a JSON object",
        ));
    }
    let config = sim.lock().config.pod_identity.clone().ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            NOT_CONFIGURED,
            "Pod Identity is not configured on this cluster",
        )
    })?;
    let header = req.header("authorization").unwrap_or_default();
    let token = token_of(&header);
    if token.is_empty() {
        return Err(unauthorized(
            "the Authorization header must carry the ServiceAccount token".into(),
        ));
    }
    let parsed = jwt::parse(token).map_err(|e| unauthorized(e.to_string()))?;
    *seen = Some(parsed.claims.clone());
    let expect = Expect {
        issuer: &config.issuer,
        audience: POD_IDENTITY_AUDIENCE,
    };
    let src = OwnedKeySource::from(config.key_source());
    let claims = verify::verify(sim, POD_IDENTITY_CACHE_KEY, &src, &parsed, &expect)
        .await
        .map_err(|e| unauthorized(e.to_string()))?;
    let sub = claims.sub.clone().unwrap_or_default();
    let forbidden = |msg: String| err(StatusCode::FORBIDDEN, FORBIDDEN, msg);
    let (ns, sa) = service_account_of(&sub)
        .ok_or_else(|| forbidden(format!("sub {sub} is not a ServiceAccount")))?;
    let assoc = config.association(&sub).ok_or_else(|| {
        forbidden(format!(
            "no Pod Identity association for namespace {ns}, service account {sa}"
        ))
    })?;
    let mut st = sim.lock();
    let idx = account_by_user(&st, &assoc.user).ok_or_else(|| {
        forbidden(format!(
            "the association of {ns}/{sa} names user {}, which no simulator account has",
            assoc.user
        ))
    })?;
    let secs = lifetime(&st, LIFETIME_SECS);
    let issued = st.fed.issue(idx, secs, Utc::now());
    Ok(Reply::ok(json!({
        "credentials": {
            "accessKeyId": issued.access,
            "secretAccessKey": issued.secret,
            "securityToken": issued.security_token,
            "expiration": issued.expires_at(),
        },
        "subject": {"namespace": ns, "serviceAccount": sa},
    })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn authorization_forms() {
        for (header, want) in [
            ("abc", "abc"),
            (" abc\n", "abc"),
            ("Bearer abc", "abc"),
            ("bearer  abc", "abc"),
            ("Bearer", "Bearer"),
            ("", ""),
        ] {
            assert_eq!(super::token_of(header), want, "{header:?}");
        }
    }
}
