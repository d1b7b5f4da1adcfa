//! The Helm chart `charts/appauth-operator` and the kustomize base `deploy/base` (SPEC §8, §9):
//!
//! - the chart's and the base's CRDs are the top-level `crds/`, byte for byte;
//! - `helm lint --strict` and `helm template` for several value sets, with what each renders;
//!   values the schema or the templates must refuse are refused; every rendered flag parses;
//! - the rendered chart and `kubectl kustomize deploy/base` apply with a server-side dry-run
//!   against the real apiserver, and the base is the chart with its default values;
//! - the operator's Pod (from both) passes admission in a namespace that enforces the restricted
//!   Pod Security level (a Pod is checked; a Deployment would only warn), and a Pod without the
//!   security settings is refused there (so the check is live);
//! - RBAC: the operator runs as the chart's ServiceAccount (a real TokenRequest token) with
//!   exactly the chart's (Cluster)Role, Role for the Lease and args, the default account read
//!   from files written from a Secret, and passes the GatewayApp lifecycle with no 403 in its
//!   logs, cluster-wide and single-namespace.
//!
//! Needs `APPAUTH_TESTBIN` (helm, kubectl; `cargo xtask test` sets it) and, for the tests that
//! talk to the apiserver, `APPAUTH_TEST_KUBECONFIG`.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use appauth_operator::api::{GatewayApp, InferenceApi};
use common::objects::Ns;
use common::operator::{AK, PROJECT, REGION, SK};
use common::sim::{Sim, credentials_work};
use common::{cluster, wait};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde::Deserialize as _;
use serde_json::{Value, json};

/// The version of the test control plane (helm's built-in default is older than the chart's
/// kubeVersion constraint).
const KUBE_VERSION: &str = "1.36.4";
const T: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Tools

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart_dir() -> PathBuf {
    root().join("charts/appauth-operator")
}

