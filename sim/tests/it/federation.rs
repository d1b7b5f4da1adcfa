//! OIDC federation: ID token -> IAM token -> temporary AK/SK -> signed service calls, the
//! refusals, expiry, JWKS fetching and the records.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Auth, Client, PROJECT, sim_call, start};
use crate::fed::*;

const APPS: &str = "/v2/0833a5737480d53b2f250010d01a7b88/apigw/instances/i1/apps";

#[tokio::test]
async fn exchange_then_temporary_credentials_then_a_signed_apig_call() {
    let sim = start();
    add_provider(&sim, "k8s").await;
    let token = good_token(&sim).await;

    let iam = exchange(&sim, Some("k8s"), id_token_body(&token)).await;
    assert_eq!(iam.status, StatusCode::CREATED, "{}", iam.body);
    let t = &iam.body["token"];
    assert_eq!(t["methods"], json!(["mapped"]));
    assert_eq!(t["user"]["OS-FEDERATION"]["identity_provider"]["id"], "k8s");
    assert_eq!(t["user"]["OS-FEDERATION"]["protocol"]["id"], "oidc");
    assert_eq!(t["user"]["name"], "hwsim-user");
    assert!(t["user"]["domain"]["id"].is_string());
    assert!(
        t.get("project").is_none() && t.get("domain").is_none(),
        "unscoped: {t}"
    );
    let subject = iam.headers["x-subject-token"]
        .to_str()
        .expect("token")
        .to_string();

    // The unscoped IAM token works for IAM, not for project-scoped services.
    let by_token = Client::with_auth(&sim, Auth::Token(subject.clone()));
    let projects = by_token.get("/v3/auth/projects", &[]).await;
    assert_eq!(projects.body["projects"][0]["id"], PROJECT);
    assert_eq!(by_token.get(APPS, &[]).await.code(), "APIG.1002");

    let cred = security_token(&sim, &subject, Some(json!(900))).await;
    assert_eq!(cred.status, StatusCode::CREATED, "{}", cred.body);
    let c = &cred.body["credential"];
    let expires = c["expires_at"].as_str().expect("expires_at");
    assert!(
        expires.len() == "2026-12-03T21:00:00.000000Z".len() && expires.ends_with('Z'),
        "{expires}"
    );
    let temp = temp_client(&sim, c);
    let created = temp.post(APPS, json!({"name": "federated_app"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(sim.state().apps[0].user_name, "hwsim-user");
    let projects = temp.get("/v3/projects", &[("name", "cn-north-4")]).await;
    assert_eq!(
        projects.body["projects"][0]["id"], PROJECT,
        "{}",
        projects.body
    );

    // The security token must be there, right, and signed.
    let ak = c["access"].as_str().expect("ak");
    let sk = c["secret"].as_str().expect("sk");
    let st = c["securitytoken"].as_str().expect("st");
    let without = Client::with_auth(&sim, Auth::sign(ak, sk));
    assert_eq!(
        without.get(APPS, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let wrong = Client::with_auth(
        &sim,
        Auth::Sign {
            ak: ak.into(),
            sk: sk.into(),
            security_token: Some("not-it".into()),
            skew_secs: 0,
        },
    );
    assert_eq!(wrong.get(APPS, &[]).await.status, StatusCode::UNAUTHORIZED);
    let unsigned = crate::common::Resp::send(
        without
            .build(Method::GET, APPS, &[], None)
            .header("X-Security-Token", st),
    )
    .await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    assert!(
        error_msg(&unsigned).contains("signed header"),
        "{}",
        unsigned.body
    );
    let unknown = Client::with_auth(&sim, Auth::sign("HWSIMTMPNOPE", sk));
    assert!(error_msg(&unknown.get(APPS, &[]).await).contains("unknown access key"));

    // The token in X-Auth-Token instead of the body works too.
    let by_header = crate::common::Resp::send(
        reqwest::Client::new()
            .post(format!("{}/v3.0/OS-CREDENTIAL/securitytokens", sim.url()))
            .header("X-Auth-Token", &subject)
            .json(&json!({"auth": {"identity": {"methods": ["token"], "token": {}}}})),
    )
    .await;
    assert_eq!(by_header.status, StatusCode::CREATED, "{}", by_header.body);

    let recs = records(&sim).await;
    let kinds: Vec<&str> = recs.iter().filter_map(|r| r["kind"].as_str()).collect();
    assert_eq!(kinds, ["id_token", "security_token", "security_token"]);
    assert_eq!(recs[0]["idp_id"], "k8s");
    assert_eq!(recs[0]["sub"], SUB);
    assert_eq!(recs[0]["aud"], json!([CLIENT_ID]));
    assert_eq!(recs[0]["outcome"], "ok");
    assert_eq!(recs[0]["status"], 201);
    assert!(recs[0]["jti"].is_string() && recs[0]["iat"].is_i64());
    assert_eq!(
        recs[1]["sub"], SUB,
        "the security token's IAM token was federated"
    );
    let text = serde_json::to_string(&recs).expect("json");
    for secret in [token.as_str(), subject.as_str(), st, sk] {
        assert!(!text.contains(secret), "records leak a secret");
    }
    assert_eq!(sim.count("iam.id_token"), 1);
    assert_eq!(sim.count("iam.security_token"), 2);
}

#[tokio::test]
async fn project_scoped_exchange_reaches_services_directly() {
    let sim = start();
    add_provider(&sim, "k8s").await;
    let token = good_token(&sim).await;
    let body =
        json!({"auth": {"id_token": {"id": token}, "scope": {"project": {"name": "cn-north-4"}}}});
    let iam = exchange(&sim, Some("k8s"), body).await;
    assert_eq!(iam.status, StatusCode::CREATED, "{}", iam.body);
    assert_eq!(iam.body["token"]["project"]["id"], PROJECT);
    let subject = iam.headers["x-subject-token"].to_str().expect("token");
    let c = Client::with_auth(&sim, Auth::Token(subject.to_string()));
    assert_eq!(c.get(APPS, &[]).await.status, StatusCode::OK);
    let other = json!({"auth": {"id_token": {"id": good_token(&sim).await},
        "scope": {"project": {"id": "someone-elses"}}}});
    assert_eq!(
        exchange(&sim, Some("k8s"), other).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refusals_name_their_cause_and_are_recorded() {
    let sim = start();
    add_provider(&sim, "k8s").await;
    let mut disabled = add_provider(&sim, "off").await;
    disabled["enabled"] = json!(false);
    let (status, _) = sim_call(
        &sim,
        Method::PUT,
        "/_sim/identity-providers/off",
        Some(disabled),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let good = good_token(&sim).await;
    let wrong_aud = mint(&sim, ISS, json!(["other", "x"]), SUB, 600).await;
    let expired = mint(&sim, ISS, json!(CLIENT_ID), SUB, -30).await;
    let wrong_iss = mint(&sim, "https://evil.test", json!(CLIENT_ID), SUB, 600).await;
    let unmapped = mint(
        &sim,
        ISS,
        json!(CLIENT_ID),
        "system:serviceaccount:ns2:x",
        600,
    )
    .await;
    let (_, unknown_kid) = sim_call(
        &sim,
        Method::POST,
        "/_sim/testing/id-token",
        Some(json!({"iss": ISS, "aud": CLIENT_ID, "sub": SUB, "kid": "rotated-away"})),
    )
    .await;
    let unknown_kid = unknown_kid["token"].as_str().expect("token").to_string();
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let other = mint(
            &sim,
            ISS,
            json!(CLIENT_ID),
            "system:serviceaccount:ns1:other",
            600,
        )
        .await;
        format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap_or_default(),
            parts[2]
        )
    };

    /// name, X-Idp-Id, body, status, code, message part
    type Case<'a> = (&'a str, Option<&'a str>, Value, u16, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "no X-Idp-Id",
            None,
            id_token_body(&good),
            400,
            "IAM.0011",
            "X-Idp-Id",
        ),
        (
            "no id",
            Some("k8s"),
            json!({"auth": {}}),
            400,
            "IAM.0011",
            "auth.id_token.id",
        ),
        (
            "unknown idp",
            Some("nope"),
            id_token_body(&good),
            404,
            "IAM.0004",
            "nope does not exist",
        ),
        (
            "disabled idp",
            Some("off"),
            id_token_body(&good),
            404,
            "IAM.0004",
            "disabled",
        ),
        (
            "not a JWT",
            Some("k8s"),
            id_token_body("abc"),
            401,
            "IAM.0001",
            "well-formed",
        ),
        (
            "wrong aud",
            Some("k8s"),
            id_token_body(&wrong_aud),
            401,
            "IAM.0001",
            "audience does not include the client id appauth",
        ),
        (
            "expired",
            Some("k8s"),
            id_token_body(&expired),
            401,
            "IAM.0001",
            "the ID token expired at 20",
        ),
        (
            "wrong iss",
            Some("k8s"),
            id_token_body(&wrong_iss),
            401,
            "IAM.0001",
            "issuer https://evil.test is not the identity provider's",
        ),
        (
            "unknown kid",
            Some("k8s"),
            id_token_body(&unknown_kid),
            401,
            "IAM.0001",
            "kid rotated-away",
        ),
        (
            "bad signature",
            Some("k8s"),
            id_token_body(&tampered),
            401,
            "IAM.0001",
            "signature",
        ),
        (
            "unmapped sub",
            Some("k8s"),
            id_token_body(&unmapped),
            403,
            "IAM.0003",
            "no mapping rule of identity provider k8s matches sub system:serviceaccount:ns2:x",
        ),
    ];
    for (name, idp, body, status, code, msg) in &cases {
        let r = exchange(&sim, *idp, body.clone()).await;
        assert_eq!(r.status.as_u16(), *status, "{name}: {}", r.body);
        assert_eq!(r.code(), *code, "{name}");
        assert!(error_msg(&r).contains(msg), "{name}: {}", r.body);
        for t in [&good, &wrong_aud, &expired, &tampered] {
            assert!(
                !r.body.to_string().contains(t.as_str()),
                "{name}: the answer holds a token"
            );
        }
    }
    // Bad JSON is refused before anything else.
    let raw = crate::common::Resp::send(
        reqwest::Client::new()
            .post(format!("{}/v3.0/OS-AUTH/id-token/tokens", sim.url()))
            .header("X-Idp-Id", "k8s")
            .body("{not json"),
    )
    .await;
    assert_eq!((raw.status.as_u16(), raw.code()), (400, "IAM.0011"));

    let recs = records(&sim).await;
    assert_eq!(recs.len(), cases.len() + 1);
    assert!(
        recs.iter()
            .all(|r| r["outcome"] == "refused" && r["kind"] == "id_token")
    );
    let wrong_aud_rec = &recs[5];
    assert_eq!(wrong_aud_rec["aud"], json!(["other", "x"]));
    assert_eq!(wrong_aud_rec["code"], "IAM.0001");
    assert_eq!(recs[10]["status"], 403);
    let (status, _) = sim_call(&sim, Method::DELETE, "/_sim/federation/exchanges", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(records(&sim).await.is_empty());
}

#[tokio::test]
async fn security_token_requests_are_checked() {
    let sim = start();
    add_provider(&sim, "k8s").await;
    let iam = exchange(&sim, Some("k8s"), id_token_body(&good_token(&sim).await)).await;
    let subject = iam.headers["x-subject-token"]
        .to_str()
        .expect("token")
        .to_string();
    for d in [json!(899), json!(86_401), json!("900"), json!(-1)] {
        let r = security_token(&sim, &subject, Some(d.clone())).await;
        assert_eq!((r.status.as_u16(), r.code()), (400, "IAM.0011"), "{d}");
        assert!(error_msg(&r).contains("duration_seconds"), "{}", r.body);
    }
    let r = security_token(&sim, "not-a-token", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "IAM.0001"));
    let none = crate::common::Resp::send(
        reqwest::Client::new()
            .post(format!("{}/v3.0/OS-CREDENTIAL/securitytokens", sim.url()))
            .json(&json!({"auth": {"identity": {"methods": ["token"], "token": {}}}})),
    )
    .await;
    assert_eq!((none.status.as_u16(), none.code()), (401, "IAM.0001"));

    // A password token works as well, and an expired IAM token does not.
    let pw = Client::with_auth(&sim, Auth::None)
        .post(
            "/v3/auth/tokens",
            json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"name": "hwsim-user", "password": "hwsim-password",
            "domain": {"name": "hwsim-domain"}}}}}}),
        )
        .await;
    let pw = pw.headers["x-subject-token"]
        .to_str()
        .expect("token")
        .to_string();
    assert_eq!(
        security_token(&sim, &pw, Some(json!(3600))).await.status,
        StatusCode::CREATED
    );
    sim.set_config(json!({"token_ttl_secs": 0}))
        .expect("config");
    let iam = exchange(&sim, Some("k8s"), id_token_body(&good_token(&sim).await)).await;
    let stale = iam.headers["x-subject-token"]
        .to_str()
        .expect("token")
        .to_string();
    let r = security_token(&sim, &stale, None).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "IAM.0001"));
    assert!(error_msg(&r).contains("expired"));
}

