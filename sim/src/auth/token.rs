//! IAM tokens issued by `POST /v3/auth/tokens`.

use chrono::{DateTime, Utc};

/// What a token is scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenScope {
    Project,
    Domain,
}

/// An issued token. The token string itself is the key of `State::tokens`.
#[derive(Clone, Debug)]
pub struct Token {
    /// Index of the account in `Config::accounts`.
    pub account: usize,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub scope: TokenScope,
}

impl Token {
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        now < self.expires
    }
}
