//! Helpers for the federation tests: the test issuer, identity providers, exchanges.

use hwcloud_sim::Handle;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Auth, Client, Resp, sim_call};

pub const ISS: &str = "https://issuer.test";
pub const CLIENT_ID: &str = "appauth";
pub const SUB: &str = "system:serviceaccount:ns1:op";

/// An ID token from the simulator's test issuer.
pub async fn mint(sim: &Handle, iss: &str, aud: Value, sub: &str, ttl_secs: i64) -> String {
    let (status, body) = sim_call(
        sim,
        Method::POST,
        "/_sim/testing/id-token",
        Some(json!({"iss": iss, "aud": aud, "sub": sub, "ttl_secs": ttl_secs})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().expect("token").to_string()
}

/// A good token for the default provider.
pub async fn good_token(sim: &Handle) -> String {
    mint(sim, ISS, json!(CLIENT_ID), SUB, 600).await
}

/// Provider `id` trusting the test issuer (inline JWKS), mapping `ns1`'s accounts to the
/// default account's user.
pub async fn add_provider(sim: &Handle, id: &str) -> Value {
    let (_, jwks) = sim_call(sim, Method::GET, "/_sim/testing/jwks", None).await;
    let (status, body) = sim_call(
        sim,
        Method::PUT,
        &format!("/_sim/identity-providers/{id}"),
        Some(json!({"issuer": ISS, "client_id": CLIENT_ID, "jwks": jwks,
            "mappings": [{"sub": "system:serviceaccount:ns1:*", "user": "hwsim-user"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `POST /v3.0/OS-AUTH/id-token/tokens`, unsigned.
pub async fn exchange(sim: &Handle, idp: Option<&str>, body: Value) -> Resp {
    let mut rb = reqwest::Client::new()
        .post(format!("{}/v3.0/OS-AUTH/id-token/tokens", sim.url()))
        .json(&body);
    if let Some(idp) = idp {
        rb = rb.header("X-Idp-Id", idp);
    }
    Resp::send(rb).await
}

pub fn id_token_body(token: &str) -> Value {
    json!({"auth": {"id_token": {"id": token}}})
}

/// `POST /v3.0/OS-CREDENTIAL/securitytokens` with the token in the body.
pub async fn security_token(sim: &Handle, iam_token: &str, duration: Option<Value>) -> Resp {
    let mut token = json!({"id": iam_token});
    if let Some(d) = duration {
        token["duration_seconds"] = d;
    }
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": token}}});
    Resp::send(
        reqwest::Client::new()
            .post(format!("{}/v3.0/OS-CREDENTIAL/securitytokens", sim.url()))
            .json(&body),
    )
    .await
}

/// A client signing with temporary credentials (`{access, secret, securitytoken}` or the Pod
/// Identity names).
pub fn temp_client(sim: &Handle, cred: &Value) -> Client {
    let pick = |a: &str, b: &str| {
        cred.get(a)
            .or_else(|| cred.get(b))
            .and_then(Value::as_str)
            .expect("credential field")
            .to_string()
    };
    Client::with_auth(
        sim,
        Auth::Sign {
            ak: pick("access", "accessKeyId"),
            sk: pick("secret", "secretAccessKey"),
            security_token: Some(pick("securitytoken", "securityToken")),
            skew_secs: 0,
        },
    )
}

/// ID token -> IAM token -> temporary credentials, through provider `idp`.
pub async fn federated_credential(sim: &Handle, idp: &str) -> Value {
    let token = good_token(sim).await;
    let iam = exchange(sim, Some(idp), id_token_body(&token)).await;
    assert_eq!(iam.status, StatusCode::CREATED, "{}", iam.body);
    let subject = iam.headers["x-subject-token"].to_str().expect("token");
    let cred = security_token(sim, subject, None).await;
    assert_eq!(cred.status, StatusCode::CREATED, "{}", cred.body);
    cred.body["credential"].clone()
}

pub async fn records(sim: &Handle) -> Vec<Value> {
    let (status, body) = sim_call(sim, Method::GET, "/_sim/federation/exchanges", None).await;
    assert_eq!(status, StatusCode::OK);
    body.as_array().cloned().expect("list")
}

pub fn error_msg(r: &Resp) -> String {
    r.body["error_msg"].as_str().unwrap_or_default().to_string()
}
