//! The CRD manifests, generated from the Rust types (the only source of truth).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::api::{AppAuthGrantSet, AppAuthPolicy, GatewayApp, InferenceApi};

/// Every CRD with the file name it is committed under in `crds/`.
pub fn crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("gatewayapps.appauth.hwcloud.dev.yaml", GatewayApp::crd()),
        (
            "inferenceapis.appauth.hwcloud.dev.yaml",
            InferenceApi::crd(),
        ),
        (
            "appauthpolicies.appauth.hwcloud.dev.yaml",
            AppAuthPolicy::crd(),
        ),
        (
            "appauthgrantsets.appauth.hwcloud.dev.yaml",
            AppAuthGrantSet::crd(),
        ),
    ]
}

/// One CRD as YAML, as committed.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(crd)
}

/// All CRDs as one multi-document YAML stream (what `appauth-operator crd` prints).
pub fn all_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for (_, crd) in crds() {
        out.push_str("---\n");
        out.push_str(&to_yaml(&crd)?);
    }
    Ok(out)
}
