//! Authentication of cloud requests: AK/SK signatures or IAM tokens.

pub mod signature;
pub mod token;

use chrono::{DateTime, Utc};

use crate::error::{self, ApiError};
use crate::http::Req;
use crate::state::{State, Svc};
use signature::{SigError, SignedRequest, parse_authorization};
use token::TokenScope;

/// Why a request was not authenticated. Messages never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    Malformed(&'static str),
    UnknownAccessKey,
    MissingSignedHeader(String),
    BadDate,
    Expired,
    Mismatch,
    SecurityToken,
    /// The account has a security token but `x-security-token` is not in SignedHeaders.
    SecurityTokenNotSigned,
    /// Not a token the simulator issued.
    BadToken,
    /// A token the simulator issued whose lifetime is over.
    TokenExpired,
    /// A domain-scoped (or unscoped) token on a project-scoped service API.
    TokenNotProjectScoped,
    /// Temporary credentials (AK/SK + security token) past their `expires_at`.
    SecurityTokenExpired,
}

impl AuthError {
    /// The 401 answered for this failure by `service`.
    pub fn to_api_error(&self, service: Svc) -> ApiError {
        let msg = match self {
            AuthError::Missing => {
                "Authentication required: sign the request (SDK-HMAC-SHA256) or send X-Auth-Token"
                    .to_string()
            }
            AuthError::Malformed(why) => format!("Incorrect IAM authentication information: {why}"),
            AuthError::UnknownAccessKey => {
                "Incorrect IAM authentication information: unknown access key".to_string()
            }
            AuthError::MissingSignedHeader(h) => {
                format!("Incorrect IAM authentication information: signed header {h} is missing")
            }
            AuthError::BadDate => {
                "Incorrect IAM authentication information: X-Sdk-Date missing or malformed"
                    .to_string()
            }
            AuthError::Expired => {
                "Incorrect IAM authentication information: signature expired (X-Sdk-Date too far from server time)"
                    .to_string()
            }
            AuthError::Mismatch => {
                "Incorrect IAM authentication information: verify aksk signature fail".to_string()
            }
            AuthError::SecurityToken => {
                "Incorrect IAM authentication information: X-Security-Token missing or invalid"
                    .to_string()
            }
            AuthError::SecurityTokenNotSigned => {
                "Incorrect IAM authentication information: X-Security-Token must be a signed header"
                    .to_string()
            }
            AuthError::BadToken => "Incorrect token or token resolution failed".to_string(),
            AuthError::TokenExpired => "The token has expired".to_string(),
            AuthError::TokenNotProjectScoped => {
                "Incorrect token: a project-scoped token is required for this API".to_string()
            }
            AuthError::SecurityTokenExpired => {
                "Incorrect IAM authentication information: the security token has expired"
                    .to_string()
            }
        };
        let code = match (self, service) {
            (AuthError::Expired, _) => error::AUTH_EXPIRED,
            (AuthError::TokenExpired | AuthError::SecurityTokenExpired, Svc::Apig) => {
                error::APIG_TOKEN_EXPIRED
            }
            (AuthError::BadToken | AuthError::TokenNotProjectScoped, Svc::Apig) => {
                error::APIG_BAD_TOKEN
            }
            _ => error::AUTH_FAILED,
        };
        error::unauthorized(code, msg)
    }
}

impl From<SigError> for AuthError {
    fn from(e: SigError) -> Self {
        match e {
            SigError::Malformed(why) => AuthError::Malformed(why),
            SigError::MissingSignedHeader(h) => AuthError::MissingSignedHeader(h),
            SigError::BadDate => AuthError::BadDate,
            SigError::Expired => AuthError::Expired,
            SigError::Mismatch => AuthError::Mismatch,
        }
    }
}

/// Builds the signature view of a received request.
pub fn verify_signature(
    req: &Req,
    secret: &str,
    auth: &signature::ParsedAuthorization,
    now: DateTime<Utc>,
    max_skew_secs: u64,
) -> Result<(), SigError> {
    let lookup = |name: &str| req.header(name);
    let signed = SignedRequest {
        method: req.method.as_str(),
        raw_path: &req.raw_path,
        raw_query: &req.raw_query,
        header: &lookup,
        body: &req.body,
    };
    signed.verify(auth, secret, now, max_skew_secs)
}

/// Authenticates a cloud request; returns the index of the account.
///
/// An `Authorization` header selects AK/SK verification (an account's keys, or temporary
/// credentials the simulator issued, which need their signed security token and must not have
/// expired); otherwise `X-Auth-Token` must be a token the simulator issued and that has not
/// expired. `project_scoped` is true for the
/// project-scoped service APIs (everything but IAM): those refuse domain-scoped tokens.
pub fn authenticate(
    state: &State,
    req: &Req,
    now: DateTime<Utc>,
    project_scoped: bool,
) -> Result<usize, AuthError> {
    if let Some(value) = req.header("authorization") {
        let parsed = parse_authorization(&value)?;
        let skew = state.config.max_clock_skew_secs;
        if let Some(idx) = state
            .config
            .accounts
            .iter()
            .position(|a| a.access_key == parsed.access)
        {
            let account = &state.config.accounts[idx];
            verify_signature(req, &account.secret_key, &parsed, now, skew)?;
            if let Some(expected) = &account.security_token {
                check_security_token(req, &parsed, expected)?;
            }
            return Ok(idx);
        }
        let temp = state
            .fed
            .temp_creds
            .get(&parsed.access)
            .ok_or(AuthError::UnknownAccessKey)?;
        verify_signature(req, &temp.secret, &parsed, now, skew)?;
        check_security_token(req, &parsed, &temp.security_token)?;
        if now >= temp.expires {
            return Err(AuthError::SecurityTokenExpired);
        }
        if temp.account >= state.config.accounts.len() {
            return Err(AuthError::UnknownAccessKey);
        }
        return Ok(temp.account);
    }
    if let Some(token) = req.header("x-auth-token") {
        let token = token.trim();
        // Expired tokens stay in the map so that every later use answers "expired".
        return match state.tokens.get(token) {
            Some(t) if t.account >= state.config.accounts.len() => Err(AuthError::BadToken),
            Some(t) if !t.is_valid_at(now) => Err(AuthError::TokenExpired),
            Some(t) if project_scoped && t.scope != TokenScope::Project => {
                Err(AuthError::TokenNotProjectScoped)
            }
            Some(t) => Ok(t.account),
            None => Err(AuthError::BadToken),
        };
    }
    Err(AuthError::Missing)
}

/// `X-Security-Token` must equal `expected` and be signed: the SDKs sign it, and an unsigned
/// one could be swapped in transit.
fn check_security_token(
    req: &Req,
    parsed: &signature::ParsedAuthorization,
    expected: &str,
) -> Result<(), AuthError> {
    if !parsed
        .signed_headers
        .iter()
        .any(|h| h == "x-security-token")
    {
        return Err(AuthError::SecurityTokenNotSigned);
    }
    match req.header("x-security-token") {
        Some(got) if got.trim() == expected => Ok(()),
        _ => Err(AuthError::SecurityToken),
    }
}
