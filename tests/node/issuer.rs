//! The control plane Pods run against signs ServiceAccount tokens as an issuer others can
//! check: its discovery document names it and its keys (JWKS), and a token's RS256 signature
//! verifies with the key its header names (and a changed token does not).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use crate::common::cluster;

async fn get_json(client: &kube::Client, path: &str) -> Value {
    let req = http::Request::get(path).body(Vec::new()).expect("request");
    client
        .request::<Value>(req)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn decode(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(part).expect("base64url")
}

/// RS256 over `header.payload` with the JWK `key` (its n and e).
fn verifies(key: &Value, token: &str) -> bool {
    let (signed, signature) = token.rsplit_once('.').expect("three parts");
    let n = decode(key["n"].as_str().expect("n"));
    let e = decode(key["e"].as_str().expect("e"));
    ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &decode(signature),
        )
        .is_ok()
}

#[tokio::test]
async fn service_account_tokens_verify_against_the_issuers_published_keys() {
    let client = cluster::client().await;
    let ns = cluster::namespace(&client, "issuer").await;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "workload"}})).expect("sa");
    sas.create(&PostParams::default(), &sa)
        .await
        .expect("ServiceAccount");
    let request: TokenRequest = serde_json::from_value(json!({
        "spec": {"audiences": ["appauth-test"], "expirationSeconds": 600}
    }))
    .expect("token request");
    let token = sas
        .create_token_request("workload", &PostParams::default(), &request)
        .await
        .expect("token")
        .status
        .and_then(|s| s.token)
        .expect("a token");

    let discovery = get_json(&client, "/.well-known/openid-configuration").await;
    let issuer = discovery["issuer"].as_str().expect("issuer");
    assert!(
        issuer.starts_with(&format!("https://{}:", crate::support::node_ip())),
        "the issuer is the apiserver on the bridge address, where Pods reach it: {issuer}"
    );
    assert!(
        discovery["jwks_uri"]
            .as_str()
            .is_some_and(|u| u.ends_with("/openid/v1/jwks"))
    );
    let jwks = get_json(&client, "/openid/v1/jwks").await;

    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = serde_json::from_slice(&decode(parts[0])).expect("header");
    let claims: Value = serde_json::from_slice(&decode(parts[1])).expect("claims");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["aud"], json!(["appauth-test"]));
    assert_eq!(
        claims["sub"],
        format!("system:serviceaccount:{ns}:workload")
    );
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the JWKS holds the key the token names");
    assert!(
        verifies(key, &token),
        "the token verifies with the published key"
    );
    // The check can fail: the same token with other claims does not verify.
    let forged_claims = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&json!({"sub": "system:serviceaccount:kube-system:default"}))
            .expect("claims"),
    );
    let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    assert!(!verifies(key, &forged), "a changed token does not verify");
}
