//! The chart's operator as a local process under the chart's identity: a kubeconfig with a real
//! TokenRequest token of its ServiceAccount, the container's args and env as rendered, and the
//! cleanup of the cluster-scoped objects a test applied.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use super::support::{args, container, kubectl, run, scratch};
use crate::common::cluster;
/// Cluster-scoped objects a test applied, deleted when it ends (namespaced ones go with the
/// namespace).
pub(super) struct ClusterScoped(pub(super) Vec<(String, String)>);

impl Drop for ClusterScoped {
    fn drop(&mut self) {
        for (kind, name) in &self.0 {
            let _ = run(
                kubectl().args(["delete", kind, name, "--ignore-not-found", "--wait=false"]),
                None,
            );
        }
    }
}

/// A kubeconfig that authenticates with a TokenRequest token of the ServiceAccount: the same
/// credential a pod gets, nothing of the admin's.
pub(super) async fn service_account_kubeconfig(
    admin: &Client,
    namespace: &str,
    service_account: &str,
) -> PathBuf {
    let request: TokenRequest = serde_json::from_value(json!({
        "spec": {"expirationSeconds": 3600}
    }))
    .expect("TokenRequest");
    let token = Api::<ServiceAccount>::namespaced(admin.clone(), namespace)
        .create_token_request(service_account, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("TokenRequest for {namespace}/{service_account}: {e}"))
        .status
        .expect("token status")
        .token;
    let admin_path = std::env::var(cluster::KUBECONFIG_ENV).expect("kubeconfig env");
    let admin_config: Value =
        serde_yaml::from_str(&std::fs::read_to_string(&admin_path).expect("admin kubeconfig"))
            .expect("kubeconfig YAML");
    let cluster_entry = &admin_config["clusters"][0]["cluster"];
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster_entry}],
        "users": [{"name": service_account, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "test", "user": service_account,
                                                  "namespace": namespace}}],
        "current-context": "sa",
    });
    let path = scratch(namespace).join("sa-kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&config).expect("YAML")).expect("kubeconfig");
    path
}

pub(super) async fn client_from(path: &Path) -> Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

/// The chart's container, run as a local process: its args and env as rendered, except the
/// metrics address (a free loopback port) and the credentials directory (where the test wrote
/// the Secret's files, as the kubelet would have).
pub(super) struct ChartOperator {
    child: Child,
    log: PathBuf,
}

impl ChartOperator {
    pub(super) fn start(
        objs: &[Value],
        namespace: &str,
        kubeconfig: &Path,
        credentials_dir: &Path,
    ) -> ChartOperator {
        let c = container(objs);
        let mut substituted = 0;
        let args: Vec<String> = args(objs)
            .into_iter()
            .map(|a| {
                if a.starts_with("--metrics-addr=") {
                    substituted += 1;
                    "--metrics-addr=127.0.0.1:0".to_string()
                } else if a == "--credentials-dir=/etc/appauth-operator/credentials" {
                    substituted += 1;
                    format!("--credentials-dir={}", credentials_dir.display())
                } else {
                    a
                }
            })
            .collect();
        assert_eq!(
            substituted, 2,
            "metrics address and credentials dir in {args:?}"
        );
        let log = scratch(namespace).join("operator.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_appauth-operator"));
        cmd.args(&args);
        // Nothing from the test's environment configures it: only the chart's env and files.
        for (k, _) in std::env::vars() {
            if k.starts_with("HWCLOUD_") || k.starts_with("APPAUTH_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        for e in c["env"].as_array().expect("env") {
            let name = e["name"].as_str().expect("env name");
            let value = if let Some(v) = e["value"].as_str() {
                v.to_string()
            } else if e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace" {
                namespace.to_string()
            } else {
                panic!("env {e} has no local equivalent")
            };
            cmd.env(name, value);
        }
        // More detail than the chart's default level, so that every refused request shows.
        cmd.env(
            "RUST_LOG",
            "debug,hyper=info,h2=info,tower=info,rustls=info,hyper_util=info",
        )
        .env("KUBECONFIG", kubeconfig)
        .env("HOSTNAME", format!("{namespace}-pod"))
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file);
        ChartOperator {
            child: cmd.spawn().expect("starting the operator"),
            log,
        }
    }

    pub(super) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ChartOperator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A log line about a request the apiserver refused (403 Forbidden), in any of the forms kube's
/// errors and the HTTP spans take.
pub(super) fn refusal(line: &str) -> bool {
    line.to_ascii_lowercase().contains("forbidden")
        || line.contains("status_code\":403")
        || line.contains("status_code=403")
        || line.contains("code: 403")
        || line.contains("\"code\":403")
}
