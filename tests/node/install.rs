//! `helm install` with the built image into a namespace that enforces the restricted Pod
//! Security level: the Pod becomes Ready through its probes, reads its credentials from files,
//! and runs the lifecycle of the four services and an InferenceApi with working credentials.

use std::time::Duration;

use appauth_operator::api::InferenceApi;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use crate::common::objects::creds;
use crate::common::wait;
use crate::support::{NodeSim, Release, SERIAL, pod_ready};

const T: Duration = Duration::from_secs(90);
const SERVICE_ID: &str = "ae20fc9f-b37c-48c2-8ebc-3f3a638c9f48";

#[tokio::test]
async fn installed_by_the_chart_a_restricted_pod_serves_all_four_services_and_an_inference_api() {
    let _one = SERIAL.lock().await;
    let sim = NodeSim::start("install");
    // No user in the Pod's security context: under runAsNonRoot the kubelet starts the
    // container only if the image's own USER is a non-root uid.
    let release = Release::install(
        "install",
        &sim,
        1,
        json!({"podSecurityContext": {"runAsUser": null, "runAsGroup": null}}),
    )
    .await;

    // The namespace really enforces the restricted level: a root Pod is refused there.
    let root: Pod = serde_json::from_value(json!({
        "metadata": {"name": "root"},
        "spec": {"containers": [{"name": "c", "image": "x", "securityContext": {"runAsUser": 0}}]}
    }))
    .expect("pod");
    let refused = release
        .pods_api()
        .create(&PostParams::default(), &root)
        .await
        .expect_err("a root Pod violates the restricted level");
    assert!(refused.to_string().contains("restricted"), "{refused}");

    // The operator's Pod: Ready through its readiness probe, never restarted, running as the
    // image's non-root user (nothing in the Pod names a uid), with the credentials mounted
    // read-only as files.
    let pods = release.wait_ready_pods(1, T).await;
    let pod = &pods[0];
    assert!(pod_ready(pod));
    let status = pod.status.as_ref().expect("status");
    let container = &status.container_statuses.as_ref().expect("containers")[0];
    assert!(
        container.ready && container.restart_count == 0,
        "{container:?}"
    );
    let spec = pod.spec.as_ref().expect("spec");
    let c = &spec.containers[0];
    let pod_user = spec.security_context.as_ref().and_then(|s| s.run_as_user);
    let container_user = c.security_context.as_ref().and_then(|s| s.run_as_user);
    assert_eq!(
        (pod_user, container_user),
        (None, None),
        "the uid is the image's"
    );
    assert!(c.readiness_probe.is_some() && c.liveness_probe.is_some());
    let args = c.args.clone().unwrap_or_default();
    assert!(
        args.iter().any(|a| a.starts_with("--credentials-dir=")),
        "{args:?}"
    );
    assert!(
        c.env
            .iter()
            .flatten()
            .all(|e| !e.name.starts_with("HWCLOUD_")),
        "no credentials in the environment"
    );
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "credentials")
        .expect("credentials mount");
    assert_eq!(mount.read_only, Some(true));

    // The four services, each Ready with credentials that work against the gateway.
    let ns = &release.work;
    let specs = [
        ("apig", json!({"apig": {"instanceId": "gw1"}})),
        ("modelarts", json!({"modelarts": {}})),
        ("dataarts", json!({"dataarts": {"workspaceId": "w1"}})),
        ("roma", json!({"roma": {"instanceId": "r1"}})),
    ];
    for (name, spec) in &specs {
        ns.create(name, spec.clone()).await;
    }
    for (name, _) in &specs {
        ns.wait_ready(name, T).await;
        let app = ns.get(name).await.expect("app");
        let secret = app
            .status
            .and_then(|s| s.secret_name)
            .expect("status.secretName");
        let (key, value) = creds(ns, &secret).await;
        assert!(
            sim.credentials_work(&key, &value).await,
            "{name}: the delivered credentials sign requests the gateway accepts"
        );
    }
    assert_eq!(sim.apps().len(), 4);

    // An InferenceApi bound to the ModelArts app.
    let apis: Api<InferenceApi> = Api::namespaced(ns.client.clone(), &ns.name);
    let api: InferenceApi = serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "InferenceApi",
        "metadata": {"name": "scoring"},
        "spec": {"serviceId": SERVICE_ID, "method": "POST", "appRefs": [{"name": "modelarts"}],
                 "secret": {"name": "scoring-endpoint"}}
    }))
    .expect("InferenceApi");
    apis.create(&PostParams::default(), &api)
        .await
        .expect("create");
    wait::until(T, "the InferenceApi Ready", || async {
        let api = apis.get_opt("scoring").await.ok()??;
        api.status?
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
            .then_some(())
    })
    .await;
    assert!(ns.secret("scoring-endpoint").await.is_some());

    // Deleting everything deletes it in the cloud.
    apis.delete("scoring", &DeleteParams::default())
        .await
        .expect("delete");
    for (name, _) in &specs {
        ns.delete(name).await;
    }
    for (name, _) in &specs {
        ns.wait_gone(name, T).await;
    }
    wait::until(T, "the cloud apps deleted", || async {
        sim.apps().is_empty().then_some(())
    })
    .await;
    release.cleanup().await;
}
