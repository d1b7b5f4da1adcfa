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

/// The properties in a schema without a description, as dotted paths (`[]` for list items,
/// `{}` for map values): what `kubectl explain` would show empty.
pub fn undescribed_fields(schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (name, prop) in props {
            let here = format!("{path}.{name}");
            let described = prop
                .get("description")
                .and_then(|d| d.as_str())
                .is_some_and(|d| !d.trim().is_empty());
            if !described {
                out.push(here.clone());
            }
            undescribed_fields(prop, &here, out);
        }
    }
    if let Some(items) = schema.get("items") {
        undescribed_fields(items, &format!("{path}[]"), out);
    }
    if let Some(values) = schema.get("additionalProperties") {
        undescribed_fields(values, &format!("{path}{{}}"), out);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for branch in schema
            .get(key)
            .and_then(|b| b.as_array())
            .into_iter()
            .flatten()
        {
            undescribed_fields(branch, path, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_a_description_for_kubectl_explain() {
        let mut missing = Vec::new();
        for (_, crd) in crds() {
            for version in &crd.spec.versions {
                let schema = version
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref())
                    .map(serde_json::to_value)
                    .transpose()
                    .expect("a schema serializes")
                    .expect("every version has a schema");
                let root = format!("{}/{}", crd.spec.names.kind, version.name);
                undescribed_fields(&schema, &root, &mut missing);
            }
        }
        assert!(
            missing.is_empty(),
            "fields without a description (a doc comment on the Rust field): {missing:#?}"
        );
    }

    #[test]
    fn undescribed_fields_are_found_at_every_depth() {
        let schema = serde_json::json!({
            "properties": {
                "a": {"description": "described", "properties": {"b": {"type": "string"}}},
                "c": {"description": " ", "items": {"properties": {"d": {}}}},
                "e": {"description": "map", "additionalProperties": {"properties": {"f": {}}}},
                "g": {"description": "one of", "anyOf": [{"properties": {"h": {}}}]},
            }
        });
        let mut missing = Vec::new();
        undescribed_fields(&schema, "X", &mut missing);
        missing.sort();
        assert_eq!(missing, ["X.a.b", "X.c", "X.c[].d", "X.e{}.f", "X.g.h"]);
    }
}
