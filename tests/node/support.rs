//! What the node tests share: the node and images `cargo xtask test` provides, a simulator
//! serving HTTPS with a private CA on the node's bridge address, and one chart release at a
//! time (`Release`), installed with helm into a namespace that enforces the restricted Pod
//! Security level.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use appauth_operator::api::GatewayApp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::common::objects::Ns;
use crate::common::operator::{AK, PROJECT, REGION, SK};
use crate::common::tls::PrivateCa;
use crate::common::{cluster, wait};

/// The name Pods give the simulator; `hostAliases` maps it to the bridge address, so the
/// image's resolver is exercised.
pub const SIM_HOST: &str = "hwcloud-sim.appauth.test";
pub const LEASE_SECS: u64 = 15;

/// One node test at a time: each installs the operator's Pods on the same 2-core node.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the node tests need a real node and the images, which \
             `cargo xtask test` builds and starts (or `cargo xtask up --node`, whose output \
             names the variables)"
        )
    })
}

/// The node's bridge address, where Pods reach the host.
pub fn node_ip() -> String {
    env("APPAUTH_TEST_NODE_IP")
}

/// The operator image, and a second tag of it (an upgrade's "new" image).
pub fn operator_image() -> (String, String) {
    split_image(&env("APPAUTH_TEST_OPERATOR_IMAGE"))
}

pub fn next_operator_image() -> (String, String) {
    split_image(&env("APPAUTH_TEST_OPERATOR_IMAGE_NEXT"))
}

pub fn simulator_image() -> (String, String) {
    split_image(&env("APPAUTH_TEST_SIMULATOR_IMAGE"))
}

fn split_image(image: &str) -> (String, String) {
    let (repo, tag) = image
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("image {image} has no tag"));
    (repo.to_string(), tag.to_string())
}

fn tool(name: &str) -> PathBuf {
    let path = Path::new(&env("APPAUTH_TESTBIN")).join(name);
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

/// `helm` or `kubectl` against the test control plane.
pub fn cli(name: &str) -> Command {
    let mut cmd = Command::new(tool(name));
    cmd.env("KUBECONFIG", env(cluster::KUBECONFIG_ENV));
    cmd
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("appauth-node-test-{}/{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Runs a command; panics with its output unless it succeeds. Returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The simulator on the bridge address over HTTPS, and the URL Pods use (by host name).
pub struct NodeSim {
    pub sim: hwcloud_sim::Handle,
    /// The CA's certificate, PEM: what the operator is told to trust.
    pub ca: String,
    pub port: u16,
}

impl NodeSim {
    pub fn start(test: &str) -> NodeSim {
        let ca = PrivateCa::generate(&format!("node-{test}"), &[SIM_HOST]);
        let addr = format!("{}:0", node_ip()).parse().expect("bridge address");
        let sim = hwcloud_sim::spawn_tls(hwcloud_sim::Config::default(), addr, ca.server_tls())
            .expect("simulator on the bridge address");
        // ModelArts' quota of five apps per project would stop a burst spread over the services.
        sim.set_config(json!({"modelarts_quota": 1_000_000}))
            .expect("simulator quota");
        let port = sim.addr().port();
        let ca = std::fs::read_to_string(&ca.ca_cert).expect("CA certificate");
        NodeSim { sim, ca, port }
    }

    /// The URL the operator's Pods use: the host name, resolved from the Pod's /etc/hosts.
    pub fn pod_url(&self) -> String {
        format!("https://{SIM_HOST}:{}", self.port)
    }

    pub fn apps(&self) -> Vec<Value> {
        let state = serde_json::to_value(self.sim.state()).expect("state as JSON");
        state["apps"].as_array().cloned().unwrap_or_default()
    }

    /// A client that trusts the private CA and resolves `SIM_HOST` to the bridge address.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.as_bytes()).expect("CA"))
            .resolve(
                SIM_HOST,
                format!("{}:{}", node_ip(), self.port)
                    .parse()
                    .expect("addr"),
            )
            .build()
            .expect("client")
    }

    /// The delivered app key and secret sign a request the simulator's gateway accepts.
    pub async fn credentials_work(&self, key: &str, secret: &str) -> bool {
        crate::common::sim::credentials_work_with(&self.client(), &self.pod_url(), key, secret)
            .await
    }
}

/// One chart release: the operator in `system` (restricted Pod Security), watching `work`.
pub struct Release {
    pub name: String,
    pub system: String,
    pub work: Ns,
    values: PathBuf,
}

async fn create_namespace(client: &Client, name: &str, labels: Value) {
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels}
    }))
    .expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
}