fn tool(name: &str) -> PathBuf {
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

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("appauth-chart-test-{}/{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
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
fn helm() -> Command {
    let home = scratch("helm-home");
    let mut cmd = Command::new(tool("helm"));
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG");
    cmd
}

fn kubectl() -> Command {
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
fn parse_yaml(stream: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(stream)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("bad YAML ({e}):\n{stream}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn to_yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| serde_yaml::to_string(o).expect("YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn write_values(name: &str, values: &Value) -> PathBuf {
    // Unique per call: tests run in parallel threads of one process.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = scratch("values").join(format!("{name}-{n}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(values).expect("JSON")).expect("values file");
    path
}

/// `helm template`; Err carries helm's message.
fn template(
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

fn render(release: &str, namespace: &str, values: &Value) -> Vec<Value> {
    template(release, namespace, values, &[])
        .unwrap_or_else(|e| panic!("helm template {release} with {values}: {e}"))
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
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

fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn deployment(objects: &[Value]) -> &Value {
    objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment")
}

fn container(objects: &[Value]) -> &Value {
    &deployment(objects)["spec"]["template"]["spec"]["containers"][0]
}

fn args(objects: &[Value]) -> Vec<String> {
    container(objects)["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect()
}

/// Every rule of a (Cluster)Role as (apiGroup, resource, verb) triples.
fn grants(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        for g in rule["apiGroups"].as_array().expect("apiGroups") {
            for r in rule["resources"].as_array().expect("resources") {
                for v in rule["verbs"].as_array().expect("verbs") {
                    out.insert((
                        g.as_str().unwrap().to_string(),
                        r.as_str().unwrap().to_string(),
                        v.as_str().unwrap().to_string(),
                    ));
                }
            }
        }
    }
    out
}

fn grant(group: &str, resource: &str, verb: &str) -> (String, String, String) {
    (group.into(), resource.into(), verb.into())
}

// ---------------------------------------------------------------------------------------------
// Files

#[test]
fn chart_and_base_crds_are_the_top_level_crds() {
    let read = |dir: PathBuf| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).expect("CRD file"),
                )
            })
            .collect()
    };
    let top = read(root().join("crds"));
    assert_eq!(top.len(), 2, "crds/ holds both kinds");
    for copy in ["charts/appauth-operator/crds", "deploy/base/crds"] {
        let other = read(root().join(copy));
        assert_eq!(
            other.keys().collect::<Vec<_>>(),
            top.keys().collect::<Vec<_>>(),
            "{copy} has the same files as crds/"
        );
        for (file, bytes) in &top {
            assert!(
                &other[file] == bytes,
                "{copy}/{file} differs from crds/{file}: after regenerating the CRDs run \
                 `cp crds/*.yaml {copy}/`"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// helm lint and helm template

fn full_values() -> Value {
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
        },
        "labelSelector": "team=payments",
        "clusterName": "prod-eu",
        "allowAdoption": false,
        "concurrency": 4,
        "resyncPeriod": "1h30m",
        "leaderElection": {"id": "payments-operator", "leaseDuration": "20s"},
        "logging": {"format": "text", "level": "debug"},
        "serviceMonitor": {"enabled": true, "labels": {"release": "prometheus"}},
        "podDisruptionBudget": {"enabled": true},
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

fn value_sets() -> Vec<(&'static str, Value)> {
    vec![
        ("defaults", json!({})),
        (
            "one-namespace",
            json!({"watchNamespace": "team-a", "leaderElection": {"enabled": false},
                   "rbac": {"aggregateToDefaultRoles": false}, "metrics": {"service": {"enabled": false}}}),
        ),
        ("full", full_values()),
    ]
}

/// A user's helm (a release build) knows a default Kubernetes version, so the chart renders and
/// lints with no `--kube-version` and no cluster; a helm built without its release flags says
/// "Kubernetes v1.20.0" and refuses the chart's `kubeVersion`.
#[test]
fn helm_as_released_renders_and_lints_without_a_kube_version() {
    let version = run(helm().args(["version", "--template", "{{.Version}}"]), None);
    assert!(
        version.ok && version.stdout.trim().starts_with("v3."),
        "helm version: {} {}",
        version.stdout,
        version.stderr
    );
    let rendered = run(
        helm()
            .args(["template", "plain", "--namespace", "appauth-system"])
            .arg(chart_dir()),
        None,
    );
    assert!(
        rendered.ok,
        "helm template without --kube-version: {}",
        rendered.stderr
    );
    assert!(kinds(&parse_yaml(&rendered.stdout)).contains("Deployment"));
    let linted = run(helm().args(["lint", "--strict"]).arg(chart_dir()), None);
    assert!(
        linted.ok && linted.stdout.contains("0 chart(s) failed"),
        "helm lint without --kube-version:\n{}\n{}",
        linted.stdout,
        linted.stderr
    );
}

#[test]
fn helm_lint_passes_for_every_value_set() {
    for (name, values) in value_sets() {
        let file = write_values(&format!("lint-{name}"), &values);
        let out = run(
            helm()
                .args(["lint", "--strict", "--kube-version", KUBE_VERSION])
                .arg(chart_dir())
                .arg("-f")
                .arg(&file),
            None,
        );
        assert!(
            out.ok && out.stdout.contains("0 chart(s) failed"),
            "helm lint ({name}):\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}

#[test]
fn helm_template_defaults() {
    let objs = render("appauth", "ops", &json!({}));
    assert_eq!(
        kinds(&objs),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
        .map(String::from)
        .into(),
        "default objects (no ServiceMonitor, no PodDisruptionBudget)"
    );
    let name = "appauth-appauth-operator";
    // Least privilege, exactly: nothing beyond what docs/operations.md explains.
    let role = grants(find(&objs, "ClusterRole", name));
    let mut expected = BTreeSet::new();
    for r in ["gatewayapps", "inferenceapis"] {
        for v in ["get", "list", "watch", "patch"] {
            expected.insert(grant("appauth.hwcloud.dev", r, v));
        }
        expected.insert(grant(
            "appauth.hwcloud.dev",
            &format!("{r}/status"),
            "patch",
        ));
        expected.insert(grant(
            "appauth.hwcloud.dev",
            &format!("{r}/finalizers"),
            "update",
        ));
    }
    for v in ["get", "list", "watch", "create", "patch", "delete"] {
        expected.insert(grant("", "secrets", v));
    }
    for v in ["create", "patch"] {
        expected.insert(grant("events.k8s.io", "events", v));
    }
    assert_eq!(role, expected, "the operator's ClusterRole");
    let binding = find(&objs, "ClusterRoleBinding", name);
    assert_eq!(binding["roleRef"]["name"], name);
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": name, "namespace": "ops"}])
    );
    let lease_role = find(&objs, "Role", &format!("{name}-leader-election"));
    assert_eq!(lease_role["metadata"]["namespace"], "ops");
    assert_eq!(
        lease_role["rules"],
        json!([
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "resourceNames": [name], "verbs": ["get", "patch"]},
        ]),
        "the Lease, by name, and nothing else"
    );
    // Users get read access through view and write access through edit/admin.
    let view = find(&objs, "ClusterRole", &format!("{name}-view"));
    assert_eq!(
        view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"],
        "true"
    );
    assert!(
        grants(view)
            .iter()
            .all(|(_, _, v)| ["get", "list", "watch"].contains(&v.as_str())),
        "view is read-only"
    );

    let d = deployment(&objs);
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], name);
    assert_eq!(
        pod["securityContext"],
        json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
               "seccompProfile": {"type": "RuntimeDefault"}})
    );
    let c = container(&objs);
    assert_eq!(c["image"], "appauth-operator:0.1.0", "tag = appVersion");
    assert_eq!(
        c["securityContext"],
        json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
               "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]},
               "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "metrics"})
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "metrics"})
    );
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    let lease_flag = format!("--leader-election-id={name}");
    assert_eq!(
        args(&objs),
        [
            "run",
            "--metrics-addr=0.0.0.0:8080",
            "--log-format=json",
            "--cluster-name=default",
            "--concurrency=16",
            "--resync-period=10m",
            "--request-timeout=10s",
            "--quota-backoff=60s",
            "--allow-adoption=true",
            "--lease-duration=15s",
            "--leader-elect=true",
            lease_flag.as_str(),
        ]
    );
    let env = &c["env"];
    assert!(
        env.as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "POD_NAMESPACE"
                && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"),
        "the Lease namespace comes from the pod's namespace: {env}"
    );
    // No default account configured: no credentials volume.
    assert!(
        !pod["volumes"].to_string().contains("credentials"),
        "no credentials volume without credentials.existingSecret"
    );
    let svc = find(&objs, "Service", &format!("{name}-metrics"));
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(
        svc["spec"]["selector"], d["spec"]["selector"]["matchLabels"],
        "the metrics Service selects the operator's pods"
    );
    // Every object carries the standard labels.
    for o in &objs {
        let labels = &o["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/name"], "appauth-operator", "{o}");
        assert_eq!(labels["app.kubernetes.io/instance"], "appauth", "{o}");
    }
}