#[tokio::test]
async fn temporary_credentials_are_refused_once_expired() {
    let sim = start();
    add_provider(&sim, "k8s").await;
    sim.set_config(json!({"temporary_credential_max_secs": 2}))
        .expect("config");
    let cred = federated_credential(&sim, "k8s").await;
    let expires = chrono::DateTime::parse_from_rfc3339(cred["expires_at"].as_str().expect("exp"))
        .expect("rfc3339");
    let left = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((0..=3).contains(&left), "capped at 2 s, {left} left");
    let temp = temp_client(&sim, &cred);
    assert_eq!(temp.get(APPS, &[]).await.status, StatusCode::OK);
    assert_eq!(sim.count("apig.security_token_expired"), 0);

    let deadline = Instant::now() + Duration::from_secs(15);
    let refused = loop {
        let r = temp.get(APPS, &[]).await;
        if r.status == StatusCode::UNAUTHORIZED {
            break r;
        }
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(Instant::now() < deadline, "still accepted 15 s later");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(refused.code(), "APIG.1001");
    assert!(error_msg(&refused).contains("the security token has expired"));
    // Still "expired" later (kept in the map), and on other services with the AUTH code.
    let ma = temp.get(&format!("/v1/{PROJECT}/app-auth/apps"), &[]).await;
    assert_eq!((ma.status.as_u16(), ma.code()), (401, "APIG.0301"));
    assert!(error_msg(&ma).contains("the security token has expired"));
    assert_eq!(sim.count("apig.security_token_expired"), 1);
    assert_eq!(sim.count("modelarts.security_token_expired"), 1);
}

#[tokio::test]
async fn jwks_url_is_fetched_at_put_and_refetched_for_a_new_kid() {
    let sim = start();
    let url = format!("{}/_sim/testing/jwks", sim.url());
    let provider = json!({"issuer": ISS, "client_id": CLIENT_ID, "jwks_url": url,
        "mappings": [{"sub": SUB, "user": "hwsim-user"}]});
    let (status, body) = sim_call(
        &sim,
        Method::PUT,
        "/_sim/identity-providers/remote",
        Some(provider),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], "remote");
    assert_eq!(body["jwks_cache"]["fetches"], 1);
    assert_eq!(body["jwks_cache"]["keys"], 1);

    let fetches = |list: Value| {
        list[0]["jwks_cache"]["fetches"]
            .as_u64()
            .unwrap_or_default()
    };
    let (_, rotated) = sim_call(&sim, Method::POST, "/_sim/testing/rotate-key", None).await;
    let token = good_token(&sim).await;
    let ok = exchange(&sim, Some("remote"), id_token_body(&token)).await;
    assert_eq!(
        ok.status,
        StatusCode::CREATED,
        "a new kid triggers a refetch: {}",
        ok.body
    );
    let (_, list) = sim_call(&sim, Method::GET, "/_sim/identity-providers", None).await;
    assert_eq!(fetches(list.clone()), 2);
    assert!(
        list[0]["jwks_cache"]["kids"]
            .as_array()
            .expect("kids")
            .contains(&rotated["kid"])
    );

    // Another unknown kid within 10 s: refused without a third fetch.
    let (_, t) = sim_call(
        &sim,
        Method::POST,
        "/_sim/testing/id-token",
        Some(json!({"iss": ISS, "aud": CLIENT_ID, "sub": SUB, "kid": "nope"})),
    )
    .await;
    let r = exchange(
        &sim,
        Some("remote"),
        id_token_body(t["token"].as_str().expect("t")),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(error_msg(&r).contains("kid nope"));
    let (_, list) = sim_call(&sim, Method::GET, "/_sim/identity-providers", None).await;
    assert_eq!(fetches(list), 2);

    // An unreachable URL is refused at PUT, naming it.
    let dead = json!({"issuer": ISS, "client_id": CLIENT_ID,
        "jwks_url": "http://127.0.0.1:9/openid/v1/jwks"});
    let (status, body) = sim_call(
        &sim,
        Method::PUT,
        "/_sim/identity-providers/dead",
        Some(dead),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("http://127.0.0.1:9/openid/v1/jwks"),
        "{body}"
    );
    let (_, list) = sim_call(&sim, Method::GET, "/_sim/identity-providers", None).await;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "the failed PUT stored nothing"
    );
}

