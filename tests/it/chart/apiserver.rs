//! The chart against the real apiserver: every value set applies with a server-side dry-run,
//! `helm install --dry-run=server` prints the NOTES, and the operator's Pod (from the chart and
//! from the base) passes admission where the restricted Pod Security level is enforced, while a
//! Pod without the security settings is refused there (so the check is live; a Pod is checked
//! because a Deployment would only warn).

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use super::support::{
    T, chart_dir, deployment, dry_run_apply, full_values, helm, kustomize, render,
    restricted_namespace, root, run, template, value_sets,
};
use crate::common::{cluster, wait};
#[tokio::test]
async fn rendered_chart_applies_with_a_server_side_dry_run() {
    let client = cluster::client().await;
    let ns = restricted_namespace(&client, "chart-dryrun").await;
    for (name, mut values) in value_sets() {
        if name == "one-namespace" {
            values["watchNamespace"] = json!(ns); // the Role goes into a namespace that exists
        }
        let objs = template("appauth", &ns, &values, &["--include-crds"])
            .unwrap_or_else(|e| panic!("helm template {name}: {e}"));
        // The ServiceMonitor and PrometheusRule kinds need prometheus-operator's CRDs, which
        // this cluster lacks; helm_template_everything_enabled and the alerts tests check them.
        let (monitoring, objs): (Vec<Value>, Vec<Value>) = objs
            .into_iter()
            .partition(|o| o["kind"] == "ServiceMonitor" || o["kind"] == "PrometheusRule");
        assert_eq!(monitoring.len(), 2 * usize::from(name == "full"));
        let warnings = dry_run_apply(&objs, &format!("the chart ({name})"));
        assert!(
            !warnings.contains("PodSecurity"),
            "the Deployment draws a Pod Security warning ({name}):\n{warnings}"
        );
    }
}

/// Helm's own install path against the apiserver (`--dry-run=server`): it renders the NOTES.
#[tokio::test]
async fn helm_install_dry_run_against_the_apiserver_prints_the_notes() {
    let client = cluster::client().await;
    let ns = cluster::namespace(&client, "chart-install").await;
    let kubeconfig = std::env::var(cluster::KUBECONFIG_ENV).expect("kubeconfig env");
    let out = run(
        helm()
            .args(["install", "appauth"])
            .arg(chart_dir())
            .args([
                "--namespace",
                &ns,
                "--dry-run=server",
                "--kubeconfig",
                &kubeconfig,
            ])
            .args(["--set", "credentials.existingSecret=hwcloud-account"]),
        None,
    );
    assert!(
        out.ok,
        "helm install --dry-run=server: {}\n{}",
        out.stdout, out.stderr
    );
    let notes = &out.stdout[out.stdout.find("NOTES:").expect("NOTES printed")..];
    for want in [
        format!("kubectl -n {ns} rollout status deployment/appauth-appauth-operator"),
        format!("Lease {ns}/appauth-appauth-operator"),
        format!("Secret {ns}/hwcloud-account, mounted as files"),
        "helm show crds".to_string(),
    ] {
        assert!(notes.contains(&want), "{want:?} in the NOTES:\n{notes}");
    }
}

fn pod_from(objects: &[Value], name: &str, namespace: &str) -> Pod {
    let template = &deployment(objects)["spec"]["template"];
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }))
    .expect("Pod")
}

#[tokio::test]
async fn operator_pod_is_admitted_under_restricted_pod_security() {
    let client = cluster::client().await;
    let ns = restricted_namespace(&client, "chart-psa").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let chart = render("appauth", &ns, &full_values());
    let base = kustomize(&root().join("deploy/base"));
    // The ServiceAccount admission plugin refuses a Pod whose ServiceAccount does not exist
    // (before Pod Security is asked): make the ones the chart and the base would install.
    for objs in [&chart, &base] {
        let pod = pod_from(objs, "sa", &ns);
        if let Some(name) = pod.spec.and_then(|s| s.service_account_name) {
            let sa: k8s_openapi::api::core::v1::ServiceAccount =
                serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
                    .expect("ServiceAccount");
            let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
                Api::namespaced(client.clone(), &ns);
            match sas.create(&PostParams::default(), &sa).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => panic!("ServiceAccount {name}: {e}"),
            }
        }
    }

    // The control: the same Pod without its security settings is refused, so enforcement is
    // live in this namespace (the admission plugin reads the label from its cache).
    let mut insecure = serde_json::to_value(pod_from(&chart, "insecure", &ns)).expect("JSON");
    insecure["spec"]
        .as_object_mut()
        .unwrap()
        .remove("securityContext");
    insecure["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("securityContext");
    let insecure: Pod = serde_json::from_value(insecure).expect("Pod");
    let refusal = wait::until(T, "restricted Pod Security enforced", || async {
        match pods.create(&dry, &insecure).await {
            Err(kube::Error::Api(e)) if e.code == 403 && e.message.contains("PodSecurity") => {
                Some(e.message)
            }
            _ => None,
        }
    })
    .await;
    for field in [
        "allowPrivilegeEscalation",
        "capabilities",
        "runAsNonRoot",
        "seccompProfile",
    ] {
        assert!(refusal.contains(field), "{field} named in: {refusal}");
    }

    for (what, objs) in [("the chart", &chart), ("deploy/base", &base)] {
        let pod = pod_from(objs, "operator", &ns);
        pods.create(&dry, &pod).await.unwrap_or_else(|e| {
            panic!("{what}'s operator Pod is refused under restricted Pod Security: {e}")
        });
    }
}
