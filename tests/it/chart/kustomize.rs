//! The kustomize base `deploy/base`: the chart with its default values (plus its Namespace), and,
//! moved into a namespace by an overlay, it applies with a server-side dry-run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Value, json};

use super::support::{container, dry_run_apply, find, kustomize, root, scratch, template};
use crate::common::cluster;
/// Drops the labels only Helm adds, so that chart and base can be compared.
fn without_helm_labels(mut o: Value) -> Value {
    if let Some(labels) = o
        .get_mut("metadata")
        .and_then(|m| m.get_mut("labels"))
        .and_then(Value::as_object_mut)
    {
        labels.remove("helm.sh/chart");
        labels.remove("app.kubernetes.io/managed-by");
    }
    o
}

/// The first place two values differ, as a path (for readable failures).
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(p, q, &format!("{path}.{k}")),
                (p, q) => Some(format!("{path}.{k}: {p:?} vs {q:?}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

fn by_kind_and_name(objects: Vec<Value>) -> BTreeMap<String, Value> {
    objects
        .into_iter()
        .map(|o| {
            (
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap_or_default(),
                    o["metadata"]["name"].as_str().unwrap_or_default()
                ),
                o,
            )
        })
        .collect()
}

#[test]
fn kustomize_base_is_the_chart_with_default_values() {
    let base = by_kind_and_name(kustomize(&root().join("deploy/base")));
    let chart = template(
        "appauth-operator",
        "appauth-system",
        &json!({"credentials": {"existingSecret": "appauth-operator-credentials"}}),
        &["--include-crds"],
    )
    .expect("helm template");
    let chart = by_kind_and_name(chart.into_iter().map(without_helm_labels).collect());
    let mut base_only: Vec<&String> = base.keys().filter(|k| !chart.contains_key(*k)).collect();
    base_only.sort();
    assert_eq!(
        base_only,
        vec!["Namespace/appauth-system"],
        "the base adds only its Namespace"
    );
    let ns = &base["Namespace/appauth-system"];
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    for (key, want) in &chart {
        let mut got = base
            .get(key)
            .unwrap_or_else(|| panic!("deploy/base lacks {key} (the chart has it)"))
            .clone();
        // kustomize does not know these kinds are cluster-scoped and gives them the base's
        // namespace, which the apiserver drops.
        if key.starts_with("ValidatingAdmissionPolicy") {
            assert_eq!(got["metadata"]["namespace"], "appauth-system", "{key}");
            got["metadata"].as_object_mut().unwrap().remove("namespace");
        }
        let got = &got;
        assert!(
            got == want,
            "deploy/base differs from the chart for {key} at {}; re-render it with \
             `helm template appauth-operator charts/appauth-operator -n appauth-system \
             --set credentials.existingSecret=appauth-operator-credentials`",
            first_difference(got, want, "").unwrap_or_default()
        );
    }
}

/// The components `deploy/components/federation` and `namespace-service-accounts`, with the
/// identity provider's id an overlay adds, are the chart with `federation.idpId` and
/// `federation.namespaceServiceAccounts` (the order of environment variables aside: the overlay
/// appends the id after the component's token file).
#[test]
fn kustomize_components_are_the_chart_with_federation() {
    let overlay = scratch("federation-overlay");
    let rel = |path: &str| relative_to_root(&overlay, &root().join(path));
    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
             resources:\n  - {}\ncomponents:\n  - {}\n  - {}\n\
             patches:\n  - target: {{kind: Deployment, name: appauth-operator}}\n    patch: |\n\
             \x20     - op: add\n        path: /spec/template/spec/containers/0/env/-\n\
             \x20       value: {{name: HUAWEICLOUD_SDK_IDP_ID, value: appauth-cce-prod}}\n",
            rel("deploy/base"),
            rel("deploy/components/federation"),
            rel("deploy/components/namespace-service-accounts"),
        ),
    )
    .expect("overlay");
    let base = by_kind_and_name(kustomize(&overlay));
    let chart = template(
        "appauth-operator",
        "appauth-system",
        &json!({"credentials": {"existingSecret": "appauth-operator-credentials"},
                "federation": {"idpId": "appauth-cce-prod", "namespaceServiceAccounts": true}}),
        &[],
    )
    .expect("helm template");
    let chart = by_kind_and_name(chart.into_iter().map(without_helm_labels).collect());
    let sorted_env = |mut o: Value| {
        if let Some(env) = o
            .pointer_mut("/spec/template/spec/containers/0/env")
            .and_then(Value::as_array_mut)
        {
            env.sort_by_key(|e| e["name"].as_str().unwrap_or_default().to_string());
        }
        o
    };
    for key in [
        "Deployment/appauth-operator",
        "ClusterRole/appauth-operator",
    ] {
        let got = sorted_env(base[key].clone());
        let want = sorted_env(chart[key].clone());
        assert!(
            got == want,
            "deploy/components differ from the chart for {key} at {}",
            first_difference(&got, &want, "").unwrap_or_default()
        );
    }
}

/// `target` relative to `from` (kustomize refuses absolute resource paths).
fn relative_to_root(from: &Path, target: &Path) -> String {
    let up = "../".repeat(from.components().count() - 1);
    format!(
        "{up}{}",
        target.strip_prefix("/").expect("absolute path").display()
    )
}

#[tokio::test]
async fn kustomize_base_applies_with_a_server_side_dry_run() {
    let client = cluster::client().await;
    let ns = cluster::namespace(&client, "kustomize-dryrun").await;
    // An overlay that moves the base into this test's namespace, as users' overlays do.
    let overlay = scratch("overlay");
    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {ns}\n\
             resources:\n  - {}\nimages:\n  - name: appauth-operator\n    newName: registry.example.com/appauth-operator\n    newTag: 0.1.0\n",
            relative_to_root(&overlay, &root().join("deploy/base"))
        ),
    )
    .expect("overlay");
    let objs = kustomize(&overlay);
    let binding = find(&objs, "ClusterRoleBinding", "appauth-operator");
    assert_eq!(
        binding["subjects"][0]["namespace"], ns,
        "kustomize moved the subject"
    );
    assert_eq!(
        container(&objs)["image"],
        "registry.example.com/appauth-operator:0.1.0"
    );
    let warnings = dry_run_apply(&objs, "deploy/base");
    assert!(
        !warnings.contains("PodSecurity"),
        "the Deployment draws a Pod Security warning:\n{warnings}"
    );
}
