//! The GatewayApp controller end to end: the real operator binary against the real
//! kube-apiserver (+ controller-manager for garbage collection) and the simulator.

use crate::common;

use std::time::Duration;

use common::objects::Ns;
use common::operator::Operator;
use common::sim::{Sim, credentials_work};
use common::{cluster, wait};
use kube::api::{DeleteParams, PropagationPolicy};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

async fn setup(test: &str) -> (Ns, Sim) {
    let client = cluster::client().await;
    let name = cluster::namespace(&client, test).await;
    (Ns { client, name }, Sim::start())
}

/// Apply -> Ready -> the Secret's credentials work -> delete -> app and Secret gone.
async fn lifecycle(test: &str, service: &str, spec: serde_json::Value) {
    let (ns, sim) = setup(test).await;
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create("app", spec).await;
    let app = ns.wait_ready("app", T).await;
    let st = app.status.clone().expect("status");
    assert_eq!(st.service.as_deref(), Some(service));
    let id = st.app_id.clone().expect("appId");
    let secret = ns
        .secret(st.secret_name.as_deref().expect("secretName"))
        .await
        .expect("Secret exists");
    let key = Ns::value(&secret, "app_key").expect("app_key");
    let value = Ns::value(&secret, "app_secret").expect("app_secret");
    assert_eq!(Ns::value(&secret, "app_id").as_deref(), Some(id.as_str()));
    assert!(
        credentials_work(&sim.url(), &key, &value).await,
        "the delivered credentials work"
    );
    assert_eq!(sim.apps(service).len(), 1, "exactly one cloud app");
    // Three writes and no mirror: the pending marker stays, naming this object, as the record
    // a restored copy finds its app by.
    let annotations = app.metadata.annotations.clone().unwrap_or_default();
    assert!(
        !annotations.contains_key("appauth.hwcloud.dev/app-id"),
        "no app-id mirror by default"
    );
    let marker: serde_json::Value = serde_json::from_str(
        annotations
            .get("appauth.hwcloud.dev/pending")
            .expect("the pending marker stays"),
    )
    .expect("marker JSON");
    assert_eq!(marker["object"].as_str(), app.metadata.uid.as_deref());

    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    assert!(sim.apps(service).is_empty(), "cloud app deleted");
    wait::until(
        Duration::from_secs(90),
        "Secret garbage-collected",
        || async {
            ns.secret(st.secret_name.as_deref().unwrap_or_default())
                .await
                .is_none()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn apig_lifecycle() {
    lifecycle(
        "life-apig",
        "apig",
        json!({"apig": {"instanceId": "gw1"}, "description": "orders"}),
    )
    .await;
}

#[tokio::test]
async fn modelarts_lifecycle() {
    lifecycle("life-ma", "modelarts", json!({"modelarts": {}})).await;
}

#[tokio::test]
async fn dataarts_lifecycle() {
    lifecycle(
        "life-da",
        "dataarts",
        json!({"dataarts": {"workspaceId": "w1"}}),
    )
    .await;
}

#[tokio::test]
async fn roma_lifecycle() {
    lifecycle(
        "life-roma",
        "roma",
        json!({"roma": {"instanceId": "r1"}, "appName": "Billing (prod)"}),
    )
    .await;
}

#[tokio::test]
async fn retain_keeps_app_and_secret_even_with_foreground_deletion() {
    let (ns, sim) = setup("retain").await;
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create(
        "kept",
        json!({"apig": {"instanceId": "gw1"}, "deletionPolicy": "Retain"}),
    )
    .await;
    let app = ns.wait_ready("kept", T).await;
    let secret = ns.secret("kept").await.expect("Secret");
    assert!(
        secret.metadata.owner_references.is_none(),
        "no ownerReference under Retain"
    );
    let uid = app.metadata.uid.clone().expect("uid");
    assert_eq!(
        secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("appauth.hwcloud.dev/owner-uid")),
        Some(&uid)
    );
    ns.apps()
        .delete(
            "kept",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Foreground),
                ..Default::default()
            },
        )
        .await
        .expect("delete");
    ns.wait_gone("kept", T).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(ns.secret("kept").await.is_some(), "Secret retained");
    assert_eq!(sim.apps("apig").len(), 1, "cloud app retained");
}

#[tokio::test]
async fn metrics_and_health_endpoints_carry_no_object_names() {
    let (ns, sim) = setup("metrics").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _op = Operator::start(&ns.name, &sim.url(), &["--metrics-addr", &addr]);
    ns.create(
        "secretive-object-name",
        json!({"apig": {"instanceId": "gw1"}}),
    )
    .await;
    ns.wait_ready("secretive-object-name", T).await;
    let http = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let status = http
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .expect(path)
            .status();
        assert_eq!(status, 200, "{path}");
    }
    let text = wait::until(
        Duration::from_secs(15),
        "metrics with the managed gauge",
        || async {
            let text = http
                .get(format!("http://{addr}/metrics"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.contains("appauth_managed_objects{kind=\"GatewayApp\",ready=\"true\"} 1")
                .then_some(text)
        },
    )
    .await;
    assert!(
        text.contains("appauth_reconciles_total{kind=\"GatewayApp\"}"),
        "{text}"
    );
    assert!(
        text.contains(
            "appauth_cloud_requests_total{service=\"apig\",operation=\"create\",code=\"201\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("appauth_cloud_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        !text.contains("secretive-object-name") && !text.contains(&ns.name),
        "no object names in metrics"
    );
    // The process: its version, that it leads (no leader election here), its own figures.
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        value(&format!("appauth_build_info{{version=\"{version}\"}}")),
        1.0
    );
    assert_eq!(value("appauth_leader"), 1.0);
    let rss = value("appauth_process_resident_memory_bytes");
    assert!((4e6..1e9).contains(&rss), "resident memory {rss}");
    assert!(value("appauth_process_cpu_seconds_total") > 0.0);
    let fds = value("appauth_process_open_fds");
    assert!(
        fds >= 5.0 && fds <= value("appauth_process_max_fds"),
        "{fds}"
    );
    // The apiserver requests, by verb and code: the watches and the writes of the create.
    let kube = |verb: &str, code: &str| {
        value(&format!(
            "appauth_kube_requests_total{{verb=\"{verb}\",code=\"{code}\"}}"
        ))
    };
    assert!(
        kube("WATCH", "200") >= 3.0,
        "GatewayApps, Secrets, Namespaces at least"
    );
    assert!(kube("PATCH", "200") >= 2.0, "the marker and the status");
    assert!(
        kube("PATCH", "201") >= 1.0,
        "the Secret, created by an apply"
    );
    let started = value("appauth_process_start_time_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(
        (now - 120.0..=now + 2.0).contains(&started),
        "{started} vs {now}"
    );
}
