//! What the chart tests share: the tools (helm, kubectl from `APPAUTH_TESTBIN`), rendering
//! and reading rendered objects, the value sets, and the server-side dry-run.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde::Deserialize as _;
use serde_json::{Value, json};

use crate::common::cluster;
use crate::common::operator::PROJECT;
/// The version of the test control plane (helm's built-in default is older than the chart's
/// kubeVersion constraint).
pub(super) const KUBE_VERSION: &str = "1.36.4";
pub(super) const T: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Tools

pub(super) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(super) fn chart_dir() -> PathBuf {
    root().join("charts/appauth-operator")
}

pub(super) fn tool(name: &str) -> PathBuf {
    let dir = std::env::var("APPAUTH_TESTBIN").unwrap_or_else(|_| {
        panic!(
            "APPAUTH_TESTBIN is not set: run `cargo xtask test`, or set \
             APPAUTH_TESTBIN=$(cargo xtask testbin) (the directory with helm and kubectl)"
        )
    });
    let path = Path::new(&dir).join(name);
    assert!(
        path.is_file(),
        "{} is missing: APPAUTH_TESTBIN must hold {name} (`cargo xtask testbin` builds it)",
        path.display()
    );
    path
}

pub(super) fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("appauth-chart-test-{}/{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

pub(crate) struct Output {
    pub(super) ok: bool,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

pub(crate) fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        let input = input.to_string();
        // Written from a thread: a large input must not deadlock against a full stdout pipe.
        std::thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        });
    }
    let out = child.wait_with_output().expect("command output");
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// helm with its state in a scratch directory (never the user's repositories or cache).
pub(super) fn helm() -> Command {
    let home = scratch("helm-home");
    let mut cmd = Command::new(tool("helm"));
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG");
    cmd
}

pub(crate) fn kubectl() -> Command {
    let kubeconfig = std::env::var(cluster::KUBECONFIG_ENV).unwrap_or_else(|_| {
        panic!(
            "{} is not set: run `cargo xtask test`",
            cluster::KUBECONFIG_ENV
        )
    });
    let mut cmd = Command::new(tool("kubectl"));
    cmd.arg("--kubeconfig").arg(kubeconfig);
    cmd
}

/// Splits a multi-document YAML stream into objects (empty documents dropped).
pub(super) fn parse_yaml(stream: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(stream)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("bad YAML ({e}):\n{stream}")))
        .filter(|v| !v.is_null())
        .collect()
}

pub(super) fn to_yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| serde_yaml::to_string(o).expect("YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}

pub(super) fn write_values(name: &str, values: &Value) -> PathBuf {
    // Unique per call: tests run in parallel threads of one process.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = scratch("values").join(format!("{name}-{n}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(values).expect("JSON")).expect("values file");
    path
}

/// `helm template`; Err carries helm's message.
pub(super) fn template(
    release: &str,
    namespace: &str,
    values: &Value,
    extra: &[&str],
) -> Result<Vec<Value>, String> {
    let file = write_values(&format!("{release}-{namespace}"), values);
    let out = run(
        helm()
            .args(["template", release])
            .arg(chart_dir())
            .args([
                "--namespace",
                namespace,
                "--kube-version",
                KUBE_VERSION,
                "-f",
            ])
            .arg(&file)
            .args(extra),
        None,
    );
    if out.ok {
        Ok(parse_yaml(&out.stdout))
    } else {
        Err(out.stderr)
    }
}

pub(crate) fn render(release: &str, namespace: &str, values: &Value) -> Vec<Value> {
    template(release, namespace, values, &[])
        .unwrap_or_else(|e| panic!("helm template {release} with {values}: {e}"))
}

pub(crate) fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| {
            panic!(
                "no {kind} {name} among {:?}",
                objects
                    .iter()
                    .map(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]))
                    .collect::<Vec<_>>()
            )
        })
}

pub(super) fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub(super) fn deployment(objects: &[Value]) -> &Value {
    objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment")
}

pub(super) fn container(objects: &[Value]) -> &Value {
    &deployment(objects)["spec"]["template"]["spec"]["containers"][0]
}

