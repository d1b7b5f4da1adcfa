use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Client, PROJECT, start};

fn base() -> String {
    format!("/v2/{PROJECT}/instances/r1")
}

#[tokio::test]
async fn create_show_secret_validate_update_delete() {
    let sim = start();
    let c = Client::new(&sim);
    let apps = format!("{}/apps", base());
    let r = c
        .post(
            &apps,
            json!({"name": "AppName", "remark": "example", "key": "JNs1VK3vLdTT9Djd", "secret": "TEI95R8RZ2pIf8UM", "favorite": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        r.body["key"], "JNs1VK3vLdTT9Djd",
        "the requested key, not the secret"
    );
    assert!(
        r.body.get("secret").is_none(),
        "ServerAppInfo has no secret"
    );
    assert_eq!(r.body["owner"], true);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 36);

    let random = c.post(&apps, json!({"name": "Random key (2)"})).await;
    assert_eq!(random.status, StatusCode::CREATED);
    assert_eq!(random.body["key"].as_str().map(str::len), Some(32));

    let show = c.get(&format!("{apps}/{id}"), &[]).await;
    assert_eq!(show.body["name"], "AppName");
    let secret = c.get(&format!("{apps}/{id}/secret"), &[]).await;
    assert_eq!(secret.body, json!({"id": id, "secret": "TEI95R8RZ2pIf8UM"}));

    let validate = format!("{}/validate-apps", base());
    for (k, v) in [
        ("name", "AppName"),
        ("key", "JNs1VK3vLdTT9Djd"),
        ("id", id.as_str()),
    ] {
        let found = c.get(&validate, &[(k, v)]).await;
        assert_eq!(found.status, StatusCode::OK, "{k}");
        assert_eq!(found.body["id"], id.as_str());
    }
    let not_exact = c.get(&validate, &[("name", "AppNam")]).await;
    assert_eq!(not_exact.status, StatusCode::NOT_FOUND);
    assert_eq!(not_exact.code(), "ROMA.00100404");
    assert!(not_exact.body.get("error_details").is_some());
    assert!(not_exact.body.get("request_id").is_some());

    let fuzzy = c.get(&apps, &[("name", "App")]).await;
    assert_eq!(fuzzy.body["total"], 1);
    let all = c.get(&apps, &[]).await;
    assert_eq!(all.body["total"], 2);

    let apic = c
        .get(&format!("/v2/{PROJECT}/apic/instances/r1/apps/{id}"), &[])
        .await;
    assert_eq!(apic.body["app_key"], "JNs1VK3vLdTT9Djd");
    assert_eq!(apic.body["app_secret"], "TEI95R8RZ2pIf8UM");

    let upd = c
        .put(
            &format!("{apps}/{id}"),
            json!({"name": "AppName2", "remark": "r", "favorite": true}),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK);
    assert_eq!(upd.body["favorite"], true);

    let reset = c
        .put(
            &format!("{apps}/{id}/secret"),
            json!({"secret": "New+Secret=1"}),
        )
        .await;
    assert_eq!(reset.body["secret"], "New+Secret=1");
    let random_reset = c.put(&format!("{apps}/{id}/secret"), json!({})).await;
    assert_ne!(random_reset.body["secret"], "New+Secret=1");

    let del = c.delete(&format!("{apps}/{id}")).await;
    assert_eq!(del.status, StatusCode::OK);
    let gone = c.get(&format!("{apps}/{id}"), &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.code(), "ROMA.00100404");
    let apic_gone = c
        .get(&format!("/v2/{PROJECT}/apic/instances/r1/apps/{id}"), &[])
        .await;
    assert_eq!(apic_gone.code(), "APIG.3004");
}

#[tokio::test]
async fn duplicates_and_field_rules() {
    let sim = start();
    let c = Client::new(&sim);
    let apps = format!("{}/apps", base());
    assert_eq!(
        c.post(&apps, json!({"name": "应用 (测试)", "key": "k-1@a.b"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let dup = c.post(&apps, json!({"name": "应用 (测试)"})).await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    assert_eq!(dup.code(), "ROMA.00100409");
    let dup_key = c
        .post(&apps, json!({"name": "other", "key": "k-1@a.b"}))
        .await;
    assert_eq!(dup_key.status, StatusCode::BAD_REQUEST);
    assert_eq!(dup_key.code(), "ROMA.00100410");
    let bad = c.post(&apps, json!({"name": "bad/name"})).await;
    assert_eq!(bad.code(), "ROMA.00100400");
    let bad_secret = c
        .post(&apps, json!({"name": "ok", "secret": "has space"}))
        .await;
    assert_eq!(bad_secret.code(), "ROMA.00100400");

    sim.set_config(json!({"unique_names": {"roma": false}}))
        .expect("config");
    assert_eq!(
        c.post(&apps, json!({"name": "应用 (测试)"})).await.status,
        StatusCode::CREATED
    );
    let key_still_unique = c.post(&apps, json!({"name": "x", "key": "k-1@a.b"})).await;
    assert_eq!(key_still_unique.code(), "ROMA.00100410");
}

#[tokio::test]
async fn apic_app_codes() {
    let sim = start();
    let c = Client::new(&sim);
    let r = c
        .post(&format!("{}/apps", base()), json!({"name": "coded"}))
        .await;
    let id = r.body["id"].as_str().expect("id");
    let codes = format!("/v2/{PROJECT}/apic/instances/r1/apps/{id}/app-codes");
    let g = c.call(reqwest::Method::PUT, &codes, &[], None).await;
    assert_eq!(g.status, StatusCode::CREATED);
    let list = c.get(&codes, &[]).await;
    assert_eq!(list.body["total"], 1);
    assert_eq!(sim.count("roma.generate_app_code"), 1);
    assert_eq!(sim.count("roma.list_app_codes"), 1);
}
