//! JWK public keys (RS256 with `n`/`e`, ES256 with P-256 `x`/`y`) and signature checks with
//! ring. Kubernetes' ServiceAccount issuer signs with RS256; the simulator's test issuer with
//! ES256, because ring can generate EC keys but not RSA ones.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;

/// The two signature algorithms accepted; `none`, HS* and the rest are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    pub fn parse(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    /// The JWK `kty` a key for this algorithm has.
    fn kty(self) -> &'static str {
        match self {
            Alg::Rs256 => "RSA",
            Alg::Es256 => "EC",
        }
    }
}

/// Decodes base64url, with or without padding (some JWKS writers pad).
pub fn b64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

fn member<'a>(jwk: &'a Value, name: &str) -> Option<&'a str> {
    jwk.get(name).and_then(Value::as_str)
}

/// The key's `kid`, when it has one.
pub fn kid(jwk: &Value) -> Option<&str> {
    member(jwk, "kid")
}

/// Whether `jwk` can verify signatures made with `alg`: right `kty`, and `alg`/`use` (when
/// present) agreeing.
pub fn suits(jwk: &Value, alg: Alg) -> bool {
    member(jwk, "kty") == Some(alg.kty())
        && member(jwk, "alg").is_none_or(|a| a == alg.as_str())
        && member(jwk, "use").is_none_or(|u| u == "sig")
}

/// Why a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The JWK lacks a member or has one that does not decode.
    Unusable(&'static str),
    /// The signature does not verify with this key.
    Mismatch,
}

/// Verifies `sig` over `message` with `jwk` for `alg` (the caller checked [`suits`]).
pub fn verify(jwk: &Value, alg: Alg, message: &[u8], sig: &[u8]) -> Result<(), KeyError> {
    match alg {
        Alg::Rs256 => {
            let n = member(jwk, "n")
                .and_then(b64url)
                .ok_or(KeyError::Unusable("RSA key without a base64url n"))?;
            let e = member(jwk, "e")
                .and_then(b64url)
                .ok_or(KeyError::Unusable("RSA key without a base64url e"))?;
            RsaPublicKeyComponents { n: &n, e: &e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .map_err(|_| KeyError::Mismatch)
        }
        Alg::Es256 => {
            if member(jwk, "crv") != Some("P-256") {
                return Err(KeyError::Unusable("EC key whose crv is not P-256"));
            }
            let x = member(jwk, "x").and_then(b64url);
            let y = member(jwk, "y").and_then(b64url);
            let (Some(x), Some(y)) = (x, y) else {
                return Err(KeyError::Unusable("EC key without base64url x and y"));
            };
            if x.len() != 32 || y.len() != 32 {
                return Err(KeyError::Unusable("EC key whose x or y is not 32 bytes"));
            }
            // ring takes the uncompressed SEC1 point; JWS ES256 signatures are r||s (FIXED).
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, sig)
                .map_err(|_| KeyError::Mismatch)
        }
    }
}

/// The keys of a JWKS document (`{"keys": [...]}`), or why it is not one.
pub fn keys_of(jwks: &Value) -> Result<Vec<Value>, String> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("a JWKS must be an object with a \"keys\" array")?;
    if keys.iter().any(|k| !k.is_object()) {
        return Err("every JWKS key must be a JSON object".to_string());
    }
    Ok(keys.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn suitability_by_kty_alg_and_use() {
        let cases = [
            (json!({"kty": "RSA"}), Alg::Rs256, true),
            (
                json!({"kty": "RSA", "alg": "RS256", "use": "sig"}),
                Alg::Rs256,
                true,
            ),
            (json!({"kty": "RSA", "use": "enc"}), Alg::Rs256, false),
            (json!({"kty": "RSA", "alg": "RS512"}), Alg::Rs256, false),
            (json!({"kty": "EC", "crv": "P-256"}), Alg::Es256, true),
            (json!({"kty": "EC"}), Alg::Rs256, false),
            (json!({}), Alg::Es256, false),
        ];
        for (jwk, alg, want) in cases {
            assert_eq!(suits(&jwk, alg), want, "{jwk} for {alg:?}");
        }
    }

    #[test]
    fn unusable_keys_are_named() {
        let cases = [
            (json!({"kty": "RSA", "e": "AQAB"}), Alg::Rs256),
            (
                json!({"kty": "EC", "crv": "P-384", "x": "", "y": ""}),
                Alg::Es256,
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}),
                Alg::Es256,
            ),
        ];
        for (jwk, alg) in cases {
            assert!(
                matches!(verify(&jwk, alg, b"m", b"s"), Err(KeyError::Unusable(_))),
                "{jwk}"
            );
        }
    }

    #[test]
    fn jwks_documents() {
        assert_eq!(keys_of(&json!({"keys": []})), Ok(vec![]));
        assert!(keys_of(&json!({"keys": [1]})).is_err());
        assert!(keys_of(&json!([])).is_err());
        assert_eq!(b64url("AQAB"), Some(vec![1, 0, 1]));
        assert_eq!(b64url("AQAB=="), Some(vec![1, 0, 1]));
        assert_eq!(b64url("!!"), None);
    }
}