#[tokio::test]
async fn provider_endpoints_and_reset() {
    let sim = start();
    let (status, body) = sim_call(
        &sim,
        Method::PUT,
        "/_sim/identity-providers/a",
        Some(json!({"id": "b", "issuer": ISS, "client_id": "c", "jwks": {"keys": []}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = sim_call(
        &sim,
        Method::PUT,
        "/_sim/identity-providers/a",
        Some(json!({"issuer": ISS, "client_id": "c"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    add_provider(&sim, "k8s").await;
    exchange(&sim, Some("k8s"), id_token_body(&good_token(&sim).await)).await;
    let cred = federated_credential(&sim, "k8s").await;

    let (status, _) = sim_call(&sim, Method::POST, "/_sim/reset", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(records(&sim).await.is_empty(), "reset clears the records");
    let (_, list) = sim_call(&sim, Method::GET, "/_sim/identity-providers", None).await;
    assert_eq!(list[0]["id"], "k8s", "reset keeps providers");
    assert_eq!(
        temp_client(&sim, &cred).get(APPS, &[]).await.status,
        StatusCode::OK,
        "reset keeps issued credentials"
    );

    let (status, _) = sim_call(&sim, Method::DELETE, "/_sim/identity-providers/k8s", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = sim_call(&sim, Method::DELETE, "/_sim/identity-providers/k8s", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = exchange(&sim, Some("k8s"), id_token_body(&good_token(&sim).await)).await;
    assert_eq!(r.code(), "IAM.0004");
}
