use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{AK, Auth, Client, PROJECT, SK, sim_call, start};

fn apig_apps(project: &str) -> String {
    format!("/v2/{project}/apigw/instances/i1/apps")
}

#[tokio::test]
async fn bad_signature_unknown_key_and_missing_auth_are_401() {
    let sim = start();
    let wrong_sk = Client::with_auth(&sim, Auth::sign(AK, "not-the-secret"));
    let r = wrong_sk.get(&apig_apps(PROJECT), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "APIG.0301");

    let unknown = Client::with_auth(&sim, Auth::sign("UNKNOWNAK", SK));
    assert_eq!(
        unknown.get(&apig_apps(PROJECT), &[]).await.code(),
        "APIG.0301"
    );

    let none = Client::with_auth(&sim, Auth::None);
    let r = none
        .get(&format!("/v2/{PROJECT}/instances/r1/apps"), &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "APIG.0301");
    assert!(r.body.get("request_id").is_some(), "ROMA error format");

    // A signed request whose body was changed in transit.
    let c = Client::new(&sim);
    let tampered = c
        .build(
            Method::POST,
            &apig_apps(PROJECT),
            &[],
            Some(&json!({"name": "abc"})),
        )
        .body(r#"{"name":"xyz"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sim.count("apig.unauthorized"), 3);
    assert_eq!(sim.count("roma.unauthorized"), 1);
    assert!(sim.state().apps.is_empty());
}

#[tokio::test]
async fn clock_skew_over_15_minutes_is_401() {
    let sim = start();
    for (skew, ok) in [
        (-16 * 60, false),
        (16 * 60, false),
        (-14 * 60, true),
        (14 * 60, true),
    ] {
        let c = Client::with_auth(
            &sim,
            Auth::Sign {
                ak: AK.into(),
                sk: SK.into(),
                security_token: None,
                skew_secs: skew,
            },
        );
        let r = c.get(&apig_apps(PROJECT), &[]).await;
        if ok {
            assert_eq!(r.status, StatusCode::OK, "skew {skew}");
        } else {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "skew {skew}");
            assert_eq!(r.code(), "APIG.0303");
        }
    }
}

#[tokio::test]
async fn query_strings_with_special_characters_verify() {
    let sim = start();
    let c = Client::new(&sim);
    let r = c
        .get(
            &apig_apps(PROJECT),
            &[("name", "a b/c+d=é"), ("limit", "5"), ("offset", "0")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn security_token_is_required_when_configured() {
    let sim = start();
    sim.add_account(hwcloud_sim::Account {
        access_key: "TEMPAK".into(),
        secret_key: "temp-secret".into(),
        security_token: Some("sts-token-1".into()),
        project_id: PROJECT.into(),
        region: "cn-north-4".into(),
        domain: "temp-domain".into(),
        user: "temp-user".into(),
        password: "pw".into(),
    })
    .expect("account");
    let without = Client::with_auth(&sim, Auth::sign("TEMPAK", "temp-secret"));
    assert_eq!(
        without.get(&apig_apps(PROJECT), &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let with = Client::with_auth(
        &sim,
        Auth::Sign {
            ak: "TEMPAK".into(),
            sk: "temp-secret".into(),
            security_token: Some("sts-token-1".into()),
            skew_secs: 0,
        },
    );
    assert_eq!(
        with.get(&apig_apps(PROJECT), &[]).await.status,
        StatusCode::OK
    );
    let wrong = Client::with_auth(
        &sim,
        Auth::Sign {
            ak: "TEMPAK".into(),
            sk: "temp-secret".into(),
            security_token: Some("sts-token-2".into()),
            skew_secs: 0,
        },
    );
    let r = wrong.get(&apig_apps(PROJECT), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "APIG.0301");
}

#[tokio::test]
async fn security_token_must_be_a_signed_header() {
    let sim = start();
    sim.add_account(hwcloud_sim::Account {
        access_key: "TEMPAK".into(),
        secret_key: "temp-secret".into(),
        security_token: Some("sts-token-1".into()),
        project_id: PROJECT.into(),
        region: "cn-north-4".into(),
        domain: "temp-domain".into(),
        user: "temp-user".into(),
        password: "pw".into(),
    })
    .expect("account");
    // The right token value, sent but left out of SignedHeaders: the signature itself verifies.
    let c = Client::with_auth(&sim, Auth::sign("TEMPAK", "temp-secret"));
    let rb = c
        .build(
            Method::POST,
            &apig_apps(PROJECT),
            &[],
            Some(&json!({"name": "unsigned_token"})),
        )
        .header("X-Security-Token", "sts-token-1");
    let r = crate::common::Resp::send(rb).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert_eq!(r.code(), "APIG.0301");
    assert!(
        r.body["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains("signed header")),
        "{:?}",
        r.body
    );
    // The same on a ROMA path (ROMA error format, same code).
    let rb = c
        .build(
            Method::GET,
            &format!("/v2/{PROJECT}/instances/r1/apps"),
            &[],
            None,
        )
        .header("X-Security-Token", "sts-token-1");
    let r = crate::common::Resp::send(rb).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "APIG.0301");
    assert_eq!(sim.count("apig.unauthorized"), 1);
    assert_eq!(sim.count("roma.unauthorized"), 1);
    assert_eq!(sim.count("apig.create"), 0);
    assert!(sim.state().apps.is_empty());

    // Signed, it works; accounts without a security token need no such header.
    let signed = Client::with_auth(
        &sim,
        Auth::Sign {
            ak: "TEMPAK".into(),
            sk: "temp-secret".into(),
            security_token: Some("sts-token-1".into()),
            skew_secs: 0,
        },
    );
    let r = signed
        .post(&apig_apps(PROJECT), json!({"name": "signed_token"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        Client::new(&sim).get(&apig_apps(PROJECT), &[]).await.status,
        StatusCode::OK
    );
}

async fn password_token(
    sim: &hwcloud_sim::Handle,
    password: &str,
    scope: serde_json::Value,
) -> (StatusCode, Option<String>, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v3/auth/tokens", sim.url()))
        .json(&json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "hwsim-user", "password": password, "domain": {"name": "hwsim-domain"}}}},
            "scope": scope,
        }}))
        .send()
        .await
        .expect("send");
    let status = resp.status();
    let token = resp
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, token, body)
}

