//! Reading (not verifying) an ID token's claims: enough to say "this token has expired" before
//! IAM is asked, and to name the subject in errors. IAM does the verification.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Deserialize, Default, Debug, PartialEq, Eq)]
pub(super) struct Claims {
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub exp: Option<i64>,
}

/// The claims of a compact JWT, or `None` when it is not one.
pub(super) fn claims(token: &str) -> Option<Claims> {
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// When the token expired, if it has (by its `exp` claim).
pub(super) fn expired_at(claims: &Claims, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let exp = DateTime::from_timestamp(claims.exp?, 0)?;
    (exp <= now).then_some(exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn claims_and_expiry() {
        let now = DateTime::from_timestamp(1_000, 0).expect("time");
        let cases = [
            ("live", jwt(r#"{"sub":"s","exp":2000}"#), Some("s"), false),
            ("expired", jwt(r#"{"sub":"s","exp":1000}"#), Some("s"), true),
            ("no exp", jwt(r#"{"sub":"s"}"#), Some("s"), false),
        ];
        for (name, token, sub, expired) in cases {
            let c = claims(&token).expect(name);
            assert_eq!(c.sub.as_deref(), sub, "{name}");
            assert_eq!(expired_at(&c, now).is_some(), expired, "{name}");
        }
        for not_a_jwt in ["", "abc", "a.b", "a.!!!.c", "a.e30", &jwt("[1]")] {
            assert!(claims(not_a_jwt).is_none(), "{not_a_jwt}");
        }
    }
}