#[test]
fn helm_template_single_namespace_uses_a_role_there() {
    let (_, values) = value_sets().remove(1);
    let objs = render("appauth", "ops", &values);
    assert_eq!(
        kinds(&objs),
        ["Deployment", "Role", "RoleBinding", "ServiceAccount"]
            .map(String::from)
            .into(),
        "no ClusterRole at all, no lease Role without leader election, no Service"
    );
    let role = find(&objs, "Role", "appauth-appauth-operator");
    assert_eq!(
        role["metadata"]["namespace"], "team-a",
        "the Role is in the watched namespace"
    );
    assert!(grants(role).contains(&grant("", "secrets", "list")));
    let binding = find(&objs, "RoleBinding", "appauth-appauth-operator");
    assert_eq!(binding["metadata"]["namespace"], "team-a");
    assert_eq!(
        binding["subjects"][0]["namespace"], "ops",
        "the ServiceAccount stays in ops"
    );
    let a = args(&objs);
    assert!(a.contains(&"--namespace=team-a".to_string()), "{a:?}");
    assert!(a.iter().all(|x| !x.starts_with("--leader-elect")), "{a:?}");
    assert_eq!(
        deployment(&objs)["spec"]["strategy"],
        json!({"type": "Recreate"}),
        "without leader election the old pod goes first"
    );
}

