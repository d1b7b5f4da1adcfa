//! `GET /_sim/federation/exchanges`: one record per credential request, in order, so tests can
//! see what was exchanged and why something was refused. Never the token itself.

use serde::Serialize;

use super::jwt::Claims;
use crate::error::ApiError;
use crate::http::Reply;

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    IdToken,
    SecurityToken,
    PodIdentity,
    Metadata,
}

#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub kind: Kind,
    pub idp_id: Option<String>,
    pub sub: Option<String>,
    pub aud: Vec<String>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
    /// `ok` or `refused`.
    pub outcome: &'static str,
    pub status: u16,
    pub code: Option<String>,
    pub reason: Option<String>,
    pub at: String,
}

impl Record {
    /// The record of one request: its claims (as received, verified or not) and its result.
    pub fn new(
        kind: Kind,
        idp_id: Option<String>,
        claims: Option<&Claims>,
        result: &Result<Reply, ApiError>,
    ) -> Record {
        let c = claims.cloned().unwrap_or_default();
        let (outcome, status, code, reason) = match result {
            Ok(reply) => ("ok", reply.status.as_u16(), None, None),
            Err(e) => (
                "refused",
                e.status.as_u16(),
                Some(e.code.clone()).filter(|c| !c.is_empty()),
                Some(e.msg.clone()),
            ),
        };
        Record {
            kind,
            idp_id,
            sub: c.sub,
            aud: c.aud,
            iat: c.iat,
            jti: c.jti,
            outcome,
            status,
            code,
            reason,
            at: crate::state::rfc3339(chrono::Utc::now()),
        }
    }
}