impl Release {
    /// Installs the chart with the built image: `replicas` Pods, the simulator's CA and the
    /// credentials (as files from a Secret), `extra` values merged over those.
    pub async fn install(test: &str, sim: &NodeSim, replicas: u32, extra: Value) -> Release {
        let endpoints: serde_json::Map<String, Value> =
            ["iam", "apig", "modelarts", "dataarts", "roma"]
                .iter()
                .map(|s| (s.to_string(), json!(sim.pod_url())))
                .collect();
        let mut values = json!({
            "replicaCount": replicas,
            "cloud": {
                "region": REGION,
                "projectId": PROJECT,
                "endpoints": endpoints,
                "caBundle": {"configMapName": "sim-ca", "key": "ca.crt"},
            },
            "credentials": {"existingSecret": "hwcloud-credentials"},
            "hostAliases": [{"ip": node_ip(), "hostnames": [SIM_HOST]}],
        });
        merge(&mut values, extra);
        let ca = sim.ca.clone();
        Self::install_with(test, values, move |client, system| async move {
            let cm: ConfigMap = serde_json::from_value(json!({
                "metadata": {"name": "sim-ca"}, "data": {"ca.crt": ca}
            }))
            .expect("configmap");
            Api::<ConfigMap>::namespaced(client.clone(), &system)
                .create(&PostParams::default(), &cm)
                .await
                .expect("CA ConfigMap");
            let creds: Secret = serde_json::from_value(json!({
                "metadata": {"name": "hwcloud-credentials"},
                "stringData": {"accessKey": AK, "secretKey": SK, "region": REGION, "projectId": PROJECT}
            }))
            .expect("secret");
            Api::<Secret>::namespaced(client, &system)
                .create(&PostParams::default(), &creds)
                .await
                .expect("credentials Secret");
        })
        .await
    }

    /// Installs the chart with the built image and `values` over this suite's defaults, after
    /// `prepare` ran in the operator's (restricted) namespace.
    pub async fn install_with<F, Fut>(test: &str, values: Value, prepare: F) -> Release
    where
        F: FnOnce(Client, String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let name = format!("op-{}", test.replace('_', "-"));
        uninstall_leftover(&name);
        let client = cluster::client().await;
        let work = cluster::namespace(&client, test).await;
        let system = format!("{work}-sys");
        create_namespace(
            &client,
            &system,
            json!({
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            }),
        )
        .await;
        prepare(client.clone(), system.clone()).await;
        let (repository, tag) = operator_image();
        let mut all = json!({
            "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
            "watchNamespace": work,
            // Only this test's policies (none): other suites' policies must not govern it.
            "policySelector": format!("appauth.test/namespace={work}"),
            "admission": {"grantsName": format!("grants-{work}")},
            "clusterName": "node-test",
            "leaderElection": {"enabled": true, "leaseDuration": format!("{LEASE_SECS}s")},
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
            "readinessProbe": {"initialDelaySeconds": 1, "periodSeconds": 2},
        });
        merge(&mut all, values);
        let path = scratch(test).join("values.json");
        std::fs::write(&path, all.to_string()).expect("values file");
        let release = Release {
            name,
            system,
            work: Ns { client, name: work },
            values: path,
        };
        release.helm(&["install"], &[]);
        release
    }

