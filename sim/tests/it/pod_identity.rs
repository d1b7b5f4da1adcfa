//! CCE Pod Identity and the ECS metadata service's agency credentials.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Resp, sim_call, start};
use crate::fed::*;

const APPS: &str = "/v2/0833a5737480d53b2f250010d01a7b88/apigw/instances/i1/apps";
const AUD: &str = "service.cce.pods";

async fn pod_credentials(sim: &hwcloud_sim::Handle, authorization: Option<&str>) -> Resp {
    let mut rb = reqwest::Client::new()
        .post(format!("{}/cce-pod-identity/v1/credentials", sim.url()))
        .json(&json!({}));
    if let Some(a) = authorization {
        rb = rb.header("Authorization", a);
    }
    Resp::send(rb).await
}

#[tokio::test]
async fn pod_identity_exchanges_service_account_tokens() {
    let sim = start();
    let token = mint(
        &sim,
        ISS,
        json!([AUD]),
        "system:serviceaccount:ns1:sa1",
        600,
    )
    .await;
    let r = pod_credentials(&sim, Some(&token)).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (404, "CCE.01404001"),
        "not configured yet"
    );

    let (_, jwks) = sim_call(&sim, Method::GET, "/_sim/testing/jwks", None).await;
    let (status, body) = sim_call(
        &sim,
        Method::PUT,
        "/_sim/pod-identity",
        Some(json!({
        "issuer": ISS, "jwks": jwks,
        "associations": [{"namespace": "ns1", "service_account": "sa1", "user": "hwsim-user"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for auth in [token.clone(), format!("Bearer {token}")] {
        let r = pod_credentials(&sim, Some(&auth)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.body["subject"],
            json!({"namespace": "ns1", "serviceAccount": "sa1"})
        );
        let c = &r.body["credentials"];
        for k in [
            "accessKeyId",
            "secretAccessKey",
            "securityToken",
            "expiration",
        ] {
            assert!(c[k].is_string(), "{k}");
        }
        let client = temp_client(&sim, c);
        assert_eq!(client.get(APPS, &[]).await.status, StatusCode::OK);
    }

    let wrong_aud = mint(
        &sim,
        ISS,
        json!("appauth"),
        "system:serviceaccount:ns1:sa1",
        600,
    )
    .await;
    let other_sa = mint(
        &sim,
        ISS,
        json!(AUD),
        "system:serviceaccount:ns1:other",
        600,
    )
    .await;
    let node = mint(&sim, ISS, json!(AUD), "system:node:n1", 600).await;
    let expired = mint(&sim, ISS, json!(AUD), "system:serviceaccount:ns1:sa1", -5).await;
    let cases: Vec<(&str, Option<&str>, u16, &str, &str)> = vec![
        ("no header", None, 401, "CCE.01401001", "Authorization"),
        (
            "wrong aud",
            Some(&wrong_aud),
            401,
            "CCE.01401001",
            "client id service.cce.pods",
        ),
        ("expired", Some(&expired), 401, "CCE.01401001", "expired at"),
        (
            "no association",
            Some(&other_sa),
            403,
            "CCE.01403001",
            "namespace ns1, service account other",
        ),
        (
            "not a ServiceAccount",
            Some(&node),
            403,
            "CCE.01403001",
            "not a ServiceAccount",
        ),
    ];
    for (name, auth, status, code, msg) in cases {
        let r = pod_credentials(&sim, auth).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (status, code),
            "{name}: {}",
            r.body
        );
        assert!(error_msg(&r).contains(msg), "{name}: {}", r.body);
    }

    let recs = records(&sim).await;
    assert!(recs.iter().all(|r| r["kind"] == "pod_identity"));
    let outcomes: Vec<&str> = recs.iter().filter_map(|r| r["outcome"].as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "refused", "ok", "ok", "refused", "refused", "refused", "refused", "refused"
        ]
    );
    assert_eq!(recs[1]["sub"], "system:serviceaccount:ns1:sa1");
    assert_eq!(recs[1]["aud"], json!([AUD]));

    sim.set_config(json!({"temporary_credential_max_secs": 15}))
        .expect("config");
    let r = pod_credentials(&sim, Some(&token)).await;
    let exp = chrono::DateTime::parse_from_rfc3339(
        r.body["credentials"]["expiration"].as_str().expect("e"),
    )
    .expect("rfc3339");
    assert!(exp.timestamp() - chrono::Utc::now().timestamp() <= 15);

    let (status, _) = sim_call(&sim, Method::DELETE, "/_sim/pod-identity", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, got) = sim_call(&sim, Method::GET, "/_sim/pod-identity", None).await;
    assert_eq!(got, Value::Null);
    assert_eq!(
        pod_credentials(&sim, Some(&token)).await.code(),
        "CCE.01404001"
    );
}

async fn metadata(sim: &hwcloud_sim::Handle, session: Option<&str>) -> Resp {
    let mut rb = reqwest::Client::new().get(format!("{}/openstack/latest/securitykey", sim.url()));
    if let Some(s) = session {
        rb = rb.header("X-Metadata-Token", s);
    }
    Resp::send(rb).await
}

#[tokio::test]
async fn metadata_service_gives_the_agency_credentials() {
    let sim = start();
    let none = metadata(&sim, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert!(
        none.body.to_string().contains("Cloud Service Agency"),
        "{}",
        none.body
    );

    let http = reqwest::Client::new();
    let token_url = format!("{}/meta-data/latest/api/token", sim.url());
    let bad = http.put(&token_url).send().await.expect("put");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let resp = http
        .put(&token_url)
        .header("X-Metadata-Token-Ttl-Seconds", "21600")
        .send()
        .await
        .expect("put");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let session = resp.text().await.expect("text");
    assert!(!session.is_empty());

    sim.set_config(json!({"metadata_agency": "hwsim-user", "temporary_credential_max_secs": 30}))
        .expect("config");
    for s in [Some(session.as_str()), None] {
        let r = metadata(&sim, s).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let c = &r.body["credential"];
        assert_eq!(
            temp_client(&sim, c).get(APPS, &[]).await.status,
            StatusCode::OK
        );
        let exp =
            chrono::DateTime::parse_from_rfc3339(c["expires_at"].as_str().expect("e")).expect("t");
        assert!(exp.timestamp() - chrono::Utc::now().timestamp() <= 30);
    }
    let stale = metadata(&sim, Some("not-a-session")).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    assert!(
        !stale.body.to_string().contains("Cloud Service Agency"),
        "the SDK retries with a new session"
    );

    let recs = records(&sim).await;
    let outcomes: Vec<(&str, &str)> = recs
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or_default(),
                r["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("metadata", "refused"),
            ("metadata", "ok"),
            ("metadata", "ok"),
            ("metadata", "refused")
        ]
    );
    assert_eq!(sim.count("metadata.token"), 2);
    assert_eq!(sim.count("metadata.securitykey"), 4);
}
