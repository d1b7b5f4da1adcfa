//! Table tests of the ID-token checks: ES256 tokens from the test issuer, and an RS256 token
//! made with openssl (testdata/).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::*;
use crate::federation::issuer::TestIssuer;

const ISS: &str = "https://issuer.test";
const AUD: &str = "appauth";
const NOW: i64 = 1_900_000_100;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("time")
}

fn claims(overrides: Value) -> Value {
    let mut c = json!({"iss": ISS, "sub": "system:serviceaccount:ns1:op", "aud": AUD,
        "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 600, "jti": "j1"});
    if let (Some(c), Some(o)) = (c.as_object_mut(), overrides.as_object()) {
        for (k, v) in o {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn check(token: &str, keys: &[Value]) -> Result<Claims, JwtError> {
    let parsed = parse(token)?;
    let expect = Expect {
        issuer: ISS,
        audience: AUD,
    };
    parsed.verify(keys, &expect, now()).cloned()
}

#[test]
fn es256_table() {
    let issuer = TestIssuer::generate().expect("key");
    let keys = issuer.jwks()["keys"].as_array().cloned().expect("keys");
    let other = TestIssuer::generate().expect("other key");
    let sign = |c: Value| issuer.sign(&c, None).expect("sign");
    let good = sign(claims(json!({})));
    // Same header and payload, another key's signature.
    let forged = {
        let theirs = other
            .sign(&claims(json!({})), Some(issuer.current_kid()))
            .expect("sign");
        let head: Vec<&str> = good.split('.').take(2).collect();
        format!(
            "{}.{}",
            head.join("."),
            theirs.rsplit('.').next().unwrap_or_default()
        )
    };
    let none_alg = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(&claims(json!({})).to_string())
    );
    let hs256 = format!("{}.{}.c2ln", b64(r#"{"alg":"HS256","kid":"k"}"#), b64("{}"));

    let cases: Vec<(&str, String, Result<(), JwtError>)> = vec![
        ("good", good.clone(), Ok(())),
        (
            "aud as an array with the client id",
            sign(claims(json!({"aud": ["x", AUD]}))),
            Ok(()),
        ),
        (
            "wrong aud",
            sign(claims(json!({"aud": "other"}))),
            Err(JwtError::Audience(AUD.into())),
        ),
        (
            "no aud",
            sign(claims(json!({"aud": null}))),
            Err(JwtError::Audience(AUD.into())),
        ),
        (
            "expired",
            sign(claims(json!({"exp": NOW - 1}))),
            Err(JwtError::Expired(
                DateTime::from_timestamp(NOW - 1, 0).expect("t"),
            )),
        ),
        (
            "exp now is expired",
            sign(claims(json!({"exp": NOW}))),
            Err(JwtError::Expired(now())),
        ),
        (
            "nbf in the future",
            sign(claims(json!({"nbf": NOW + 60}))),
            Err(JwtError::NotYetValid(
                DateTime::from_timestamp(NOW + 60, 0).expect("t"),
            )),
        ),
        (
            "nbf within the leeway",
            sign(claims(json!({"nbf": NOW + NBF_LEEWAY_SECS}))),
            Ok(()),
        ),
        (
            "unknown kid",
            issuer.sign(&claims(json!({})), Some("nope")).expect("sign"),
            Err(JwtError::UnknownKid {
                kid: Some("nope".into()),
                fetch: None,
            }),
        ),
        ("bad signature", forged, Err(JwtError::Signature)),
        (
            "wrong iss",
            sign(claims(json!({"iss": "https://evil.test"}))),
            Err(JwtError::Issuer("https://evil.test".into())),
        ),
        ("alg none", none_alg, Err(JwtError::Alg("none".into()))),
        ("alg HS256", hs256, Err(JwtError::Alg("HS256".into()))),
        (
            "no exp",
            sign(claims(json!({"exp": null}))),
            Err(JwtError::Malformed("the payload has no exp")),
        ),
        (
            "no sub",
            sign(claims(json!({"sub": null}))),
            Err(JwtError::Malformed("the payload has no sub")),
        ),
        (
            "two parts",
            "a.b".to_string(),
            Err(JwtError::Malformed("not three dot-separated parts")),
        ),
        (
            "header not JSON",
            format!("{}.{}.x", b64("nope"), b64("{}")),
            Err(JwtError::Malformed("the header is not base64url JSON")),
        ),
    ];
    for (name, token, want) in cases {
        let got = check(&token, &keys).map(|_| ());
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn rs256_token_made_with_openssl() {
    let token = include_str!("testdata/rs256.jwt").trim();
    let jwks: Value = serde_json::from_str(include_str!("testdata/rs256.jwks.json")).expect("jwks");
    let keys = jwks["keys"].as_array().cloned().expect("keys");
    let parsed = parse(token).expect("parse");
    let expect = |issuer, audience| Expect { issuer, audience };
    let k8s = "https://kubernetes.default.svc";
    let at = |secs| DateTime::from_timestamp(secs, 0).expect("t");

    type Case<'a> = (&'a str, Expect<'a>, DateTime<Utc>, Result<(), JwtError>);
    let cases: Vec<Case> = vec![
        ("good", expect(k8s, "appauth"), at(1_950_000_000), Ok(())),
        (
            "second audience",
            expect(k8s, "service.cce.pods"),
            at(1_950_000_000),
            Ok(()),
        ),
        (
            "expired",
            expect(k8s, "appauth"),
            at(2_000_000_001),
            Err(JwtError::Expired(at(2_000_000_000))),
        ),
        (
            "not yet valid",
            expect(k8s, "appauth"),
            at(1_800_000_000),
            Err(JwtError::NotYetValid(at(1_900_000_000))),
        ),
        (
            "wrong issuer",
            expect("https://other", "appauth"),
            at(1_950_000_000),
            Err(JwtError::Issuer(k8s.into())),
        ),
    ];
    for (name, exp, now, want) in cases {
        assert_eq!(parsed.verify(&keys, &exp, now).map(|_| ()), want, "{name}");
    }
    assert_eq!(
        parsed.claims.sub.as_deref(),
        Some("system:serviceaccount:ns1:op")
    );

    // One bit of the modulus changed: the signature no longer verifies.
    let mut tampered = keys.clone();
    let n = tampered[0]["n"].as_str().expect("n").to_string();
    let flipped = if n.ends_with('A') { "B" } else { "A" };
    tampered[0]["n"] = json!(format!("{}{flipped}", &n[..n.len() - 1]));
    assert_eq!(
        parsed
            .verify(&tampered, &expect(k8s, "appauth"), at(1_950_000_000))
            .map(|_| ()),
        Err(JwtError::Signature)
    );
    // An EC key with the same kid cannot verify an RS256 token.
    let ec_only = vec![json!({"kty": "EC", "crv": "P-256", "kid": "k8s-rsa-1", "x": "", "y": ""})];
    assert!(matches!(
        parsed.verify(&ec_only, &expect(k8s, "appauth"), at(1_950_000_000)),
        Err(JwtError::UnknownKid { .. })
    ));
}

#[test]
fn messages_name_the_cause() {
    let cases = [
        (
            JwtError::Issuer("https://x".into()),
            "issuer https://x is not the identity provider's",
        ),
        (
            JwtError::Audience("appauth".into()),
            "audience does not include the client id appauth",
        ),
        (
            JwtError::Expired(DateTime::from_timestamp(1_900_000_000, 0).expect("t")),
            "the ID token expired at 2030-03-17T17:46:40.000Z",
        ),
        (
            JwtError::UnknownKid {
                kid: Some("k".into()),
                fetch: Some("timeout".into()),
            },
            "no key of the issuer's JWKS has kid k (refreshing the JWKS failed: timeout)",
        ),
    ];
    for (err, want) in cases {
        assert_eq!(err.to_string(), want);
    }
}
