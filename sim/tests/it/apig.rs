use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Client, PROJECT, start};

fn apps() -> String {
    format!("/v2/{PROJECT}/apigw/instances/inst1/apps")
}

#[tokio::test]
async fn create_show_list_update_reset_delete() {
    let sim = start();
    let c = Client::new(&sim);
    let r = c
        .post(&apps(), json!({"name": "app_demo", "remark": "Demo app"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    let key = r.body["app_key"].as_str().expect("key").to_string();
    let secret = r.body["app_secret"].as_str().expect("secret").to_string();
    assert!(!secret.contains('*'), "create returns the unmasked secret");
    assert_eq!(r.body["status"], 1);
    assert_eq!(r.body["creator"], "USER");

    let show = c.get(&format!("{}/{id}", apps()), &[]).await;
    assert_eq!(show.status, StatusCode::OK);
    assert_eq!(show.body["app_secret"], secret.as_str());
    assert_eq!(show.body["app_key"], key.as_str());

    c.post(&apps(), json!({"name": "app_demo_two"})).await;
    let fuzzy = c.get(&apps(), &[("name", "app_demo")]).await;
    assert_eq!(fuzzy.body["total"], 2);
    let exact = c
        .get(&apps(), &[("name", "app_demo"), ("precise_search", "name")])
        .await;
    assert_eq!(exact.body["total"], 1);
    assert_eq!(exact.body["apps"][0]["id"], id.as_str());
    assert_eq!(exact.body["apps"][0]["bind_num"], 0);
    let by_key = c.get(&apps(), &[("app_key", &key)]).await;
    assert_eq!(by_key.body["size"], 1);

    let verify = c.get(&format!("{}/validation/{id}", apps()), &[]).await;
    assert_eq!(verify.status, StatusCode::OK);
    assert_eq!(verify.body["name"], "app_demo");

    let missing_name = c
        .put(&format!("{}/{id}", apps()), json!({"remark": "x"}))
        .await;
    assert_eq!(missing_name.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing_name.code(), "APIG.2011");
    let upd = c
        .put(
            &format!("{}/{id}", apps()),
            json!({"name": "app_demo", "remark": "changed"}),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK);
    assert_eq!(upd.body["remark"], "changed");

    let reset = c.put(&format!("{}/secret/{id}", apps()), json!({})).await;
    assert_eq!(reset.status, StatusCode::OK);
    assert_ne!(reset.body["app_secret"], secret.as_str());
    let chosen = c
        .put(
            &format!("{}/secret/{id}", apps()),
            json!({"app_secret": "Chosen_Secret-1!"}),
        )
        .await;
    assert_eq!(chosen.body["app_secret"], "Chosen_Secret-1!");

    let del = c.delete(&format!("{}/{id}", apps())).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let gone = c.get(&format!("{}/{id}", apps()), &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.code(), "APIG.3004");
    assert_eq!(sim.state().apps.len(), 1);
}

#[tokio::test]
async fn field_rules_and_duplicates() {
    let sim = start();
    let c = Client::new(&sim);
    let bad_name = c.post(&apps(), json!({"name": "1abc"})).await;
    assert_eq!(bad_name.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_name.code(), "APIG.2011");
    assert!(
        bad_name.body["error_msg"]
            .as_str()
            .unwrap_or_default()
            .contains("parameterName:name")
    );
    let bad_key = c
        .post(&apps(), json!({"name": "abc", "app_key": "-bad-key-1"}))
        .await;
    assert_eq!(bad_key.code(), "APIG.2011");
    assert!(
        bad_key.body["error_msg"]
            .as_str()
            .unwrap_or_default()
            .contains("app_key")
    );
    let bad_secret = c
        .post(&apps(), json!({"name": "abc", "app_secret": "short"}))
        .await;
    assert_eq!(bad_secret.code(), "APIG.2011");
    let long_remark = c
        .post(&apps(), json!({"name": "abc", "remark": "r".repeat(256)}))
        .await;
    assert_eq!(long_remark.code(), "APIG.2011");

    let unicode = c.post(&apps(), json!({"name": "应用_1"})).await;
    assert_eq!(unicode.status, StatusCode::CREATED);

    let first = c
        .post(
            &apps(),
            json!({"name": "chosen", "app_key": "my-app-key-0001", "app_secret": "my_app_secret!@#"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.body["app_key"], "my-app-key-0001");
    assert_eq!(first.body["app_secret"], "my_app_secret!@#");
    let dup_name = c.post(&apps(), json!({"name": "chosen"})).await;
    assert_eq!(dup_name.status, StatusCode::BAD_REQUEST);
    assert_eq!(dup_name.code(), "APIG.3203");
    let dup_key = c
        .post(
            &apps(),
            json!({"name": "other", "app_key": "my-app-key-0001"}),
        )
        .await;
    assert_eq!(dup_key.status, StatusCode::BAD_REQUEST);
    assert_eq!(dup_key.code(), "APIG.3310");
    // The same name in another instance is fine.
    let other_instance = c
        .post(
            &format!("/v2/{PROJECT}/apigw/instances/inst2/apps"),
            json!({"name": "chosen"}),
        )
        .await;
    assert_eq!(other_instance.status, StatusCode::CREATED);
}

#[tokio::test]
async fn quota_and_list_clamping() {
    let sim = start();
    let c = Client::new(&sim);
    for i in 0..22 {
        let r = c
            .post(&apps(), json!({"name": format!("app_{i:02}")}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let zero = c.get(&apps(), &[("limit", "0")]).await;
    assert_eq!(zero.body["size"], 20);
    assert_eq!(zero.body["total"], 22);
    let negative_offset = c.get(&apps(), &[("offset", "-5"), ("limit", "600")]).await;
    assert_eq!(negative_offset.body["size"], 22);
    let second_page = c.get(&apps(), &[("offset", "20"), ("limit", "20")]).await;
    assert_eq!(second_page.body["size"], 2);

    sim.set_config(json!({"apig_quota": 22})).expect("config");
    let over = c.post(&apps(), json!({"name": "one_too_many"})).await;
    assert_eq!(over.status, StatusCode::FORBIDDEN);
    assert_eq!(over.code(), "APIG.3103");
}

#[tokio::test]
async fn app_codes() {
    let sim = start();
    let c = Client::new(&sim);
    let app = c.post(&apps(), json!({"name": "coded"})).await;
    let id = app.body["id"].as_str().expect("id").to_string();
    let codes = format!("{}/{id}/app-codes", apps());
    let chosen = format!("+{}", "A1/=".repeat(20));
    let created = c.post(&codes, json!({"app_code": chosen})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["app_code"], chosen.as_str());
    assert_eq!(created.body["app_id"], id.as_str());
    let bad = c.post(&codes, json!({"app_code": "short"})).await;
    assert_eq!(bad.code(), "APIG.2011");
    for _ in 0..4 {
        let g = c.call(reqwest::Method::PUT, &codes, &[], None).await;
        assert_eq!(g.status, StatusCode::CREATED);
    }
    let sixth = c.call(reqwest::Method::PUT, &codes, &[], None).await;
    assert_eq!(sixth.status, StatusCode::FORBIDDEN);
    assert_eq!(sixth.code(), "APIG.3131");
    let list = c.get(&codes, &[]).await;
    assert_eq!(list.body["total"], 5);
    let code_id = created.body["id"].as_str().expect("code id");
    let show = c.get(&format!("{codes}/{code_id}"), &[]).await;
    assert_eq!(show.body["app_code"], chosen.as_str());
    assert_eq!(
        c.delete(&format!("{codes}/{code_id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let gone = c.delete(&format!("{codes}/{code_id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.code(), "APIG.3082");
    assert_eq!(sim.state().apps[0].app_codes.len(), 4);
}

#[tokio::test]
async fn non_object_bodies_are_apig_2012() {
    let sim = start();
    let c = Client::new(&sim);
    let created = c.post(&apps(), json!({"name": "body_checks"})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().expect("id").to_string();
    let cases: [(reqwest::Method, String); 4] = [
        (reqwest::Method::POST, apps()),
        (reqwest::Method::PUT, format!("{}/{id}", apps())),
        (reqwest::Method::PUT, format!("{}/secret/{id}", apps())),
        (reqwest::Method::POST, format!("{}/{id}/app-codes", apps())),
    ];
    for (method, path) in &cases {
        for body in [&b"[]"[..], b"{", b"\"name\"", b"42", b"not json"] {
            let r = c.call_raw(method.clone(), path, body).await;
            let shown = String::from_utf8_lossy(body);
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {path} {shown}");
            assert_eq!(
                r.code(),
                "APIG.2012",
                "{method} {path} {shown}: {:?}",
                r.body
            );
            assert!(
                r.body["error_msg"]
                    .as_str()
                    .is_some_and(|m| m.contains("parameterName:body")),
                "{:?}",
                r.body
            );
        }
    }
    // An invalid field inside an object stays APIG.2011.
    let r = c
        .call_raw(reqwest::Method::POST, &apps(), br#"{"name": 5}"#)
        .await;
    assert_eq!(r.code(), "APIG.2011");
    // Only the first app exists, unchanged.
    let apps_now = sim.state().apps;
    assert_eq!(apps_now.len(), 1);
    assert!(apps_now[0].app_codes.is_empty());
}
