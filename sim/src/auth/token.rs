//! IAM tokens issued by `POST /v3/auth/tokens` (password) and
//! `POST /v3.0/OS-AUTH/id-token/tokens` (federated).

use chrono::{DateTime, Utc};

/// What a token is scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenScope {
    Project,
    Domain,
    /// Federated tokens without a scope: usable for IAM calls and for temporary credentials.
    Unscoped,
}

/// Who a federated token was issued to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Federated {
    pub idp_id: String,
    /// The ID token's `sub`.
    pub sub: String,
}

/// An issued token. The token string itself is the key of `State::tokens`.
#[derive(Clone, Debug)]
pub struct Token {
    /// Index of the account in `Config::accounts`.
    pub account: usize,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub scope: TokenScope,
    /// `Some` for tokens from an ID-token exchange.
    pub federated: Option<Federated>,
}

impl Token {
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        now < self.expires
    }
}
