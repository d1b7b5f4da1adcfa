//! Credentials without long-lived keys: OIDC federation through an IAM identity provider
//! (ID token -> IAM token -> temporary AK/SK), CCE Pod Identity (ServiceAccount token ->
//! temporary AK/SK) and the ECS metadata service (agency -> temporary AK/SK), plus a test
//! issuer that mints ID tokens. Temporary credentials then authenticate like AK/SK with a
//! signed `X-Security-Token` (`auth::authenticate`).
//!
//! Pure parts (`jwk`, `jwt`, `provider`, `records`) are unit-tested; `fetch` and `verify` do
//! the only IO (JWKS fetches, outside the state lock); one file per endpoint family.

pub mod fetch;
pub mod issuer;
pub mod jwk;
pub mod jwt;
mod metadata;
mod pod_identity;
pub mod provider;
pub mod records;
pub mod store;
mod sts;
mod token_exchange;
pub mod verify;

use http::{Method, StatusCode};

use crate::dispatch::Sim;
use crate::error::{ApiError, ErrorStyle};
use crate::http::{Reply, Req};
use crate::services::{Route, Target};
use crate::state::{State, Svc};

pub use provider::{IdentityProvider, Mapping, PodAssociation, PodIdentity};

/// The credential endpoints. None is signed: each checks its own proof (ID token, IAM token,
/// ServiceAccount token, metadata session).
pub enum Op {
    IdToken,
    SecurityToken,
    PodIdentity,
    MetadataToken,
    SecurityKey,
}

pub fn route(method: &Method, segs: &[&str]) -> Option<Route> {
    let (svc, name, style, op) = match (method, segs) {
        (&Method::POST, ["v3.0", "OS-AUTH", "id-token", "tokens"]) => {
            (Svc::Iam, "id_token", ErrorStyle::Iam, Op::IdToken)
        }
        (&Method::POST, ["v3.0", "OS-CREDENTIAL", "securitytokens"]) => (
            Svc::Iam,
            "security_token",
            ErrorStyle::Iam,
            Op::SecurityToken,
        ),
        (&Method::POST, ["cce-pod-identity", "v1", "credentials"]) => {
            (Svc::Cce, "pod_identity", ErrorStyle::Plain, Op::PodIdentity)
        }
        (&Method::PUT, ["meta-data", "latest", "api", "token"]) => {
            (Svc::Metadata, "token", ErrorStyle::Plain, Op::MetadataToken)
        }
        (&Method::GET, ["openstack", "latest", "securitykey"]) => (
            Svc::Metadata,
            "securitykey",
            ErrorStyle::Plain,
            Op::SecurityKey,
        ),
        _ => return None,
    };
    Some(Route::new(svc, name, style, None, Target::Federation(op)))
}

/// Runs a credential endpoint; may fetch a JWKS, so it locks the state itself.
pub async fn execute(sim: &Sim, op: &Op, req: &Req) -> Result<Reply, ApiError> {
    match op {
        Op::IdToken => token_exchange::handle(sim, req).await,
        Op::SecurityToken => sts::handle(sim, req),
        Op::PodIdentity => pod_identity::handle(sim, req).await,
        Op::MetadataToken => metadata::token(sim, req),
        Op::SecurityKey => metadata::security_key(sim, req),
    }
}

/// The account whose IAM user name is `user` (the first, when several domains share it).
fn account_by_user(st: &State, user: &str) -> Option<usize> {
    st.config.accounts.iter().position(|a| a.user == user)
}

/// `wanted`, capped by `temporary_credential_max_secs`.
fn lifetime(st: &State, wanted: u64) -> u64 {
    st.config
        .temporary_credential_max_secs
        .map_or(wanted, |max| wanted.min(max))
}

fn err(status: StatusCode, code: &str, msg: impl Into<String>) -> ApiError {
    ApiError::new(status, code, msg)
}
