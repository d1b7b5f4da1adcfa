//! The apiserver's own limit for the writes a new app costs.

use std::time::{Duration, Instant};

use anyhow::Result;
use appauth_operator::api::GatewayApp;
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::bench::cluster::{create_all, namespace, watch_ready};

/// Raw writes/s: the same client stack, the same concurrency, the same four writes (metadata
/// patch, Secret apply, status apply, metadata patch; three without the app-id mirror), on
/// objects created beforehand.
pub async fn raw_limit(
    client: &Client,
    objects: usize,
    concurrency: usize,
    writes: usize,
) -> Result<f64> {
    let ns = "bench-raw";
    namespace(client, ns).await?;
    let apps: Api<GatewayApp> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let names: Vec<String> = (0..objects).map(|i| format!("app-{i}")).collect();
    create_all(&apps, objects, concurrency).await?;
    // The same observer as in the runs it is compared with: its watch costs the apiserver too.
    let _observer = watch_ready(apps.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let results = stream::iter(names)
        .map(|n| {
            let (apps, secrets) = (apps.clone(), secrets.clone());
            async move {
                let pp = PatchParams::default();
                apps.patch(&n, &pp, &Patch::Merge(json!({"metadata": {"annotations": {"bench/pending": "x"}}}))).await?;
                let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": n}, "stringData": {"app_key": "k", "app_secret": "s", "app_id": "i"}});
                secrets.patch(&n, &PatchParams::apply("bench").force(), &Patch::Apply(secret)).await?;
                let status = json!({"apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp", "status": {"appId": "i", "observedGeneration": 1}});
                apps.patch_status(&n, &PatchParams::apply("bench").force(), &Patch::Apply(status)).await?;
                if writes == 4 {
                    apps.patch(&n, &pp, &Patch::Merge(json!({"metadata": {"annotations": {"bench/app-id": "i"}}}))).await?;
                }
                Ok::<(), kube::Error>(())
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let elapsed = started.elapsed();
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok((writes * objects) as f64 / elapsed.as_secs_f64())
}
