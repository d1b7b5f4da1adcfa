//! `helm uninstall` removes the operator and leaves, as the docs say, the CRDs, the custom
//! resources, their Secrets and the cloud apps.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use serde_json::json;

use crate::common::wait;
use crate::support::{NodeSim, Release, SERIAL};

const T: Duration = Duration::from_secs(90);

#[tokio::test]
async fn helm_uninstall_leaves_the_crds_objects_secrets_and_cloud_apps() {
    let _one = SERIAL.lock().await;
    let sim = NodeSim::start("uninstall");
    let release = Release::install("uninstall", &sim, 1, json!({})).await;
    release.wait_ready_pods(1, T).await;
    let ns = &release.work;
    ns.create("kept", json!({"roma": {"instanceId": "r1"}}))
        .await;
    let id = ns.ready_id("kept", T).await;

    release.uninstall();
    wait::until(T, "the operator's Pods gone", || async {
        release
            .pods_api()
            .list(&Default::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    let crds: Api<CustomResourceDefinition> = Api::all(ns.client.clone());
    for crd in [
        "gatewayapps.appauth.hwcloud.dev",
        "inferenceapis.appauth.hwcloud.dev",
    ] {
        assert!(
            crds.get_opt(crd).await.expect("get").is_some(),
            "{crd} kept"
        );
    }
    let app = ns.get("kept").await.expect("the GatewayApp is kept");
    assert!(app.metadata.deletion_timestamp.is_none());
    let secret = app.status.and_then(|s| s.secret_name).expect("secretName");
    assert!(ns.secret(&secret).await.is_some(), "its Secret is kept");
    assert!(
        sim.apps().iter().any(|a| a["id"] == id.as_str()),
        "its cloud app is kept"
    );
    release.cleanup().await;
}
