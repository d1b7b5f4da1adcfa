use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use std::io::{Read, Write};

use hwcloud_sim::FaultSpec;

use crate::common::{Client, PROJECT, sim_call, start};

fn apig_apps() -> String {
    format!("/v2/{PROJECT}/apigw/instances/i1/apps")
}

#[tokio::test]
async fn throttling_with_retry_after_does_not_perform_the_operation() {
    let sim = start();
    let (status, body) = sim_call(
        &sim,
        Method::POST,
        "/_sim/faults",
        Some(
            json!({"service": "apig", "op": "create", "status": 429, "retry_after": 3, "times": 1}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(body["id"].as_u64().is_some());
    let c = Client::new(&sim);
    let r = c.post(&apig_apps(), json!({"name": "throttled"})).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("3")
    );
    assert!(r.body.get("error_code").is_some());
    assert!(
        sim.state().apps.is_empty(),
        "a faulted request changes nothing"
    );
    // times: 1 -> the next request goes through.
    let again = c.post(&apig_apps(), json!({"name": "throttled"})).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(sim.count("apig.create"), 2);
    let (_, faults) = sim_call(&sim, Method::GET, "/_sim/faults", None).await;
    assert_eq!(faults[0]["hits"], 1);
}

#[tokio::test]
async fn error_status_uses_the_service_error_format() {
    let sim = start();
    sim.add_fault(
        serde_json::from_value(
            json!({"service": "roma", "op": "*", "status": 503, "error_code": "ROMA.00000503"}),
        )
        .expect("spec"),
    )
    .expect("fault");
    let c = Client::new(&sim);
    let r = c
        .get(&format!("/v2/{PROJECT}/instances/r1/apps"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.code(), "ROMA.00000503");
    assert!(r.body.get("request_id").is_some());
    // Other services are unaffected.
    assert_eq!(c.get(&apig_apps(), &[]).await.status, StatusCode::OK);
    let (status, _) = sim_call(&sim, Method::DELETE, "/_sim/faults", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        c.get(&format!("/v2/{PROJECT}/instances/r1/apps"), &[])
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let sim = start();
    sim.add_fault(FaultSpec::new("apig", "list").latency_ms(300))
        .expect("fault");
    let c = Client::new(&sim);
    let started = Instant::now();
    assert_eq!(c.get(&apig_apps(), &[]).await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn drop_after_commit_commits_then_closes_the_connection() {
    let sim = start();
    sim.add_fault(
        serde_json::from_value(
            json!({"service": "apig", "op": "create", "drop_after_commit": true, "times": 1}),
        )
        .expect("spec"),
    )
    .expect("fault");
    let c = Client::new(&sim);
    let err = c
        .build(
            Method::POST,
            &apig_apps(),
            &[],
            Some(&json!({"name": "committed"})),
        )
        .send()
        .await
        .expect_err("no HTTP response");
    assert!(!err.is_status(), "{err}");
    let state = sim.state();
    assert_eq!(state.apps.len(), 1);
    assert_eq!(state.apps[0].name, "committed");
    assert_eq!(sim.count("apig.create"), 1);
}

#[tokio::test]
async fn drop_after_commit_sends_no_bytes_on_raw_tcp() {
    let sim = start();
    let token = {
        let resp = reqwest::Client::new()
            .post(format!("{}/v3/auth/tokens", sim.url()))
            .json(&json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "hwsim-user", "password": "hwsim-password", "domain": {"name": "hwsim-domain"}}}},
                "scope": {"project": {"name": "cn-north-4"}}}}))
            .send()
            .await
            .expect("token");
        resp.headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .expect("token header")
    };
    sim.add_fault(
        serde_json::from_value(
            json!({"service": "roma", "op": "create", "drop_after_commit": true}),
        )
        .expect("spec"),
    )
    .expect("fault");
    let body = r#"{"name":"raw-app"}"#;
    let request = format!(
        "POST /v2/{PROJECT}/instances/r1/apps HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        sim.addr(),
        body.len()
    );
    let addr = sim.addr();
    let received = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream.write_all(request.as_bytes()).expect("write");
        let mut received = Vec::new();
        match stream.read_to_end(&mut received) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connection was not closed: {e}"),
        }
        received
    })
    .await
    .expect("join");
    assert!(
        received.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&received)
    );
    assert_eq!(sim.state().apps[0].name, "raw-app");
}

#[tokio::test]
async fn global_latency_setting_applies_to_cloud_operations_only() {
    let sim = start();
    let (status, cfg) = sim_call(
        &sim,
        Method::PUT,
        "/_sim/config",
        Some(json!({"latency_ms": 200})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cfg["latency_ms"], 200);
    let started = Instant::now();
    sim_call(&sim, Method::GET, "/_sim/state", None).await;
    assert!(started.elapsed() < Duration::from_millis(200));
    let c = Client::new(&sim);
    let started = Instant::now();
    c.get(&apig_apps(), &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
}
