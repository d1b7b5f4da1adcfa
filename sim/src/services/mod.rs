//! The simulated cloud services: routing of cloud paths and execution of operations.

pub mod apig;
pub mod dataarts;
pub mod iam;
pub mod modelarts;
pub mod modelarts_api;
pub mod roma;

use chrono::{DateTime, Utc};
use http::Method;

use crate::config::Account;
use crate::error::{ApiError, ErrorStyle};
use crate::http::{Reply, Req};
use crate::state::{State, Svc};

/// Who is calling, and when.
pub struct Ctx {
    pub account: Account,
    pub account_idx: usize,
    pub now: DateTime<Utc>,
}

impl Ctx {
    pub fn user_id(&self) -> String {
        self.account.user_id()
    }
}

/// A resolved cloud operation.
pub struct Route {
    pub service: Svc,
    pub op: &'static str,
    pub style: ErrorStyle,
    /// The project id in the path, when the path has one.
    pub project: Option<String>,
    pub target: Target,
}

/// The operation with its path parameters, per service.
pub enum Target {
    Iam(iam::Op),
    ModelArts(modelarts::Op),
    ModelArtsApi(modelarts_api::Op),
    DataArts(dataarts::Op),
    /// Instance id and operation.
    Apig(String, apig::Op),
    /// Instance id and operation.
    Roma(String, roma::Op),
    /// Credential endpoints (ID token, security token, Pod Identity, metadata).
    Federation(crate::federation::Op),
}

impl Route {
    pub fn new(
        service: Svc,
        op: &'static str,
        style: ErrorStyle,
        project: Option<&str>,
        target: Target,
    ) -> Self {
        Route {
            service,
            op,
            style,
            project: project.map(str::to_string),
            target,
        }
    }

    /// Whether the operation needs an authenticated caller: all but token creation and the
    /// credential endpoints (those check their own proof).
    pub fn requires_auth(&self) -> bool {
        !matches!(
            self.target,
            Target::Iam(iam::Op::CreateToken) | Target::Federation(_)
        )
    }
}

/// Maps method and decoded path segments to an operation.
pub fn resolve(method: &Method, segs: &[&str]) -> Option<Route> {
    iam::route(method, segs)
        .or_else(|| crate::federation::route(method, segs))
        .or_else(|| modelarts::route(method, segs))
        .or_else(|| modelarts_api::route(method, segs))
        .or_else(|| dataarts::route(method, segs))
        .or_else(|| apig::route(method, segs))
        .or_else(|| roma::route(method, segs))
}

/// The service a path belongs to (for errors on paths no operation serves).
pub fn service_of(segs: &[&str]) -> (Svc, ErrorStyle) {
    match segs {
        ["v3", ..] | ["v3.0", ..] => (Svc::Iam, ErrorStyle::Iam),
        ["v1", _, "service", ..] => (Svc::DataArts, ErrorStyle::Plain),
        ["v1", ..] => (Svc::ModelArts, ErrorStyle::Plain),
        ["v2", _, "instances", ..] => (Svc::Roma, ErrorStyle::Roma),
        ["v2", _, "apic", ..] => (Svc::Roma, ErrorStyle::Plain),
        _ => (Svc::Apig, ErrorStyle::Plain),
    }
}

/// Runs an authenticated (or, for IAM token creation, unauthenticated) operation.
pub fn execute(
    state: &mut State,
    ctx: Option<&Ctx>,
    route: &Route,
    req: &Req,
    now: DateTime<Utc>,
) -> Result<Reply, ApiError> {
    match (&route.target, ctx) {
        (Target::Iam(op), _) => iam::execute(state, ctx, op, req, now),
        (Target::ModelArts(op), Some(ctx)) => modelarts::execute(state, ctx, op, req),
        (Target::ModelArtsApi(op), Some(ctx)) => modelarts_api::execute(state, ctx, op, req),
        (Target::DataArts(op), Some(ctx)) => dataarts::execute(state, ctx, op, req),
        (Target::Apig(inst, op), Some(ctx)) => apig::execute(state, ctx, inst, op, req),
        (Target::Roma(inst, op), Some(ctx)) => roma::execute(state, ctx, inst, op, req),
        // Run by `federation::execute` (async: it may fetch a JWKS), never here.
        (Target::Federation(_), _) => Err(ApiError::new(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            crate::error::AUTH_FAILED,
            "credential endpoint dispatched synchronously",
        )),
        (_, None) => Err(crate::error::unauthorized(
            crate::error::AUTH_FAILED,
            "Authentication required",
        )),
    }
}

/// Offset/limit from the query, with defaults, parsed strictly.
pub fn offset_limit(
    req: &Req,
    default_limit: i64,
    invalid: fn(&str) -> ApiError,
) -> Result<(usize, usize), ApiError> {
    let offset = req.q_int("offset", invalid)?.unwrap_or(0);
    let limit = req.q_int("limit", invalid)?.unwrap_or(default_limit);
    if offset < 0 {
        return Err(invalid("offset"));
    }
    if limit < 0 {
        return Err(invalid("limit"));
    }
    Ok((offset as usize, limit as usize))
}

/// Case-sensitive substring match used by the fuzzy name filters.
pub fn fuzzy(haystack: &str, needle: Option<&str>) -> bool {
    needle.is_none_or(|n| n.is_empty() || haystack.contains(n))
}
