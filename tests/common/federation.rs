//! Keyless set-ups: ServiceAccounts and their TokenRequest tokens on the real apiserver, the
//! apiserver's issuer and keys, and the simulator's identity providers and exchange records.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use super::sim::Sim;

pub async fn get_json(client: &Client, path: &str) -> Value {
    let req = http::Request::get(path).body(Vec::new()).expect("request");
    client
        .request::<Value>(req)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// The apiserver's service-account issuer and its keys (JWKS).
pub async fn issuer_and_keys(client: &Client) -> (String, Value) {
    let discovery = get_json(client, "/.well-known/openid-configuration").await;
    let issuer = discovery["issuer"].as_str().expect("issuer").to_string();
    (issuer, get_json(client, "/openid/v1/jwks").await)
}

pub async fn service_account(client: &Client, ns: &str, name: &str) {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("sa");
    sas.create(&PostParams::default(), &sa)
        .await
        .unwrap_or_else(|e| panic!("ServiceAccount {ns}/{name}: {e}"));
}

/// A TokenRequest token for `ns/name` with `audience`.
pub async fn token(client: &Client, ns: &str, name: &str, audience: &str) -> String {
    request_token(
        client,
        ns,
        name,
        json!({"audiences": [audience], "expirationSeconds": 600}),
    )
    .await
}

/// A token for `ns/name` valid at the apiserver itself (its default audience), to read the
/// issuer's keys with.
pub async fn apiserver_token(client: &Client, ns: &str, name: &str) -> String {
    request_token(client, ns, name, json!({"expirationSeconds": 600})).await
}

async fn request_token(client: &Client, ns: &str, name: &str, spec: Value) -> String {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let request: TokenRequest =
        serde_json::from_value(json!({ "spec": spec })).expect("token request");
    sas.create_token_request(name, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("token for {ns}/{name}: {e}"))
        .status
        .and_then(|s| s.token)
        .expect("a token")
}

/// The test control plane's CA certificate (PEM), from the kubeconfig, written to `path`.
pub fn write_cluster_ca(path: &Path) {
    let kubeconfig = std::env::var(super::cluster::KUBECONFIG_ENV).expect("kubeconfig");
    let config = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
    let cluster = config
        .clusters
        .first()
        .and_then(|c| c.cluster.clone())
        .expect("cluster");
    let pem = match (
        cluster.certificate_authority_data,
        cluster.certificate_authority,
    ) {
        (Some(data), _) => base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("CA data"),
        (None, Some(file)) => std::fs::read(file).expect("CA file"),
        _ => panic!("the kubeconfig names no CA"),
    };
    std::fs::write(path, pem).expect("CA written");
}

/// A claim of a JWT (not verified).
pub fn claim(token: &str, name: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("json");
    claims[name].clone()
}

/// Sets an identity provider of the simulator (`PUT /_sim/identity-providers/{id}`).
pub async fn identity_provider(sim: &Sim, id: &str, provider: Value) {
    identity_provider_at(&reqwest::Client::new(), &sim.url(), id, provider).await
}

/// The same, for a simulator at `base` reached with `http`.
pub async fn identity_provider_at(http: &reqwest::Client, base: &str, id: &str, provider: Value) {
    let answer = http
        .put(format!("{base}/_sim/identity-providers/{id}"))
        .json(&provider)
        .send()
        .await
        .expect("simulator answers");
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "identity provider {id}: {status} {body}"
    );
}

/// The simulator's record of exchanges (ID token, Pod Identity, metadata), in order.
pub async fn exchanges(sim: &Sim) -> Vec<Value> {
    exchanges_at(&reqwest::Client::new(), &sim.url()).await
}

pub async fn exchanges_at(http: &reqwest::Client, base: &str) -> Vec<Value> {
    http.get(format!("{base}/_sim/federation/exchanges"))
        .send()
        .await
        .expect("simulator answers")
        .json::<Vec<Value>>()
        .await
        .expect("exchanges as JSON")
}

/// Keeps a ServiceAccount's token in a file, as the kubelet does for a projected token: a
/// fresh one every `period`. Remembers every token written (their `jti`s, and the tokens for
/// the secret scan).
pub struct TokenFile {
    pub path: PathBuf,
    pub written: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TokenFile {
    pub async fn start(
        client: &Client,
        ns: &str,
        sa: &str,
        audience: &str,
        dir: &Path,
        period: Duration,
    ) -> TokenFile {
        std::fs::create_dir_all(dir).expect("token dir");
        let path = dir.join("token");
        let written = Arc::new(Mutex::new(Vec::new()));
        let write = {
            let (client, ns, sa, audience, path, written) = (
                client.clone(),
                ns.to_string(),
                sa.to_string(),
                audience.to_string(),
                path.clone(),
                written.clone(),
            );
            move || {
                let (client, ns, sa, audience, path, written) = (
                    client.clone(),
                    ns.clone(),
                    sa.clone(),
                    audience.clone(),
                    path.clone(),
                    written.clone(),
                );
                async move {
                    let t = token(&client, &ns, &sa, &audience).await;
                    // Written whole and renamed into place, as the kubelet swaps its files.
                    let tmp = path.with_extension("tmp");
                    std::fs::write(&tmp, &t).expect("token written");
                    std::fs::rename(&tmp, &path).expect("token in place");
                    written.lock().expect("lock").push(t);
                }
            }
        };
        write().await;
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                write().await;
            }
        });
        TokenFile {
            path,
            written,
            task,
        }
    }

    pub fn jtis(&self) -> Vec<String> {
        self.written
            .lock()
            .expect("lock")
            .iter()
            .map(|t| claim(t, "jti").as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn tokens(&self) -> Vec<String> {
        self.written.lock().expect("lock").clone()
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        self.task.abort();
    }
}
