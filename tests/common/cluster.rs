//! Connection to the real local control plane that `cargo xtask test` starts.

use kube::{Client, Config, config::Kubeconfig};

pub const KUBECONFIG_ENV: &str = "APPAUTH_TEST_KUBECONFIG";

/// A client for the test control plane. Fails loudly (never skips) when there is none.
pub async fn client() -> Client {
    let path = std::env::var(KUBECONFIG_ENV).unwrap_or_else(|_| {
        panic!(
            "no control plane: {KUBECONFIG_ENV} is not set. Run the whole suite with `cargo xtask test`, \
             or start one with `cargo xtask up` and set {KUBECONFIG_ENV}=~/.cache/appauth-operator/cluster/kubeconfig"
        )
    });
    let kubeconfig = Kubeconfig::read_from(&path)
        .unwrap_or_else(|e| panic!("cannot read kubeconfig {path} ({KUBECONFIG_ENV}): {e}"));
    let config = Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("invalid kubeconfig {path}: {e}"));
    let client = Client::try_from(config).expect("client from kubeconfig");
    client.apiserver_version().await.unwrap_or_else(|e| {
        panic!("the control plane in {path} does not answer ({e}); start one with `cargo xtask up`")
    });
    client
}

/// A fresh namespace for one test, named after it. The process id tells runs (and binaries)
/// apart on a long-lived control plane; the sequence number, tests within one binary, where
/// every suite's tests share the process and two of them may pick the same name.
pub async fn namespace(client: &Client, test: &str) -> String {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Api, PostParams};
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!(
        "t-{}-{:x}-{seq}",
        test.replace('_', "-"),
        std::process::id() as u64 * 7919 % 0xfffff
    );
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
        .expect("namespace object");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    name
}

/// Makes sure a CRD the suite needs is installed and Established. `cargo xtask up` installs
/// every CRD in `crds/` when it starts the control plane; a control plane started before a kind
/// existed lacks it, and gets it here. A CRD already there is left as it is (other suites may
/// be using it).
pub async fn ensure_crd(
    client: &Client,
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, PostParams};
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.metadata.name.clone().expect("CRD name");
    match api.create(&PostParams::default(), crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("installing CRD {name}: {e}"),
    }
    super::wait::until(
        std::time::Duration::from_secs(30),
        &format!("CRD {name} Established"),
        || async {
            let crd = api.get(&name).await.ok()?;
            crd.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        },
    )
    .await;
}
