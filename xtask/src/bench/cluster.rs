//! What the bench reads and writes over the network: the apiserver (objects, watch, /metrics),
//! the operator's /metrics and the simulator's counts.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use appauth_operator::api::GatewayApp;
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::runtime::WatchStreamExt;
use kube::{Client, Config, config::Kubeconfig};
use serde_json::json;

use super::prom::{self, Reconciles};

pub async fn client(kubeconfig: &Path) -> Result<Client> {
    let kc = Kubeconfig::read_from(kubeconfig)?;
    let mut config = Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    config.read_timeout = Some(Duration::from_secs(60));
    Ok(Client::try_from(config)?)
}

pub async fn namespace(client: &Client, name: &str) -> Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(())
}

pub fn gateway_app(name: &str) -> Result<GatewayApp> {
    gateway_app_labelled(name, json!({}))
}

pub fn gateway_app_labelled(name: &str, labels: serde_json::Value) -> Result<GatewayApp> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
        "metadata": {"name": name, "labels": labels}, "spec": {"apig": {"instanceId": "gw-bench"}},
    }))?)
}

/// Label key the split scenario shards objects by.
pub const SHARD_LABEL: &str = "bench.appauth.hwcloud.dev/shard";

/// Creates app-0 .. app-(n-1), `concurrency` at a time.
pub async fn create_all(apps: &Api<GatewayApp>, n: usize, concurrency: usize) -> Result<()> {
    create_sharded(apps, n, concurrency, 1).await
}

/// Creates app-0 .. app-(n-1), `concurrency` at a time; with more than one shard, app-i is
/// labelled with shard `i % shards` ([`SHARD_LABEL`]).
pub async fn create_sharded(
    apps: &Api<GatewayApp>,
    n: usize,
    concurrency: usize,
    shards: usize,
) -> Result<()> {
    stream::iter(0..n)
        .map(|i| {
            let apps = apps.clone();
            async move {
                let labels = if shards > 1 {
                    json!({SHARD_LABEL: (i % shards).to_string()})
                } else {
                    json!({})
                };
                let app = gateway_app_labelled(&format!("app-{i}"), labels)?;
                apps.create(&PostParams::default(), &app)
                    .await
                    .map(|_| ())
                    .map_err(anyhow::Error::from)
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    Ok(())
}

/// Counts Ready objects from a watch, so that measuring does not load the apiserver with
/// repeated lists of every object.
pub fn watch_ready(apps: Api<GatewayApp>) -> tokio::sync::watch::Receiver<usize> {
    let (tx, rx) = tokio::sync::watch::channel(0);
    tokio::spawn(async move {
        let mut ready = std::collections::HashSet::new();
        let events = kube::runtime::watcher(apps, kube::runtime::watcher::Config::default())
            .default_backoff()
            .applied_objects();
        let mut events = std::pin::pin!(events);
        // Watch errors are retried with backoff by the watcher; only the end of the stream ends it.
        while let Some(event) = events.next().await {
            let Ok(app) = event else { continue };
            let is_ready = app.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            });
            let name = app.metadata.name.clone().unwrap_or_default();
            let changed = if is_ready {
                ready.insert(name)
            } else {
                ready.remove(&name)
            };
            if changed && tx.send(ready.len()).is_err() {
                return;
            }
        }
    });
    rx
}

/// The apiserver's request counters so far ([`prom::request_counts`]).
pub async fn apiserver_writes(client: &Client) -> Result<BTreeMap<String, f64>> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(req).await?;
    Ok(prom::request_counts(&text))
}

/// The operator's GatewayApp reconcile counters so far, from its metrics address.
pub async fn reconciles(http: &reqwest::Client, metrics: &str) -> Result<Reconciles> {
    let text = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(prom::reconciles(&text))
}

/// The simulator's calls so far by "service.op".
pub async fn sim_counts(http: &reqwest::Client, sim: &str) -> Result<BTreeMap<String, u64>> {
    Ok(http
        .get(format!("{sim}/_sim/counts"))
        .send()
        .await?
        .json()
        .await?)
}
