use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Client, PROJECT, sim_call, start};

#[tokio::test]
async fn state_counts_config_and_reset() {
    let sim = start();
    let c = Client::new(&sim);
    let apps = format!("/v2/{PROJECT}/apigw/instances/i1/apps");
    let app = c
        .post(&apps, json!({"name": "tracked", "remark": "r"}))
        .await;
    c.get(&apps, &[]).await;
    c.get(&apps, &[]).await;

    let (status, state) = sim_call(&sim, Method::GET, "/_sim/state", None).await;
    assert_eq!(status, StatusCode::OK);
    let a = &state["apps"][0];
    assert_eq!(a["service"], "apig");
    assert_eq!(a["project"], PROJECT);
    assert_eq!(a["instance"], "i1");
    assert_eq!(a["id"], app.body["id"]);
    assert_eq!(a["name"], "tracked");
    assert_eq!(a["key"], app.body["app_key"]);
    assert_eq!(a["secret"], app.body["app_secret"]);
    assert_eq!(a["remark"], "r");
    assert!(a["app_codes"].is_array());
    assert!(state["apis"].is_array());

    let (_, counts) = sim_call(&sim, Method::GET, "/_sim/counts", None).await;
    assert_eq!(counts, json!({"apig.create": 1, "apig.list": 2}));
    let (status, _) = sim_call(&sim, Method::DELETE, "/_sim/counts", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(sim.counts().is_empty());

    let (_, cfg) = sim_call(&sim, Method::GET, "/_sim/config", None).await;
    assert_eq!(
        cfg["unique_names"],
        json!({"apig": true, "roma": true, "dataarts": false, "modelarts": false})
    );
    assert_eq!(cfg["modelarts_quota"], 5);
    assert_eq!(cfg["modelarts_plaintext_flag"], "iphertext_enabled");
    assert_eq!(cfg["max_clock_skew_secs"], 900);
    let (status, cfg) = sim_call(
        &sim,
        Method::PUT,
        "/_sim/config",
        Some(json!({"modelarts_quota": 7})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cfg["modelarts_quota"], 7);
    assert_eq!(cfg["apig_quota"], 10000);
    let (status, _) = sim_call(&sim, Method::PUT, "/_sim/config", Some(json!({"nope": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = sim_call(&sim, Method::POST, "/_sim/reset", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(sim.state().apps.is_empty());
    assert_eq!(sim.config().modelarts_quota, 7, "reset keeps config");
    // Accounts survive a reset.
    assert_eq!(c.get(&apps, &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_paths_and_bad_fault_specs() {
    let sim = start();
    let c = Client::new(&sim);
    let r = c.get("/v9/whatever", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "APIG.0101");
    let (status, _) = sim_call(
        &sim,
        Method::POST,
        "/_sim/faults",
        Some(json!({"service": "nope", "status": 500})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = sim_call(&sim, Method::GET, "/_sim/nothing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn typed_handle_api() {
    use hwcloud_sim::{Account, FaultSpec};
    let sim = start();
    sim.add_account(Account::new("AK3", "SK3", "p3"))
        .expect("account");
    sim.add_account(Account::new("AK4", "SK4", "p4"))
        .expect("second generated user");
    assert!(sim.add_account(Account::new("AK3", "x", "p5")).is_err());
    let c = crate::common::Client::with_auth(&sim, crate::common::Auth::sign("AK3", "SK3"));
    let id = sim
        .add_fault(FaultSpec::new("apig", "create").status(500).times(1))
        .expect("fault");
    assert!(
        sim.add_fault(FaultSpec::new("apig", "create")).is_err(),
        "a fault needs an effect"
    );
    let r = c
        .post("/v2/p3/apigw/instances/i/apps", json!({"name": "abc"}))
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.code(), "APIG.9999");
    assert_eq!(sim.faults()[0].id, id);
    assert_eq!(sim.faults()[0].hits, 1);
    sim.clear_faults();
    assert!(sim.faults().is_empty());
    assert_eq!(sim.count("apig.create"), 1);
    sim.reset_counts();
    assert_eq!(sim.count("apig.create"), 0);
    let url = sim.url();
    sim.shutdown().await;
    assert!(
        reqwest::get(format!("{url}/_sim/health")).await.is_err(),
        "stopped"
    );
}