#[test]
fn helm_template_everything_enabled() {
    let objs = render("payments", "ops", &full_values());
    let name = "payments-appauth-operator";
    let d = deployment(&objs);
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["image"],
        format!(
            "registry.example.com/platform/appauth-operator@sha256:{}",
            "ab".repeat(32)
        )
    );
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "registry"}]));
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert_eq!(pod["topologySpreadConstraints"][0]["maxSkew"], 1);
    let tmpl = &d["spec"]["template"]["metadata"];
    assert_eq!(tmpl["labels"]["team"], "payments");
    assert_eq!(tmpl["annotations"]["example.com/team"], "payments");
    let a = args(&objs);
    let project_flag = format!("--project-id={PROJECT}");
    for want in [
        "--log-format=text",
        "--cluster-name=prod-eu",
        "--allow-adoption=false",
        "--concurrency=4",
        "--resync-period=1h30m",
        "--lease-duration=20s",
        "--leader-elect=true",
        "--leader-election-id=payments-operator",
        "--label-selector=team=payments",
        "--region=cn-north-4",
        project_flag.as_str(),
        "--endpoint=apig=https://apig.example.com",
        "--endpoint=iam=https://iam.example.com",
        "--rate-limit=apig=20/40",
        "--rate-limit=modelarts=10",
        "--error-code=ModelArts.6404=NotFound",
        "--credentials-dir=/etc/appauth-operator/credentials",
        "--modelarts-plaintext-flag=plaintext_enabled",
    ] {
        assert!(a.contains(&want.to_string()), "{want} in {a:?}");
    }
    let lease_role = find(&objs, "Role", &format!("{name}-leader-election"));
    assert_eq!(
        lease_role["rules"][1]["resourceNames"],
        json!(["payments-operator"])
    );
    // Credentials: the Secret as read-only files, readable by the non-root group.
    let c = &pod["containers"][0];
    assert!(
        c["volumeMounts"].as_array().unwrap().contains(&json!(
            {"name": "credentials", "mountPath": "/etc/appauth-operator/credentials", "readOnly": true}
        )),
        "{}",
        c["volumeMounts"]
    );
    assert!(
        pod["volumes"].as_array().unwrap().contains(&json!(
            {"name": "credentials", "secret": {"secretName": "hwcloud-account", "defaultMode": 0o440}}
        )),
        "{}",
        pod["volumes"]
    );
    assert!(
        c["env"].as_array().unwrap().iter().all(|e| !e["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with("HWCLOUD_")),
        "credentials are files, never env"
    );
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "RUST_LOG", "value": "debug"}))
    );
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "TZ", "value": "UTC"}))
    );
    // ServiceMonitor scrapes the metrics Service's named port.
    let svc = find(&objs, "Service", &format!("{name}-metrics"));
    let sm = find(&objs, "ServiceMonitor", name);
    assert_eq!(sm["metadata"]["labels"]["release"], "prometheus");
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            &svc["metadata"]["labels"][k], v,
            "ServiceMonitor selects the Service by {k}"
        );
    }
    assert_eq!(
        sm["spec"]["endpoints"][0]["port"],
        svc["spec"]["ports"][0]["name"]
    );
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(
        sm["spec"]["namespaceSelector"]["matchNames"],
        json!(["ops"])
    );
    let pdb = find(&objs, "PodDisruptionBudget", name);
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        d["spec"]["selector"]["matchLabels"]
    );
    let pdb_min = render(
        "payments",
        "ops",
        &json!({"replicaCount": 3, "podDisruptionBudget": {"enabled": true, "minAvailable": "50%"}}),
    );
    let pdb_min = find(&pdb_min, "PodDisruptionBudget", name);
    assert_eq!(
        pdb_min["spec"],
        json!({"minAvailable": "50%",
        "selector": {"matchLabels": {"app.kubernetes.io/name": "appauth-operator",
                                     "app.kubernetes.io/instance": "payments"}}})
    );
}

