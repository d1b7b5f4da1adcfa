//! The apiserver's own limit for the writes a new app costs, and for everything a new app in a
//! burst costs it (the client's create and the Created Event besides those writes).

use std::time::{Duration, Instant};

use anyhow::Result;
use appauth_operator::api::GatewayApp;
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::bench::cluster::{create_all, gateway_app_labelled, namespace, watch_ready};

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
            async move { app_writes(&apps, &secrets, &n, writes).await }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let elapsed = started.elapsed();
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok((writes * objects) as f64 / elapsed.as_secs_f64())
}

/// The writes the operator makes for one new app: metadata patch, Secret apply, status apply,
/// and with `writes == 4` the app-id mirror.
async fn app_writes(
    apps: &Api<GatewayApp>,
    secrets: &Api<Secret>,
    n: &str,
    writes: usize,
) -> Result<(), kube::Error> {
    let pp = PatchParams::default();
    apps.patch(
        n,
        &pp,
        &Patch::Merge(json!({"metadata": {"annotations": {"bench/pending": "x"}}})),
    )
    .await?;
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": n}, "stringData": {"app_key": "k", "app_secret": "s", "app_id": "i"}});
    secrets
        .patch(
            n,
            &PatchParams::apply("bench").force(),
            &Patch::Apply(secret),
        )
        .await?;
    let status = json!({"apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp", "status": {"appId": "i", "observedGeneration": 1}});
    apps.patch_status(
        n,
        &PatchParams::apply("bench").force(),
        &Patch::Apply(status),
    )
    .await?;
    if writes == 4 {
        apps.patch(
            n,
            &pp,
            &Patch::Merge(json!({"metadata": {"annotations": {"bench/app-id": "i"}}})),
        )
        .await?;
    }
    Ok(())
}

/// Apps/s the apiserver can make when each costs what a new app in a burst costs it: the
/// client's create, the operator's writes, and the Created Event (events.k8s.io, as kube-runtime's
/// recorder writes it). Twice `concurrency` in flight: in a burst the creating client and the
/// operator each keep `concurrency` requests in flight.
pub async fn raw_mix_limit(
    client: &Client,
    ns: &str,
    objects: usize,
    concurrency: usize,
    writes: usize,
) -> Result<f64> {
    namespace(client, ns).await?;
    let apps: Api<GatewayApp> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let _observer = watch_ready(apps.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let results = stream::iter(0..objects)
        .map(|i| {
            let (apps, secrets, events) = (apps.clone(), secrets.clone(), events.clone());
            async move {
                let n = format!("app-{i}");
                let app = gateway_app_labelled(&n, json!({}))?;
                let made = apps.create(&PostParams::default(), &app).await?;
                app_writes(&apps, &secrets, &n, writes).await?;
                let now = k8s_openapi::jiff::Timestamp::now();
                let event: Event = serde_json::from_value(json!({
                    "metadata": {"name": format!("{n}.created")},
                    "eventTime": now.to_string(),
                    "type": "Normal", "reason": "Created", "action": "Create",
                    "note": "created the cloud app",
                    "reportingController": "bench", "reportingInstance": "bench",
                    "regarding": {"apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
                        "name": n, "namespace": ns, "uid": made.metadata.uid},
                }))?;
                events.create(&PostParams::default(), &event).await?;
                Ok::<(), anyhow::Error>(())
            }
        })
        .buffer_unordered(2 * concurrency)
        .collect::<Vec<_>>()
        .await;
    let elapsed = started.elapsed();
    results.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(objects as f64 / elapsed.as_secs_f64())
}
