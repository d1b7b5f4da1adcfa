use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Client, PROJECT, start};

const SERVICE: &str = "ae20fc9f-b37c-48c2-8ebc-3f3a638c9f48";

fn apps() -> String {
    format!("/v1/{PROJECT}/app-auth/apps")
}

fn service() -> String {
    format!("/v1/{PROJECT}/services/{SERVICE}")
}

async fn create_app(c: &Client, name: &str) -> Value {
    let r = c
        .post(&apps(), json!({"app_name": name, "app_remark": ""}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["app"].clone()
}

#[tokio::test]
async fn apps_round_trip_masking_exists_and_quota() {
    let sim = start();
    let c = Client::new(&sim);
    let app = create_app(&c, "app_4ef0").await;
    let id = app["app_id"].as_str().expect("id").to_string();
    assert!(id.starts_with("logic-app-"));
    let secret = app["app_secret"].as_str().expect("secret").to_string();
    assert!(!secret.contains('*'));
    assert_eq!(app["workspace_id"], "0");
    assert_eq!(app["bounded_api_count"], 0);

    let show = c.get(&format!("{}/{id}", apps()), &[]).await;
    let masked = show.body["app"]["app_secret"].as_str().expect("masked");
    assert_eq!(
        masked,
        format!("{}******{}", &secret[..3], &secret[secret.len() - 3..])
    );
    let plain = c
        .get(
            &format!("{}/{id}", apps()),
            &[("iphertext_enabled", "true")],
        )
        .await;
    assert_eq!(plain.body["app"]["app_secret"], secret.as_str());

    let list = c.get(&apps(), &[("app_name", "app_4ef0")]).await;
    assert_eq!(list.body["total_count"], 1);
    assert!(
        list.body["apps"][0]["app_secret"]
            .as_str()
            .unwrap_or_default()
            .contains('*')
    );
    let list_plain = c.get(&apps(), &[("iphertext_enabled", "true")]).await;
    assert_eq!(list_plain.body["apps"][0]["app_secret"], secret.as_str());

    // The flag's name is configurable.
    sim.set_config(json!({"modelarts_plaintext_flag": "ciphertext_enabled"}))
        .expect("config");
    let old_flag = c.get(&apps(), &[("iphertext_enabled", "true")]).await;
    assert!(
        old_flag.body["apps"][0]["app_secret"]
            .as_str()
            .unwrap_or_default()
            .contains('*')
    );
    let new_flag = c.get(&apps(), &[("ciphertext_enabled", "true")]).await;
    assert_eq!(new_flag.body["apps"][0]["app_secret"], secret.as_str());

    let exists = c.get(&format!("{}/app_4ef0/exists", apps()), &[]).await;
    assert_eq!(exists.body, json!({"exists": true}));
    let absent = c.get(&format!("{}/nope/exists", apps()), &[]).await;
    assert_eq!(absent.body, json!({"exists": false}));
    let other_ws = c
        .get(
            &format!("{}/app_4ef0/exists", apps()),
            &[("workspace_id", "w9")],
        )
        .await;
    assert_eq!(other_ws.body, json!({"exists": false}));

    let reset = c
        .put(
            &format!("{}/{id}/app-secret", apps()),
            json!({"app_name": "app_4ef0"}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    assert_ne!(reset.body["app"]["app_secret"], secret.as_str());
    assert!(
        !reset.body["app"]["app_secret"]
            .as_str()
            .unwrap_or("*")
            .contains('*')
    );

    let code = c
        .post(
            &format!("{}/{id}/app-code", apps()),
            json!({"app_name": "app_4ef0"}),
        )
        .await;
    let codes = code.body["app"]["app_codes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(codes.len(), 1);
    let first = codes[0].as_str().expect("code").to_string();
    let reset_code = c
        .put(
            &format!("{}/{id}/app-code/{first}", apps()),
            json!({"app_name": "app_4ef0"}),
        )
        .await;
    assert_eq!(reset_code.status, StatusCode::OK);
    assert_ne!(reset_code.body["app"]["app_codes"][0], first.as_str());

    // Duplicate names are allowed by default; 5 apps per user.
    for _ in 0..4 {
        create_app(&c, "app_4ef0").await;
    }
    let over = c.post(&apps(), json!({"app_name": "sixth"})).await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST);
    assert_eq!(over.code(), "ModelArts.6403");

    let del = c.delete(&format!("{}/{id}", apps())).await;
    assert_eq!(del.status, StatusCode::OK);
    let gone = c.get(&format!("{}/{id}", apps()), &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.code(), "ModelArts.6404");
    assert_eq!(
        c.post(&apps(), json!({"app_name": "sixth"})).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unique_names_and_remark_limit() {
    let sim = start();
    let c = Client::new(&sim);
    let long = c
        .post(
            &apps(),
            json!({"app_name": "x", "app_remark": "r".repeat(201)}),
        )
        .await;
    assert_eq!(long.code(), "ModelArts.6400");
    sim.set_config(json!({"unique_names": {"modelarts": true}}))
        .expect("config");
    create_app(&c, "uniq").await;
    let dup = c.post(&apps(), json!({"app_name": "uniq"})).await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    assert_eq!(dup.code(), "ModelArts.6401");
}

#[tokio::test]
async fn apis_bindings_and_bound_delete_refusal() {
    let sim = start();
    let c = Client::new(&sim);
    let app = create_app(&c, "bound_app").await;
    let app_id = app["app_id"].as_str().expect("id").to_string();

    let api = c
        .post(
            &format!("/v1/{PROJECT}/app-auth/{SERVICE}/apis"),
            json!({"workspace_id": "0", "support_app_code": true, "auth_type": "APIG", "api_method": "GET", "api_remark": "test"}),
        )
        .await;
    assert_eq!(api.status, StatusCode::OK, "{:?}", api.body);
    let api = &api.body["api"];
    assert_eq!(api["auth_type"], "APP");
    assert_eq!(api["api_name"], "infer_ae20fc9fb37c48c28ebc3f3a638c9f48");
    let url = api["predict_url"].as_str().expect("url");
    assert!(
        url.starts_with("https://")
            && url.ends_with(&format!(
                ".apig.cn-north-4.huaweicloudapis.com/v1/infers/{SERVICE}"
            )),
        "{url}"
    );
    let api_id = api["api_id"].as_str().expect("api id").to_string();
    let long = c
        .post(
            &format!("/v1/{PROJECT}/app-auth/{SERVICE}/apis"),
            json!({"api_remark": "r".repeat(256)}),
        )
        .await;
    assert_eq!(long.code(), "ModelArts.6400");

    let bind_path = format!("{}/app-auth-apis/{api_id}/app-auth-api", service());
    let bind = c
        .post(&bind_path, json!({"apps": [{"app_id": app_id}, {"app_id": "logic-app-nope"}], "workspace_id": "0"}))
        .await;
    assert_eq!(bind.status, StatusCode::OK);
    let results = bind.body["auth_result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["success"], true);
    assert!(
        !results[0]["auth_id"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(results[1]["success"], false);
    assert!(!results[1]["reason"].as_str().unwrap_or_default().is_empty());
    assert_eq!(sim.state().apis[0].bound_app_ids, vec![app_id.clone()]);

    let refused = c.delete(&format!("{}/{app_id}", apps())).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.code(), "ModelArts.6402");

    let auths = c
        .get(
            &format!("{}/app-auth-apis/{api_id}/api-auths", service()),
            &[],
        )
        .await;
    assert_eq!(auths.body["total_count"], 1);
    assert_eq!(auths.body["auths"][0]["app_id"], app_id.as_str());
    let svc_auths = c.get(&format!("{}/api-auths", service()), &[]).await;
    assert_eq!(svc_auths.body["app_auth_api"]["api_id"], api_id.as_str());
    assert_eq!(
        svc_auths.body["app_auth_api"]["authed_apps"][0]["app_id"],
        app_id.as_str()
    );
    let app_apis = c.get(&format!("{}/{app_id}/auth-apis", apps()), &[]).await;
    assert_eq!(app_apis.body["apis"][0]["api_id"], api_id.as_str());
    let shown = c.get(&format!("{}/{app_id}", apps()), &[]).await;
    assert_eq!(shown.body["app"]["bounded_api_count"], 1);

    let unbind = c
        .call(
            Method::DELETE,
            &bind_path,
            &[("workspace_id", "0")],
            Some(&json!({"apps": [{"app_id": app_id}]})),
        )
        .await;
    assert_eq!(unbind.status, StatusCode::OK);
    assert_eq!(unbind.body["unauth_result"][0]["success"], true);
    assert!(sim.state().apis[0].bound_app_ids.is_empty());

    // PUT replaces the set.
    let other = create_app(&c, "other_app").await;
    let other_id = other["app_id"].as_str().expect("id").to_string();
    c.post(&bind_path, json!({"apps": [{"app_id": app_id}]}))
        .await;
    let put = c
        .put(&bind_path, json!({"apps": [{"app_id": other_id}]}))
        .await;
    assert_eq!(put.body["auth_result"][0]["success"], true);
    assert_eq!(sim.state().apis[0].bound_app_ids, vec![other_id.clone()]);

    assert_eq!(
        c.delete(&format!("{}/{app_id}", apps())).await.status,
        StatusCode::OK
    );

    let list = c.get(&format!("{}/app-auth-apis", service()), &[]).await;
    assert_eq!(list.body["total_count"], 1);
    let del = c
        .delete(&format!("{}/app-auth-apis/{api_id}", service()))
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let missing = c
        .delete(&format!("{}/app-auth-apis/{api_id}", service()))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "ModelArts.6405");

    let both = c
        .post(
            &format!("{}/app-auth-api", service()),
            json!({"apps": [{"app_id": other_id}], "api_name": "named", "workspace_id": "0"}),
        )
        .await;
    assert_eq!(both.status, StatusCode::OK, "{:?}", both.body);
    assert_eq!(both.body["api"]["api_name"], "named");
    assert_eq!(both.body["auth_result"][0]["success"], true);
}

#[tokio::test]
async fn service_ids_can_be_restricted() {
    let sim = start();
    sim.set_config(json!({"modelarts_services": [SERVICE]}))
        .expect("config");
    let c = Client::new(&sim);
    let ok = c
        .post(&format!("/v1/{PROJECT}/app-auth/{SERVICE}/apis"), json!({}))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let unknown = c
        .post(
            &format!("/v1/{PROJECT}/app-auth/00000000-0000-0000-0000-000000000000/apis"),
            json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "ModelArts.3502");
}

#[tokio::test]
async fn sixth_app_code_has_its_own_error() {
    let sim = start();
    let c = Client::new(&sim);
    let app = create_app(&c, "codes").await;
    let id = app["app_id"].as_str().expect("id").to_string();
    let path = format!("{}/{id}/app-code", apps());
    for i in 1..=5 {
        let r = c.post(&path, json!({"app_name": "codes"})).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["app"]["app_codes"].as_array().map(Vec::len), Some(i));
    }
    let r = c.post(&path, json!({"app_name": "codes"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // UNCONFIRMED code (sim README), distinct from the app quota's ModelArts.6403.
    assert_eq!(r.code(), "ModelArts.6406");
    assert_eq!(
        r.body["error_msg"],
        "The number of AppCodes of the app exceeds the quota (5)"
    );
    assert_eq!(sim.state().apps[0].app_codes.len(), 5);
    assert_eq!(sim.count("modelarts.create_app_code"), 6);
}