    fn chart() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("charts/appauth-operator")
    }

    /// `helm <verb> NAME CHART -n SYSTEM -f VALUES --wait` plus `extra` arguments.
    pub fn helm(&self, verb: &[&str], extra: &[&str]) -> String {
        run(cli("helm")
            .args(verb)
            .arg(&self.name)
            .arg(Self::chart())
            .args(["-n", &self.system, "-f"])
            .arg(&self.values)
            .args(["--wait", "--timeout", "180s"])
            .args(extra))
    }

    pub fn uninstall(&self) -> String {
        run(cli("helm").args([
            "uninstall",
            &self.name,
            "-n",
            &self.system,
            "--wait",
            "--timeout",
            "120s",
        ]))
    }

    pub fn pods_api(&self) -> Api<Pod> {
        Api::namespaced(self.work.client.clone(), &self.system)
    }

    /// The operator's Pods that are not being deleted.
    pub async fn pods(&self) -> Vec<Pod> {
        self.pods_api()
            .list(&ListParams::default().labels("app.kubernetes.io/name=appauth-operator"))
            .await
            .expect("pods")
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect()
    }

    pub async fn ready_pods(&self) -> Vec<Pod> {
        self.pods().await.into_iter().filter(pod_ready).collect()
    }

    pub async fn wait_ready_pods(&self, count: usize, timeout: Duration) -> Vec<Pod> {
        wait::until(timeout, &format!("{count} Ready operator Pods"), || async {
            let pods = self.ready_pods().await;
            (pods.len() == count).then_some(pods)
        })
        .await
    }

    /// The Lease holder's Pod name (the identity is the Pod's host name and a process id).
    pub async fn leader(&self) -> Option<String> {
        let leases: Api<Lease> = Api::namespaced(self.work.client.clone(), &self.system);
        let list = leases.list(&ListParams::default()).await.ok()?;
        let holder = list
            .items
            .into_iter()
            .find_map(|l| l.spec?.holder_identity)
            .filter(|h| !h.is_empty())?;
        let pods = self.pods().await;
        pods.into_iter()
            .filter_map(|p| p.metadata.name)
            .find(|name| holder.starts_with(name.as_str()))
    }

    pub async fn delete_pod(&self, name: &str) {
        self.pods_api()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("deleting pod {name}: {e}"));
    }

    /// Removes what the test left: the objects' finalizers (the operator may be gone), both
    /// namespaces and the release.
    pub async fn cleanup(&self) {
        let apps: Api<GatewayApp> = self.work.apps();
        if let Ok(list) = apps.list(&ListParams::default()).await {
            for app in list.items {
                let name = app.metadata.name.unwrap_or_default();
                let _ = apps
                    .patch(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                    )
                    .await;
            }
        }
        let _ = cli("helm")
            .args([
                "uninstall",
                &self.name,
                "-n",
                &self.system,
                "--ignore-not-found",
            ])
            .output();
        let namespaces: Api<Namespace> = Api::all(self.work.client.clone());
        for ns in [&self.work.name, &self.system] {
            let _ = namespaces.delete(ns, &DeleteParams::default()).await;
        }
    }
}

/// A release of this name that an earlier, failed run left installed (its cluster-scoped
/// objects would block the install).
fn uninstall_leftover(name: &str) {
    let list =
        run(cli("helm").args(["list", "-A", "-o", "json", "--filter", &format!("^{name}$")]));
    let releases: Vec<Value> = serde_json::from_str(&list).unwrap_or_default();
    for release in releases {
        if let Some(namespace) = release["namespace"].as_str() {
            run(cli("helm").args(["uninstall", name, "-n", namespace, "--wait"]));
        }
    }
}

pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Creates `count` GatewayApps spread over the four services, without waiting.
pub async fn burst(ns: &Ns, prefix: &str, count: usize) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        ns.create(name, crate::common::objects::spread_spec(i))
            .await;
    }
    names
}

pub fn is_ready(app: &GatewayApp) -> bool {
    Ns::ready(app).is_some_and(|(status, _)| status == "True")
}

/// How many GatewayApps of the namespace are Ready.
pub async fn ready_count(ns: &Ns) -> usize {
    ns.apps()
        .list(&ListParams::default())
        .await
        .map(|l| l.items.iter().filter(|a| is_ready(a)).count())
        .unwrap_or(0)
}

/// Every object of the burst Ready with its own app, and the cloud holding exactly those apps:
/// one app per object, none leaked.
pub async fn assert_one_app_per_object(ns: &Ns, sim: &NodeSim, names: &[String]) {
    let ready = wait::until(
        Duration::from_secs(300),
        &format!("all {} GatewayApps Ready", names.len()),
        || async {
            let list = ns.apps().list(&ListParams::default()).await.ok()?;
            let ids: Vec<String> = list
                .items
                .iter()
                .filter(|a| is_ready(a))
                .filter_map(|a| a.status.as_ref()?.app_id.clone())
                .collect();
            (ids.len() == names.len()).then_some(ids)
        },
    )
    .await;
    let mut unique = ready.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "one app id per object");
    let mut cloud: Vec<String> = sim
        .apps()
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_string))
        .collect();
    cloud.sort();
    assert_eq!(
        cloud, unique,
        "the cloud holds exactly the objects' apps: no duplicate, none leaked"
    );
}