#[tokio::test]
async fn iam_tokens_authenticate_and_expire() {
    let sim = start();
    let (status, _, body) =
        password_token(&sim, "wrong", json!({"project": {"name": "cn-north-4"}})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], 401);

    let (status, token, body) = password_token(
        &sim,
        "hwsim-password",
        json!({"project": {"name": "cn-north-4"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = token.expect("X-Subject-Token");
    assert_eq!(body["token"]["project"]["id"], PROJECT);
    assert_eq!(body["token"]["user"]["name"], "hwsim-user");
    assert!(body["token"]["expires_at"].as_str().is_some());

    let by_id = password_token(&sim, "hwsim-password", json!({"project": {"id": PROJECT}})).await;
    assert_eq!(by_id.0, StatusCode::CREATED);
    let domain = password_token(
        &sim,
        "hwsim-password",
        json!({"domain": {"name": "hwsim-domain"}}),
    )
    .await;
    assert_eq!(domain.0, StatusCode::CREATED);
    assert_eq!(domain.2["token"]["domain"]["name"], "hwsim-domain");
    let wrong_project = password_token(
        &sim,
        "hwsim-password",
        json!({"project": {"name": "eu-west-0"}}),
    )
    .await;
    assert_eq!(wrong_project.0, StatusCode::UNAUTHORIZED);

    let c = Client::with_auth(&sim, Auth::Token(token.clone()));
    let r = c
        .post(&apig_apps(PROJECT), json!({"name": "via_token"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let validate = c
        .clone_with_header("X-Subject-Token", &token)
        .get("/v3/auth/tokens", &[])
        .await;
    assert_eq!(validate.status, StatusCode::OK);
    assert_eq!(validate.body["token"]["project"]["name"], "cn-north-4");

    let bad = Client::with_auth(&sim, Auth::Token("MIIbogus".into()));
    let r = bad.get(&apig_apps(PROJECT), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "APIG.1002");
    let r = bad.get(&format!("/v1/{PROJECT}/app-auth/apps"), &[]).await;
    assert_eq!(r.code(), "APIG.0301");

    sim.set_config(json!({"token_ttl_secs": 0}))
        .expect("config");
    let (_, expired, _) = password_token(
        &sim,
        "hwsim-password",
        json!({"project": {"name": "cn-north-4"}}),
    )
    .await;
    let c = Client::with_auth(&sim, Auth::Token(expired.expect("token")));
    // Reference §4: APIG.1001 is an expired token; it stays "expired" on every later use.
    for _ in 0..2 {
        let r = c.get(&apig_apps(PROJECT), &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.code(), "APIG.1001");
    }
    let r = c.get(&format!("/v1/{PROJECT}/app-auth/apps"), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "APIG.0301");
    assert_eq!(sim.count("iam.token"), 6);
}

#[tokio::test]
async fn domain_scoped_tokens_are_refused_by_project_apis() {
    let sim = start();
    let (status, token, body) = password_token(
        &sim,
        "hwsim-password",
        json!({"domain": {"name": "hwsim-domain"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(body["token"].get("project").is_none());
    let token = token.expect("X-Subject-Token");
    let c = Client::with_auth(&sim, Auth::Token(token.clone()));

    let r = c.get(&apig_apps(PROJECT), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert_eq!(r.code(), "APIG.1002");
    let r = c
        .post(&apig_apps(PROJECT), json!({"name": "via_domain_token"}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "APIG.1002");
    let r = c.get(&format!("/v1/{PROJECT}/app-auth/apps"), &[]).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "APIG.0301")
    );
    let r = c
        .clone_with_header("workspace", "ws1")
        .get(&format!("/v1/{PROJECT}/service/apps"), &[])
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "APIG.0301")
    );
    let r = c
        .get(&format!("/v2/{PROJECT}/instances/r1/apps"), &[])
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "APIG.0301")
    );
    assert!(r.body.get("request_id").is_some(), "ROMA error format");
    assert_eq!(sim.count("apig.unauthorized"), 2);
    assert_eq!(sim.count("apig.list"), 0);
    assert!(sim.state().apps.is_empty());

    // An unscoped token is domain-scoped too.
    let (status, unscoped, _) = password_token(&sim, "hwsim-password", json!(null)).await;
    assert_eq!(status, StatusCode::CREATED);
    let u = Client::with_auth(&sim, Auth::Token(unscoped.expect("token")));
    assert_eq!(u.get(&apig_apps(PROJECT), &[]).await.code(), "APIG.1002");

    // IAM itself accepts it.
    assert_eq!(c.get("/v3/auth/domains", &[]).await.status, StatusCode::OK);
    assert_eq!(c.get("/v3/auth/projects", &[]).await.status, StatusCode::OK);
    let v = c
        .clone_with_header("X-Subject-Token", &token)
        .get("/v3/auth/tokens", &[])
        .await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.body["token"]["domain"]["name"], "hwsim-domain");

    // A project-scoped token of the same user works.
    let (_, project_token, _) =
        password_token(&sim, "hwsim-password", json!({"project": {"id": PROJECT}})).await;
    let p = Client::with_auth(&sim, Auth::Token(project_token.expect("token")));
    assert_eq!(p.get(&apig_apps(PROJECT), &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn project_discovery() {
    let sim = start();
    let c = Client::new(&sim);
    let r = c.get("/v3/projects", &[("name", "cn-north-4")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["projects"][0]["id"], PROJECT);
    assert_eq!(r.body["projects"][0]["enabled"], true);
    let none = c.get("/v3/projects", &[("name", "eu-west-0")]).await;
    assert_eq!(none.body["projects"].as_array().map(Vec::len), Some(0));
    let domains = c.get("/v3/auth/domains", &[]).await;
    assert_eq!(domains.body["domains"][0]["name"], "hwsim-domain");
    assert_eq!(sim.count("iam.projects"), 2);
}

#[tokio::test]
async fn projects_are_isolated() {
    let sim = start();
    let (status, _) = sim_call(
        &sim,
        Method::POST,
        "/_sim/accounts",
        Some(json!({"access_key": "AK2", "secret_key": "SK2", "project_id": "p2p2", "region": "cn-north-4"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let second = Client::with_auth(&sim, Auth::sign("AK2", "SK2"));
    let first = Client::new(&sim);
    assert_eq!(
        second
            .post(&apig_apps("p2p2"), json!({"name": "theirs"}))
            .await
            .status,
        StatusCode::CREATED
    );

    let denied = first.get(&apig_apps("p2p2"), &[]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.code(), "APIG.1005");
    let roma = first.get("/v2/p2p2/instances/r1/apps", &[]).await;
    assert_eq!(roma.status, StatusCode::FORBIDDEN);
    assert_eq!(roma.code(), "ROMA.00000101");
    let ma = second
        .get(&format!("/v1/{PROJECT}/app-auth/apps"), &[])
        .await;
    assert_eq!(ma.status, StatusCode::FORBIDDEN);
    assert_eq!(ma.code(), "APIG.1005");
    let own = first.get(&apig_apps(PROJECT), &[]).await;
    assert_eq!(own.body["total"], 0);
    let state = sim.state();
    assert_eq!(state.apps.len(), 1);
    assert_eq!(state.apps[0].project, "p2p2");

    let (conflict, _) = sim_call(
        &sim,
        Method::POST,
        "/_sim/accounts",
        Some(json!({"access_key": "AK2", "secret_key": "x", "project_id": "p3"})),
    )
    .await;
    assert_eq!(conflict, StatusCode::CONFLICT);
}
