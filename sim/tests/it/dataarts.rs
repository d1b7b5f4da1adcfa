use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Client, PROJECT, start};

fn apps() -> String {
    format!("/v1/{PROJECT}/service/apps")
}

#[tokio::test]
async fn workspace_header_is_required() {
    let sim = start();
    let c = Client::new(&sim);
    let r = c.post(&apps(), json!({"name": "app_test_001"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "DLM.4001");
    let bad_type = Client::new(&sim)
        .header("workspace", "w1")
        .header("Dlm-Type", "OTHER");
    assert_eq!(bad_type.get(&apps(), &[]).await.code(), "DLM.4000");
}

#[tokio::test]
async fn create_list_show_update_delete() {
    let sim = start();
    let c = Client::new(&sim)
        .header("workspace", "w1")
        .header("Dlm-Type", "SHARED");
    let r = c
        .post(&apps(), json!({"app_type": "APP", "name": "app_test_001", "description": "This is the app's description."}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(r.body["app_type"], "APP");
    assert_eq!(r.body["app_key"].as_str().map(str::len), Some(32));
    let secret = r.body["app_secret"].as_str().expect("secret").to_string();
    assert!(r.body["register_time"].is_i64());

    // Duplicates are allowed by default (unconfirmed on the real cloud).
    assert_eq!(
        c.post(&apps(), json!({"name": "app_test_001"}))
            .await
            .status,
        StatusCode::OK
    );
    c.post(&apps(), json!({"name": "other"})).await;
    let fuzzy = c.get(&apps(), &[("name", "test_00")]).await;
    assert_eq!(fuzzy.body["total"], 2);
    let paged = c.get(&apps(), &[("limit", "1"), ("offset", "1")]).await;
    assert_eq!(paged.body["total"], 3);
    assert_eq!(paged.body["apps"].as_array().map(Vec::len), Some(1));

    let show = c.get(&format!("{}/{id}", apps()), &[]).await;
    assert_eq!(show.body["app_secret"], secret.as_str());

    // Apps are partitioned by workspace.
    let other_ws = Client::new(&sim).header("workspace", "w2");
    let hidden = other_ws.get(&format!("{}/{id}", apps()), &[]).await;
    assert_eq!(hidden.status, StatusCode::BAD_REQUEST);
    assert_eq!(hidden.code(), "DLM.4063");
    assert_eq!(other_ws.get(&apps(), &[]).await.body["total"], 0);

    let upd = c
        .put(
            &format!("{}/{id}", apps()),
            json!({"name": "renamed", "description": "d2"}),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK);
    assert_eq!(upd.body["name"], "renamed");
    assert_eq!(upd.body["description"], "d2");

    assert_eq!(
        c.delete(&format!("{}/{id}", apps())).await.status,
        StatusCode::NO_CONTENT
    );
    let gone = c.get(&format!("{}/{id}", apps()), &[]).await;
    assert_eq!(gone.status, StatusCode::BAD_REQUEST);
    assert_eq!(gone.code(), "DLM.4063");
    let gone_delete = c.delete(&format!("{}/{id}", apps())).await;
    assert_eq!(gone_delete.code(), "DLM.4063");
}

#[tokio::test]
async fn unique_names_when_configured() {
    let sim = start();
    sim.set_config(json!({"unique_names": {"dataarts": true}}))
        .expect("config");
    let c = Client::new(&sim).header("workspace", "w1");
    assert_eq!(
        c.post(&apps(), json!({"name": "a1"})).await.status,
        StatusCode::OK
    );
    let dup = c.post(&apps(), json!({"name": "a1"})).await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    assert_eq!(dup.code(), "DLM.4011");
    let missing = c.post(&apps(), json!({"description": "no name"})).await;
    assert_eq!(missing.code(), "DLM.4000");
}
