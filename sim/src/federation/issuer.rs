//! The simulator's test issuer: an ES256 key generated at start, its JWKS, and tokens signed
//! with it, so that tests can mint ID tokens without a Kubernetes apiserver.
//! `rotate` adds a newer key (the older ones stay in the JWKS) to exercise JWKS refetches.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

struct Key {
    kid: String,
    pair: EcdsaKeyPair,
}

/// ES256 keys, newest last.
pub struct TestIssuer {
    keys: Vec<Key>,
    rng: SystemRandom,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestIssuer {
    /// One fresh key. Fails only when the system RNG does.
    pub fn generate() -> Result<TestIssuer, ring::error::Unspecified> {
        let mut issuer = TestIssuer {
            keys: Vec::new(),
            rng: SystemRandom::new(),
        };
        issuer.rotate()?;
        Ok(issuer)
    }

    /// Adds a new key that signs from now on; returns its kid.
    pub fn rotate(&mut self) -> Result<String, ring::error::Unspecified> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.rng)?;
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &self.rng)
                .map_err(|_| ring::error::Unspecified)?;
        // The kid is derived from the public key, like a thumbprint: stable for the key.
        let digest = ring::digest::digest(&ring::digest::SHA256, pair.public_key().as_ref());
        let kid = format!("hwsim-{}", &hex::encode(digest.as_ref())[..16]);
        self.keys.push(Key {
            kid: kid.clone(),
            pair,
        });
        Ok(kid)
    }

    /// The kid that signs by default.
    pub fn current_kid(&self) -> &str {
        self.keys.last().map(|k| k.kid.as_str()).unwrap_or_default()
    }

    /// `{"keys": [...]}` with every key, as a JWKS endpoint serves it.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| {
                // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
                let point = k.pair.public_key().as_ref();
                json!({
                    "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": k.kid,
                    "x": b64(point.get(1..33).unwrap_or_default()),
                    "y": b64(point.get(33..65).unwrap_or_default()),
                })
            })
            .collect();
        json!({ "keys": keys })
    }

    /// A compact JWS over `claims` with the newest key; the header names `kid` (which may be one
    /// no key has, to test unknown-kid refusals).
    pub fn sign(
        &self,
        claims: &Value,
        kid: Option<&str>,
    ) -> Result<String, ring::error::Unspecified> {
        let key = self.keys.last().ok_or(ring::error::Unspecified)?;
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid.unwrap_or(&key.kid)});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = key.pair.sign(&self.rng, input.as_bytes())?;
        Ok(format!("{input}.{}", b64(sig.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_old_keys_and_signs_with_the_new_one() {
        let mut issuer = TestIssuer::generate().expect("key");
        let first = issuer.current_kid().to_string();
        let second = issuer.rotate().expect("rotate");
        assert_ne!(first, second);
        let kids: Vec<String> = issuer.jwks()["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(kids, vec![first, second.clone()]);
        let token = issuer.sign(&json!({"sub": "x"}), None).expect("sign");
        let parsed = super::super::jwt::parse(&token).expect("parse");
        assert_eq!(parsed.header.kid.as_deref(), Some(second.as_str()));
    }
}
