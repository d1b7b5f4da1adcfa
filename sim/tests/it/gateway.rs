use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Auth, Client, PROJECT, start};

#[tokio::test]
async fn app_credentials_work_until_reset_or_delete() {
    let sim = start();
    let c = Client::new(&sim);
    let apps = format!("/v2/{PROJECT}/apigw/instances/i1/apps");
    let app = c.post(&apps, json!({"name": "caller"})).await;
    let id = app.body["id"].as_str().expect("id").to_string();
    let key = app.body["app_key"].as_str().expect("key").to_string();
    let secret = app.body["app_secret"].as_str().expect("secret").to_string();

    let with_app = Client::with_auth(&sim, Auth::sign(&key, &secret));
    let ok = with_app
        .call(
            Method::POST,
            "/_sim/gateway/v1/infers/x",
            &[("q", "1")],
            Some(&json!({"x": 1})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["app_id"], id.as_str());

    let wrong = Client::with_auth(&sim, Auth::sign(&key, "wrong-secret"));
    assert_eq!(
        wrong.get("/_sim/gateway/x", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );

    let reset = c.put(&format!("{apps}/secret/{id}"), json!({})).await;
    let new_secret = reset.body["app_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let old = with_app.get("/_sim/gateway/x", &[]).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let fresh = Client::with_auth(&sim, Auth::sign(&key, &new_secret));
    assert_eq!(
        fresh.get("/_sim/gateway/x", &[]).await.status,
        StatusCode::OK
    );

    c.delete(&format!("{apps}/{id}")).await;
    assert_eq!(
        fresh.get("/_sim/gateway/x", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Gateway checks are not cloud calls.
    assert!(!sim.counts().keys().any(|k| k.contains("gateway")));
}

#[tokio::test]
async fn roma_and_modelarts_apps_and_app_codes() {
    let sim = start();
    let c = Client::new(&sim);
    let roma = c
        .post(
            &format!("/v2/{PROJECT}/instances/r1/apps"),
            json!({"name": "r", "key": "roma-key-1", "secret": "roma-secret-1"}),
        )
        .await;
    assert_eq!(roma.status, StatusCode::CREATED);
    let g = Client::with_auth(&sim, Auth::sign("roma-key-1", "roma-secret-1"));
    assert_eq!(
        g.get("/_sim/gateway/anything", &[]).await.body["service"],
        "roma"
    );

    let ma = c
        .post(
            &format!("/v1/{PROJECT}/app-auth/apps"),
            json!({"app_name": "m"}),
        )
        .await;
    let app = &ma.body["app"];
    let g = Client::with_auth(
        &sim,
        Auth::sign(
            app["app_key"].as_str().unwrap_or_default(),
            app["app_secret"].as_str().unwrap_or_default(),
        ),
    );
    assert_eq!(
        g.get("/_sim/gateway/v1/infers/s", &[]).await.body["service"],
        "modelarts"
    );

    let apig = c
        .post(
            &format!("/v2/{PROJECT}/apigw/instances/i1/apps"),
            json!({"name": "coded"}),
        )
        .await;
    let id = apig.body["id"].as_str().expect("id");
    let code = c
        .call(
            Method::PUT,
            &format!("/v2/{PROJECT}/apigw/instances/i1/apps/{id}/app-codes"),
            &[],
            None,
        )
        .await;
    let value = code.body["app_code"].as_str().expect("code");
    let by_code = reqwest::Client::new()
        .get(format!("{}/_sim/gateway/x", sim.url()))
        .header("X-Apig-AppCode", value)
        .send()
        .await
        .expect("send");
    assert_eq!(by_code.status(), StatusCode::OK);
    let unsigned = reqwest::Client::new()
        .get(format!("{}/_sim/gateway/x", sim.url()))
        .send()
        .await
        .expect("send");
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
}