#[test]
fn helm_template_refuses_bad_values() {
    for (values, expect) in [
        (
            json!({"replicaCount": 2, "leaderElection": {"enabled": false}}),
            "needs leaderElection.enabled",
        ),
        (
            json!({"serviceMonitor": {"enabled": true}, "metrics": {"service": {"enabled": false}}}),
            "needs metrics.service.enabled",
        ),
        (json!({"cloud": {"region": "CN North"}}), "/cloud/region"),
        (
            json!({"cloud": {"endpoints": {"obs": "https://obs.example.com"}}}),
            "/cloud/endpoints",
        ),
        (
            json!({"cloud": {"rateLimits": {"apig": "fast"}}}),
            "/cloud/rateLimits",
        ),
        (
            json!({"cloud": {"errorCodes": {"X.1": "Gone"}}}),
            "/cloud/errorCodes",
        ),
        (json!({"resyncPeriod": "ten minutes"}), "/resyncPeriod"),
        (json!({"logging": {"format": "xml"}}), "/logging/format"),
        (json!({"watchNamespace": "Team_A"}), "/watchNamespace"),
        (
            json!({"credentials": {"existingSecret": "Bad Name"}}),
            "/credentials/existingSecret",
        ),
        (json!({"replicas": 2}), "additional properties 'replicas'"),
        (json!({"extraArgs": ["run"]}), "/extraArgs"),
        (
            json!({"serviceAccount": {"create": false}}),
            "serviceAccount.name is required",
        ),
    ] {
        let err = template("appauth", "ops", &values, &[])
            .err()
            .unwrap_or_else(|| panic!("helm template accepted {values}"));
        assert!(
            err.contains(expect),
            "{values}: expected {expect:?} in: {err}"
        );
    }
}

/// The binary's own parser accepts every flag each value set renders (clap validates the names
/// and typed values of everything before a trailing --help).
#[test]
fn rendered_args_parse() {
    for (name, values) in value_sets() {
        let objs = render("appauth", "ops", &values);
        let out = run(
            Command::new(env!("CARGO_BIN_EXE_appauth-operator"))
                .args(args(&objs))
                .arg("--help")
                .env_remove("APPAUTH_FAILPOINT"),
            None,
        );
        assert!(
            out.ok,
            "{name}: the binary rejects the chart's args:\n{}",
            out.stderr
        );
    }
}

