//! The examples users copy: every object in `examples/` passes the apiserver's server-side
//! dry-run (the Secrets and the Deployment beside the custom resources), and the Argo CD and
//! Flux manifests point at the chart and give it values it renders with. (Argo CD's and Flux's
//! own CRDs are not installed here, so those two are checked by content, not applied.)

use serde_json::Value;

use super::support::{dry_run_apply, parse_yaml, root, template};
use crate::common::cluster;

fn documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_yaml(&text)
}

#[tokio::test]
async fn every_example_object_passes_a_server_side_dry_run() {
    let client = cluster::client().await;
    let ns = cluster::namespace(&client, "examples-dry").await;
    let mut files: Vec<_> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml") && !f.starts_with("invalid"))
        .collect();
    files.sort();
    let mut kinds = Vec::new();
    for file in files {
        let mut objs = documents(&format!("examples/{file}"));
        for o in &mut objs {
            o["metadata"]["namespace"] = Value::from(ns.clone());
            kinds.push(o["kind"].as_str().unwrap_or_default().to_string());
        }
        dry_run_apply(&objs, &file);
    }
    for kind in ["GatewayApp", "InferenceApi", "Secret", "Deployment"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} among the examples"
        );
    }
}

#[test]
fn the_argo_cd_and_flux_manifests_install_the_chart_with_values_it_renders() {
    let argo = documents("deploy/argocd/application.yaml");
    let operator = argo
        .iter()
        .find(|a| a["spec"]["source"]["path"] == "charts/appauth-operator")
        .expect("an Application of the chart");
    assert!(root().join("charts/appauth-operator/Chart.yaml").is_file());
    let sync = operator["spec"]["syncPolicy"]["syncOptions"].to_string();
    assert!(sync.contains("ServerSideApply=true"), "{sync}");
    let values = &operator["spec"]["source"]["helm"]["valuesObject"];
    template("argo", "appauth-system", values, &[])
        .unwrap_or_else(|e| panic!("the Application's values: {e}"));

    let flux = documents("deploy/flux/helmrelease.yaml");
    let release = flux
        .iter()
        .find(|o| o["kind"] == "HelmRelease")
        .expect("a HelmRelease");
    let chart = release["spec"]["chart"]["spec"]["chart"]
        .as_str()
        .expect("chart path");
    assert!(root().join(chart).join("Chart.yaml").is_file(), "{chart}");
    assert_eq!(release["spec"]["install"]["crds"], "CreateReplace");
    assert_eq!(release["spec"]["upgrade"]["crds"], "CreateReplace");
    let source = &release["spec"]["chart"]["spec"]["sourceRef"];
    assert!(
        flux.iter()
            .any(|o| o["kind"] == source["kind"] && o["metadata"]["name"] == source["name"]),
        "the HelmRelease's source is in the file"
    );
    template("flux", "appauth-system", &release["spec"]["values"], &[])
        .unwrap_or_else(|e| panic!("the HelmRelease's values: {e}"));
}
