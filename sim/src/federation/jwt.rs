//! ID-token (JWT) checks, pure: parse, algorithm, key by `kid`, signature, `iss`, `aud`,
//! `exp`, `nbf`, in that order. The first failure is the answer; messages name the cause and
//! never contain the token.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::jwk::{self, Alg, KeyError};
use crate::state::rfc3339;

/// `nbf` may be this far ahead of the simulator's clock: an apiserver on another host sets
/// `nbf` to its own "now". `exp` gets no leeway, so a token minted with a negative lifetime is
/// expired at once.
pub const NBF_LEEWAY_SECS: i64 = 5;

/// The JOSE header fields that matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub alg: String,
    pub kid: Option<String>,
}

/// The claims the simulator looks at (also recorded for tests; none is secret).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Vec<String>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
}

/// A token split and decoded, not yet verified.
pub struct Parsed {
    pub header: Header,
    pub claims: Claims,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

/// What a token must satisfy.
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
}

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtError {
    Malformed(&'static str),
    Alg(String),
    UnknownKid {
        kid: Option<String>,
        /// Why the JWKS could not be (re)fetched, when that was tried and failed.
        fetch: Option<String>,
    },
    UnusableKey(String, &'static str),
    Signature,
    Issuer(String),
    Audience(String),
    Expired(DateTime<Utc>),
    NotYetValid(DateTime<Utc>),
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::Malformed(why) => write!(f, "the token is not a well-formed JWT: {why}"),
            JwtError::Alg(alg) => {
                write!(
                    f,
                    "the token's alg {alg} is not accepted (RS256 or ES256 only)"
                )
            }
            JwtError::UnknownKid { kid, fetch } => {
                match kid {
                    Some(kid) => write!(f, "no key of the issuer's JWKS has kid {kid}")?,
                    None => write!(f, "the issuer's JWKS has no key for the token's alg")?,
                }
                match fetch {
                    Some(why) => write!(f, " (refreshing the JWKS failed: {why})"),
                    None => Ok(()),
                }
            }
            JwtError::UnusableKey(kid, why) => write!(f, "the JWKS key {kid} is unusable: {why}"),
            JwtError::Signature => write!(f, "the token's signature does not verify"),
            JwtError::Issuer(iss) => write!(f, "issuer {iss} is not the identity provider's"),
            JwtError::Audience(id) => write!(f, "audience does not include the client id {id}"),
            JwtError::Expired(at) => write!(f, "the ID token expired at {}", rfc3339(*at)),
            JwtError::NotYetValid(at) => {
                write!(f, "the ID token is not valid before {}", rfc3339(*at))
            }
        }
    }
}

fn json_segment(seg: &str, what: &'static str) -> Result<Value, JwtError> {
    let bytes = jwk::b64url(seg).ok_or(JwtError::Malformed(what))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed(what))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(JwtError::Malformed(what))
    }
}

fn int(v: &Value, name: &str) -> Result<Option<i64>, JwtError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or(JwtError::Malformed("a time claim is not a number")),
    }
}

fn text(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_string)
}

/// Splits and decodes a compact JWS.
pub fn parse(token: &str) -> Result<Parsed, JwtError> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("not three dot-separated parts"));
    };
    let header = json_segment(h, "the header is not base64url JSON")?;
    let payload = json_segment(p, "the payload is not base64url JSON")?;
    let signature = jwk::b64url(s).ok_or(JwtError::Malformed("the signature is not base64url"))?;
    let alg = text(&header, "alg").ok_or(JwtError::Malformed("the header has no alg"))?;
    let aud = match payload.get("aud") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|a| a.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or(JwtError::Malformed(
                "aud is not a string or an array of strings",
            ))?,
        Some(_) => {
            return Err(JwtError::Malformed(
                "aud is not a string or an array of strings",
            ));
        }
    };
    let claims = Claims {
        iss: text(&payload, "iss"),
        sub: text(&payload, "sub"),
        aud,
        exp: int(&payload, "exp")?,
        nbf: int(&payload, "nbf")?,
        iat: int(&payload, "iat")?,
        jti: text(&payload, "jti"),
    };
    Ok(Parsed {
        header: Header {
            alg,
            kid: text(&header, "kid"),
        },
        signing_input: format!("{h}.{p}").into_bytes(),
        signature,
        claims,
    })
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Parsed {
    /// The accepted algorithm, or the refusal.
    pub fn alg(&self) -> Result<Alg, JwtError> {
        Alg::parse(&self.header.alg).ok_or_else(|| JwtError::Alg(self.header.alg.clone()))
    }

    /// Whether `keys` has a candidate key for this token (same `kid`, or any suitable key when
    /// the token names none). `false` is the cue to refetch a URL-backed JWKS.
    pub fn has_key_in(&self, keys: &[Value]) -> bool {
        let Ok(alg) = self.alg() else { return false };
        self.candidates(keys, alg).next().is_some()
    }

    fn candidates<'a>(&'a self, keys: &'a [Value], alg: Alg) -> impl Iterator<Item = &'a Value> {
        keys.iter().filter(move |k| {
            jwk::suits(k, alg)
                && match &self.header.kid {
                    Some(kid) => jwk::kid(k) == Some(kid.as_str()),
                    None => true,
                }
        })
    }

    /// Every check after parsing, in the documented order.
    pub fn verify(
        &self,
        keys: &[Value],
        expect: &Expect,
        now: DateTime<Utc>,
    ) -> Result<&Claims, JwtError> {
        let alg = self.alg()?;
        let mut tried = false;
        let mut verified = false;
        for key in self.candidates(keys, alg) {
            tried = true;
            match jwk::verify(key, alg, &self.signing_input, &self.signature) {
                Ok(()) => {
                    verified = true;
                    break;
                }
                Err(KeyError::Mismatch) => {}
                Err(KeyError::Unusable(why)) => {
                    let kid = jwk::kid(key).unwrap_or("without a kid").to_string();
                    return Err(JwtError::UnusableKey(kid, why));
                }
            }
        }
        if !tried {
            return Err(JwtError::UnknownKid {
                kid: self.header.kid.clone(),
                fetch: None,
            });
        }
        if !verified {
            return Err(JwtError::Signature);
        }
        let c = &self.claims;
        let iss = c.iss.as_deref().unwrap_or_default();
        if iss != expect.issuer {
            return Err(JwtError::Issuer(iss.to_string()));
        }
        if !c.aud.iter().any(|a| a == expect.audience) {
            return Err(JwtError::Audience(expect.audience.to_string()));
        }
        let exp = c.exp.ok_or(JwtError::Malformed("the payload has no exp"))?;
        if now.timestamp() >= exp {
            return Err(JwtError::Expired(at(exp)));
        }
        if let Some(nbf) = c.nbf
            && nbf > now.timestamp() + NBF_LEEWAY_SECS
        {
            return Err(JwtError::NotYetValid(at(nbf)));
        }
        if c.sub.as_deref().is_none_or(str::is_empty) {
            return Err(JwtError::Malformed("the payload has no sub"));
        }
        Ok(c)
    }
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
