//! Evaluating without Huawei Cloud credentials: the chart runs the simulator's image as a
//! second container of the operator's Pod, and a GatewayApp becomes Ready against it.

use std::time::Duration;

use serde_json::json;

use crate::support::{Release, SERIAL, simulator_image};

const T: Duration = Duration::from_secs(90);

#[tokio::test]
async fn with_the_simulator_in_the_pod_an_app_becomes_ready_without_cloud_credentials() {
    let _one = SERIAL.lock().await;
    let (repository, tag) = simulator_image();
    let release = Release::install_with(
        "evaluation",
        json!({
            "replicaCount": 1,
            "simulator": {
                "enabled": true,
                "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
            },
        }),
        |_, _| async {},
    )
    .await;
    let pods = release.wait_ready_pods(1, T).await;
    let containers: Vec<String> = pods[0]
        .spec
        .as_ref()
        .expect("spec")
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(containers, ["operator", "simulator"]);
    let ns = &release.work;
    ns.create("try-it", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    let app = ns.wait_ready("try-it", T).await;
    let secret = app.status.and_then(|s| s.secret_name).expect("secretName");
    assert!(ns.secret(&secret).await.is_some());
    release.cleanup().await;
}
