//! The ECS metadata service's agency credentials: `PUT /meta-data/latest/api/token` (a session
//! token) and `GET /openstack/latest/securitykey` (temporary AK/SK of the server's agency,
//! `metadata_agency`). Error codes are SIM-CHOSEN (`METADATA.0400`, `METADATA.0401`); the
//! "no agency" message contains the text the official SDKs look for.

use chrono::{Duration, Utc};
use http::StatusCode;
use serde_json::json;

use super::records::{Kind, Record};
use super::{account_by_user, err, lifetime};
use crate::dispatch::Sim;
use crate::error::ApiError;
use crate::http::{Reply, Req};
use crate::state::random_alnum;

const MAX_SESSION_SECS: u64 = 21_600;
const LIFETIME_SECS: u64 = 3600;
const UNAUTHORIZED: &str = "METADATA.0401";
/// What the Python and Go SDKs test for before giving up (no retry with a new session).
const NO_AGENCY: &str = "Please configure Cloud Service Agency first";

pub fn token(sim: &Sim, req: &Req) -> Result<Reply, ApiError> {
    let ttl = req
        .header("x-metadata-token-ttl-seconds")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|t| (1..=MAX_SESSION_SECS).contains(t))
        .ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                "METADATA.0400",
                "X-Metadata-Token-Ttl-Seconds must be an integer from 1 to 21600",
            )
        })?;
    let value = random_alnum(56);
    let expires = Utc::now() + Duration::seconds(ttl as i64);
    sim.lock()
        .fed
        .metadata_tokens
        .insert(value.clone(), expires);
    Ok(Reply::text(StatusCode::OK, value))
}

pub fn security_key(sim: &Sim, req: &Req) -> Result<Reply, ApiError> {
    let mut st = sim.lock();
    let result = (|| {
        let now = Utc::now();
        if let Some(session) = req.header("x-metadata-token") {
            let valid = st
                .fed
                .metadata_tokens
                .get(session.trim())
                .is_some_and(|exp| now < *exp);
            if !valid {
                return Err(err(
                    StatusCode::UNAUTHORIZED,
                    UNAUTHORIZED,
                    "the X-Metadata-Token is not valid or has expired",
                ));
            }
        }
        let agency = st
            .config
            .metadata_agency
            .clone()
            .ok_or_else(|| err(StatusCode::UNAUTHORIZED, UNAUTHORIZED, NO_AGENCY))?;
        let idx = account_by_user(&st, &agency).ok_or_else(|| {
            err(
                StatusCode::UNAUTHORIZED,
                UNAUTHORIZED,
                format!("{NO_AGENCY} (metadata_agency {agency} names no simulator account)"),
            )
        })?;
        let secs = lifetime(&st, LIFETIME_SECS);
        let issued = st.fed.issue(idx, secs, now);
        Ok(Reply::ok(json!({"credential": {
            "access": issued.access,
            "secret": issued.secret,
            "securitytoken": issued.security_token,
            "expires_at": issued.expires_at(),
        }})))
    })();
    let record = Record::new(Kind::Metadata, None, None, &result);
    st.fed.records.push(record);
    result
}