/// The image recipe, which this suite cannot build (no container engine here): two stages, a
/// static musl binary checked for static linking, a distroless (or scratch) base, non-root.
#[test]
fn dockerfile_builds_a_static_binary_onto_a_minimal_non_root_base() {
    let text = std::fs::read_to_string(root().join("deploy/Dockerfile")).expect("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and a run stage: {froms:?}");
    assert!(froms[0].ends_with(" AS build"), "{}", froms[0]);
    assert!(
        froms[1].contains("distroless/static") || froms[1] == "FROM scratch",
        "minimal static base: {}",
        froms[1]
    );
    assert!(text.contains("x86_64-unknown-linux-musl"), "musl target");
    assert!(
        text.contains("cargo build --release --locked"),
        "locked release build"
    );
    assert!(
        text.contains("program interpreter") && text.contains("NEEDED"),
        "static check"
    );
    let run_stage = &text[text.rfind("\nFROM ").expect("run stage")..];
    assert!(
        run_stage.contains("COPY --from=build"),
        "only the binary is copied"
    );
    assert!(
        run_stage.contains("USER 65532:65532"),
        "non-root, matching the chart's runAsUser"
    );
    assert!(run_stage.contains("ENTRYPOINT [\"/usr/local/bin/appauth-operator\"]"));
    // Nothing in the dependency tree links OpenSSL (TLS is rustls).
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("Cargo.lock");
    for native in ["openssl-sys", "native-tls", "aws-lc-sys"] {
        assert!(
            !lock.contains(&format!("name = \"{native}\"")),
            "{native} in Cargo.lock: the static musl image needs a pure-Rust TLS stack"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// kustomize base

fn kustomize(dir: &Path) -> Vec<Value> {
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
        let got = base
            .get(key)
            .unwrap_or_else(|| panic!("deploy/base lacks {key} (the chart has it)"));
        assert!(
            got == want,
            "deploy/base differs from the chart for {key} at {}; re-render it with \
             `helm template appauth-operator charts/appauth-operator -n appauth-system \
             --set credentials.existingSecret=appauth-operator-credentials`",
            first_difference(got, want, "").unwrap_or_default()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Against the apiserver

/// `kubectl apply --server-side --dry-run=server`; returns stderr (warnings) on success.
fn dry_run_apply(objects: &[Value], what: &str) -> String {
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
async fn restricted_namespace(client: &Client, test: &str) -> String {
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
        // The ServiceMonitor kind needs prometheus-operator's CRDs, which this cluster lacks;
        // helm_template_everything_enabled checks its content.
        let (monitors, objs): (Vec<Value>, Vec<Value>) = objs
            .into_iter()
            .partition(|o| o["kind"] == "ServiceMonitor");
        assert_eq!(monitors.len(), usize::from(name == "full"));
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

// ---------------------------------------------------------------------------------------------
// RBAC proven: the operator as the chart's ServiceAccount

/// Cluster-scoped objects a test applied, deleted when it ends (namespaced ones go with the
/// namespace).
struct ClusterScoped(Vec<(String, String)>);

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
async fn service_account_kubeconfig(
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

async fn client_from(path: &Path) -> Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

/// The chart's container, run as a local process: its args and env as rendered, except the
/// metrics address (a free loopback port) and the credentials directory (where the test wrote
/// the Secret's files, as the kubelet would have).
struct ChartOperator {
    child: Child,
    log: PathBuf,
}

impl ChartOperator {
    fn start(
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

    fn logs(&self) -> String {
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
fn refusal(line: &str) -> bool {
    line.to_ascii_lowercase().contains("forbidden")
        || line.contains("status_code\":403")
        || line.contains("status_code=403")
        || line.contains("code: 403")
        || line.contains("\"code\":403")
}

/// Installs the chart's ServiceAccount and RBAC (as the admin who installs a chart would), runs
/// the chart's operator as that ServiceAccount with the default account in files from a
/// Secret, and goes through the GatewayApp lifecycle.
async fn lifecycle_with_chart_rbac(test: &str, single_namespace: bool) {
    let admin = cluster::client().await;
    let ns = cluster::namespace(&admin, test).await;
    let sim = Sim::start();
    let sim_url = sim.url();
    // A unique full name: the ClusterRole and its binding are cluster-scoped.
    let fullname = format!("op-{ns}");
    let mut values = json!({
        "fullnameOverride": fullname,
        "credentials": {"existingSecret": "hwcloud-account"},
        "cloud": {"endpoints": {}},
        "rbac": {"aggregateToDefaultRoles": false},
        "resyncPeriod": "30s",
        "leaderElection": {"leaseDuration": "5s"},
    });
    for service in ["iam", "apig", "modelarts", "dataarts", "roma"] {
        values["cloud"]["endpoints"][service] = json!(sim_url);
    }
    if single_namespace {
        values["watchNamespace"] = json!(ns);
    } else {
        // Cluster-wide RBAC, but scoped to this test's namespace like every test operator.
        values["extraArgs"] = json!([format!("--namespace={ns}")]);
    }
    let objs = render("rbac", &ns, &values);

    // What a chart install creates for the identity: ServiceAccount, roles, bindings.
    let identity: Vec<Value> = objs
        .iter()
        .filter(|o| {
            [
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
            ]
            .contains(&o["kind"].as_str().unwrap_or_default())
        })
        .cloned()
        .collect();
    let expected_kinds: BTreeSet<String> = if single_namespace {
        ["Role", "RoleBinding", "ServiceAccount"]
            .map(String::from)
            .into()
    } else {
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "ServiceAccount",
        ]
        .map(String::from)
        .into()
    };
    assert_eq!(kinds(&identity), expected_kinds);
    let _cleanup = ClusterScoped(
        identity
            .iter()
            .filter(|o| {
                o["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("Cluster")
            })
            .map(|o| {
                (
                    o["kind"].as_str().unwrap().to_string(),
                    o["metadata"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect(),
    );
    let out = run(
        kubectl().args(["apply", "--server-side", "--field-manager=helm", "-f", "-"]),
        Some(&to_yaml(&identity)),
    );
    assert!(out.ok, "installing the chart's RBAC: {}", out.stderr);

    // The default account: a Secret, delivered as files (one per key, as the kubelet does).
    let account: Secret = serde_json::from_value(json!({
        "metadata": {"name": "hwcloud-account"},
        "stringData": {"accessKey": AK, "secretKey": SK, "region": REGION, "projectId": PROJECT},
    }))
    .expect("Secret");
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    secrets
        .create(&PostParams::default(), &account)
        .await
        .expect("credentials Secret");
    let mounted = secrets.get("hwcloud-account").await.expect("read back");
    let dir = scratch(&ns).join("credentials");
    std::fs::create_dir_all(&dir).expect("credentials dir");
    for (key, value) in mounted.data.expect("data") {
        let file = dir.join(&key);
        std::fs::write(&file, &value.0).expect("credential file");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o440)).expect("mode");
    }

    let sa_name = deployment(&objs)["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .expect("serviceAccountName")
        .to_string();
    let kubeconfig = service_account_kubeconfig(&admin, &ns, &sa_name).await;

    // The identity really is the ServiceAccount: it cannot do what the chart does not grant.
    let sa = client_from(&kubeconfig).await;
    let denied = Api::<Namespace>::all(sa.clone())
        .list(&ListParams::default())
        .await
        .expect_err("the ServiceAccount cannot list namespaces");
    assert!(
        matches!(&denied, kube::Error::Api(e) if e.code == 403),
        "{denied}"
    );
    let other_ns_secrets = Api::<Secret>::namespaced(sa.clone(), "default")
        .list(&ListParams::default())
        .await;
    if single_namespace {
        assert!(
            matches!(&other_ns_secrets, Err(kube::Error::Api(e)) if e.code == 403),
            "single-namespace install: no Secrets outside {ns}: {other_ns_secrets:?}"
        );
    } else {
        assert!(
            other_ns_secrets.is_ok(),
            "cluster-wide install reads Secrets everywhere (documented): {other_ns_secrets:?}"
        );
    }

    // The authorizer sees new roles through its informers: wait until the grants are in effect,
    // so that a refusal in the operator's log can only mean a missing rule.
    let lease_name = fullname.clone();
    wait::until(T, "the chart's RBAC in effect", || async {
        let apps = Api::<GatewayApp>::namespaced(sa.clone(), &ns)
            .list(&ListParams::default())
            .await;
        let secrets = Api::<Secret>::namespaced(sa.clone(), &ns)
            .list(&ListParams::default())
            .await;
        let lease = Api::<Lease>::namespaced(sa.clone(), &ns)
            .get_opt(&lease_name)
            .await;
        (apps.is_ok() && secrets.is_ok() && lease.is_ok()).then_some(())
    })
    .await;

    let op = ChartOperator::start(&objs, &ns, &kubeconfig, &dir);
    let apps = Ns {
        client: admin.clone(),
        name: ns.clone(),
    };
    apps.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "description": "chart rbac"}),
    )
    .await;
    let app = wait::until(Duration::from_secs(60), "app Ready", || async {
        let app = apps.get("app").await?;
        let st = app.status.as_ref()?;
        let ready = st
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        (ready && st.observed_generation == app.metadata.generation).then_some(app)
    })
    .await;
    let st = app.status.clone().expect("status");
    assert_eq!(st.service.as_deref(), Some("apig"));
    let id = st.app_id.clone().expect("appId");
    let secret_name = st.secret_name.clone().expect("secretName");
    let secret = apps.secret(&secret_name).await.expect("credential Secret");
    let key = Ns::value(&secret, "app_key").expect("app_key");
    let value = Ns::value(&secret, "app_secret").expect("app_secret");
    assert!(
        credentials_work(&sim_url, &key, &value).await,
        "the delivered credentials work"
    );
    assert_eq!(sim.apps("apig").len(), 1, "exactly one cloud app");
    wait::until(T, "the app id mirrored into an annotation", || async {
        let app = apps.get("app").await?;
        (app.metadata.annotations?.get("appauth.hwcloud.dev/app-id") == Some(&id)).then_some(())
    })
    .await;
    let cloud = sim.app(&id).expect("cloud app");
    assert_eq!(
        cloud["project"], PROJECT,
        "project id read from the mounted file"
    );

    // Events were written under the chart's permissions.
    let events = Api::<Event>::namespaced(admin.clone(), &ns);
    wait::until(T, "an Event about the app", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("app")
                    && e.reporting_controller.as_deref() == Some("appauth-operator")
            })
            .then_some(())
    })
    .await;
    {
        // Leader election ran with the chart's Lease Role.
        let lease = Api::<Lease>::namespaced(admin.clone(), &ns)
            .get(&fullname)
            .await
            .expect("the Lease named by the chart");
        assert!(
            lease
                .spec
                .and_then(|s| s.holder_identity)
                .is_some_and(|h| !h.is_empty()),
            "the operator holds the Lease"
        );
    }

    // The InferenceApi controller runs in the same process under the same permissions: an API
    // authorized to a ModelArts app, with its connection Secret, created and deleted.
    apps.create("caller", json!({"modelarts": {}})).await;
    let inference: Api<InferenceApi> = Api::namespaced(admin.clone(), &ns);
    let api_obj: InferenceApi = serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "InferenceApi",
        "metadata": {"name": "api"},
        "spec": {"serviceId": "ae20fc9f-b37c-48c2-8ebc-3f3a638c9f48",
                 "appRefs": [{"name": "caller"}], "secret": {"name": "api-endpoint"}},
    }))
    .expect("InferenceApi");
    inference
        .create(&PostParams::default(), &api_obj)
        .await
        .expect("create the InferenceApi");
    let ready_api = wait::until(Duration::from_secs(60), "InferenceApi Ready", || async {
        let a = inference.get_opt("api").await.ok().flatten()?;
        let st = a.status.as_ref()?;
        let ready = st
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        (ready && st.observed_generation == a.metadata.generation).then_some(a)
    })
    .await;
    let api_status = ready_api.status.expect("status");
    assert_eq!(
        api_status
            .authorized_apps
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        vec!["caller"]
    );
    assert!(
        apps.secret("api-endpoint").await.is_some(),
        "connection Secret"
    );
    inference
        .delete("api", &Default::default())
        .await
        .expect("delete the InferenceApi");
    wait::until(T, "InferenceApi deleted", || async {
        inference
            .get_opt("api")
            .await
            .ok()
            .and_then(|a| a.is_none().then_some(()))
    })
    .await;
    apps.delete("caller").await;
    apps.wait_gone("caller", T).await;

    apps.delete("app").await;
    apps.wait_gone("app", T).await;
    assert!(sim.apps("apig").is_empty(), "cloud app deleted");
    wait::until(
        Duration::from_secs(90),
        "Secret garbage-collected",
        || async { apps.secret(&secret_name).await.is_none().then_some(()) },
    )
    .await;

    let logs = op.logs();
    let refused: Vec<&str> = logs.lines().filter(|l| refusal(l)).collect();
    assert!(
        refused.is_empty(),
        "the operator was refused something under the chart's RBAC:\n{}",
        refused.join("\n")
    );
    assert!(
        logs.contains("became leader"),
        "leader election ran:\n{logs}"
    );
    // Passed: the token kubeconfig and the credential files go (the log stays on failure).
    drop(op);
    let _ = std::fs::remove_dir_all(scratch(&ns));
}

#[tokio::test]
async fn operator_passes_lifecycle_with_exactly_the_chart_rbac_cluster_wide() {
    lifecycle_with_chart_rbac("chart-rbac-cluster", false).await;
}

#[tokio::test]
async fn operator_passes_lifecycle_with_exactly_the_chart_rbac_single_namespace() {
    lifecycle_with_chart_rbac("chart-rbac-ns", true).await;
}
