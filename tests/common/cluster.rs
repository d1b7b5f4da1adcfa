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
