//! What federation adds to the simulator's state: temporary credentials, the JWKS caches,
//! metadata-service tokens, the exchange records and the test issuer.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

use super::issuer::TestIssuer;
use super::records::Record;
use crate::state::{hex32, random_alnum};

/// Temporary AK/SK plus security token, acting for one account.
#[derive(Clone, Debug)]
pub struct TempCredential {
    pub secret: String,
    pub security_token: String,
    /// Index of the account in `Config::accounts`.
    pub account: usize,
    pub expires: DateTime<Utc>,
}

/// What the issuing endpoints answer (the secret parts are only ever sent to the requester).
pub struct Issued {
    pub access: String,
    pub secret: String,
    pub security_token: String,
    pub expires: DateTime<Utc>,
}

impl Issued {
    /// `2026-12-03T21:00:00.000000Z`: the Python SDK parses `%Y-%m-%dT%H:%M:%S.%fZ`.
    pub fn expires_at(&self) -> String {
        self.expires.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

/// The last fetch of a URL-backed JWKS.
#[derive(Clone, Debug, Default)]
pub struct JwksCache {
    pub keys: Vec<Value>,
    pub fetched_at: Option<DateTime<Utc>>,
    /// Refetches on an unknown `kid` are limited by this (see `verify::REFETCH_INTERVAL`).
    pub last_attempt: Option<Instant>,
    pub error: Option<String>,
    pub fetches: u64,
}

impl JwksCache {
    /// A secret-free summary for `/_sim` listings.
    pub fn view(&self) -> Value {
        serde_json::json!({
            "keys": self.keys.len(),
            "kids": self.keys.iter().filter_map(|k| k.get("kid")).collect::<Vec<_>>(),
            "fetched_at": self.fetched_at.map(crate::state::rfc3339),
            "fetches": self.fetches,
            "error": self.error,
        })
    }
}

/// Federation state, inside `State` (one lock).
pub struct FederationState {
    pub issuer: TestIssuer,
    /// By access key. Expired ones stay, so that later uses answer "expired".
    pub temp_creds: HashMap<String, TempCredential>,
    /// By provider cache key (`idp:<id>`, `pod-identity`).
    pub jwks: HashMap<String, JwksCache>,
    /// Metadata-service session tokens and their expiry.
    pub metadata_tokens: HashMap<String, DateTime<Utc>>,
    pub records: Vec<Record>,
}

impl FederationState {
    pub fn new() -> Self {
        FederationState {
            // Only a broken system RNG fails here, at start-up, not on a request.
            issuer: TestIssuer::generate().expect("the system RNG generates a P-256 key"),
            temp_creds: HashMap::new(),
            jwks: HashMap::new(),
            metadata_tokens: HashMap::new(),
            records: Vec::new(),
        }
    }

    /// New temporary credentials for `account`, valid `lifetime_secs` from `now`.
    pub fn issue(&mut self, account: usize, lifetime_secs: u64, now: DateTime<Utc>) -> Issued {
        let secs = lifetime_secs.min(100 * 365 * 86_400) as i64;
        let issued = Issued {
            access: format!("HWSIMTMP{}", random_alnum(12).to_ascii_uppercase()),
            secret: random_alnum(40),
            security_token: format!("gQpjbi1ub3J0aC00{}{}", random_alnum(160), hex32()),
            expires: now
                .checked_add_signed(Duration::seconds(secs))
                .unwrap_or(now),
        };
        self.temp_creds.insert(
            issued.access.clone(),
            TempCredential {
                secret: issued.secret.clone(),
                security_token: issued.security_token.clone(),
                account,
                expires: issued.expires,
            },
        );
        issued
    }
}

impl Default for FederationState {
    fn default() -> Self {
        FederationState::new()
    }
}