pub(super) fn args(objects: &[Value]) -> Vec<String> {
    container(objects)["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect()
}

/// Every rule of a (Cluster)Role as (apiGroup, resource, verb) triples.
pub(super) fn grants(role: &Value) -> BTreeSet<(String, String, String)> {
    tenancy_grants(role)
        .into_iter()
        .map(|(g, r, v, _)| (g, r, v))
        .collect()
}

/// Every rule of a (Cluster)Role as (apiGroup, resource, verb, resourceNames) quadruples.
pub(super) fn tenancy_grants(role: &Value) -> BTreeSet<(String, String, String, Vec<String>)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        let names: Vec<String> = rule["resourceNames"]
            .as_array()
            .map(|n| n.iter().map(|x| x.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        for g in rule["apiGroups"].as_array().expect("apiGroups") {
            for r in rule["resources"].as_array().expect("resources") {
                for v in rule["verbs"].as_array().expect("verbs") {
                    out.insert((
                        g.as_str().unwrap().to_string(),
                        r.as_str().unwrap().to_string(),
                        v.as_str().unwrap().to_string(),
                        names.clone(),
                    ));
                }
            }
        }
    }
    out
}

pub(super) fn grant(group: &str, resource: &str, verb: &str) -> (String, String, String) {
    (group.into(), resource.into(), verb.into())
}

// ---------------------------------------------------------------------------------------------
// helm lint and helm template

pub(super) fn full_values() -> Value {
    json!({
        "replicaCount": 2,
        "image": {"repository": "registry.example.com/platform/appauth-operator",
                  "digest": format!("sha256:{}", "ab".repeat(32))},
        "imagePullSecrets": [{"name": "registry"}],
        "credentials": {"existingSecret": "hwcloud-account"},
        "cloud": {
            "region": "cn-north-4",
            "projectId": PROJECT,
            "endpoints": {"iam": "https://iam.example.com", "apig": "https://apig.example.com"},
            "rateLimits": {"apig": "20/40", "modelarts": 10},
            "errorCodes": {"ModelArts.6404": "NotFound"},
            "caBundle": {"configMapName": "corporate-ca", "key": "bundle.pem"},
        },
        "hostAliases": [{"ip": "10.0.0.10", "hostnames": ["apig.cn-north-4.example.internal"]}],
        "labelSelector": "team=payments",
        "policySelector": "appauth.example.com/install=payments",
        "admission": {"grantsName": "payments-grants"},
        "clusterName": "prod-eu",
        "allowAdoption": false,
        "concurrency": 4,
        "resyncPeriod": "1h30m",
        "leaderElection": {"id": "payments-operator", "leaseDuration": "20s"},
        "logging": {"format": "text", "level": "debug"},
        "serviceMonitor": {"enabled": true, "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": true, "labels": {"release": "prometheus"}},
        "grafanaDashboard": {"enabled": true},
        "podDisruptionBudget": {"enabled": true},
        "networkPolicy": {
            "enabled": true,
            "metricsFrom": [{"namespaceSelector":
                {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
            "egressExtra": [{"to": [{"ipBlock": {"cidr": "10.20.0.5/32"}}],
                             "ports": [{"protocol": "TCP", "port": 3128}]}],
        },
        "podAnnotations": {"example.com/team": "payments"},
        "podLabels": {"team": "payments"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "appauth-operator"}}}],
        "extraArgs": ["--modelarts-plaintext-flag=plaintext_enabled"],
        "extraEnv": [{"name": "TZ", "value": "UTC"}],
    })
}

pub(super) fn value_sets() -> Vec<(&'static str, Value)> {
    vec![
        ("defaults", json!({})),
        (
            "one-namespace",
            json!({"watchNamespace": "team-a", "leaderElection": {"enabled": false},
                   "rbac": {"aggregateToDefaultRoles": false}, "metrics": {"service": {"enabled": false}}}),
        ),
        ("full", full_values()),
        ("keyless", keyless_values()),
    ]
}

/// Every keyless source and both proxies at once (the first configured source wins, so this is
/// a valid install: federation), with tenants' own ServiceAccounts, in one namespace.
pub(super) fn keyless_values() -> Value {
    json!({
        "cloud": {"region": "cn-north-4"},
        "credentials": {"existingSecret": "hwcloud-account"},
        "federation": {"idpId": "cce-cluster-1", "audience": "iam.example.com",
                       "tokenExpirationSeconds": 7200, "credentialDuration": "6h",
                       "namespaceServiceAccounts": true},
        "podIdentity": {"enabled": true, "uri": "http://169.254.170.2/v1/credentials"},
        "instanceMetadata": {"enabled": true},
        "proxy": {"httpsProxy": "http://proxy.example.com:3128",
                  "httpProxy": "http://proxy.example.com:3128",
                  "noProxy": "169.254.169.254,169.254.170.2,.svc,.cluster.local",
                  "apiserverProxy": "http://apiserver-proxy.example.com:8888"},
    })
}

pub(super) fn kustomize(dir: &Path) -> Vec<Value> {
    let out = run(
        Command::new(tool("kubectl")).arg("kustomize").arg(dir),
        None,
    );
    assert!(
        out.ok,
        "kubectl kustomize {}: {}",
        dir.display(),
        out.stderr
    );
    parse_yaml(&out.stdout)
}

/// `kubectl apply --server-side --dry-run=server`; returns stderr (warnings) on success.
pub(super) fn dry_run_apply(objects: &[Value], what: &str) -> String {
    let out = run(
        kubectl().args([
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager=appauth-chart-test",
            "--force-conflicts",
            "-f",
            "-",
        ]),
        Some(&to_yaml(objects)),
    );
    assert!(
        out.ok,
        "server-side dry-run apply of {what} failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        !out.stdout.is_empty(),
        "kubectl reported nothing for {what}"
    );
    out.stderr
}

/// A namespace that enforces the restricted Pod Security level.
pub(super) async fn restricted_namespace(client: &Client, test: &str) -> String {
    let name = cluster::namespace(client, test).await;
    Api::<Namespace>::all(client.clone())
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
            }}})),
        )
        .await
        .expect("label the namespace");
    name
}
