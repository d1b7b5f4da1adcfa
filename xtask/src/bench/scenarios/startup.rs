//! Startup to the first reconcile with a free Lease.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use appauth_operator::api::GatewayApp;
use kube::api::{Api, PostParams};

use super::Env;
use crate::bench::cluster::{gateway_app, namespace};
use crate::bench::procs::{start_operator, start_sim};
use crate::bench::report::{Row, row};

/// From the operator's process start to the first status it writes, with leader election on.
pub async fn startup(env: &Env<'_>, rows: &mut Vec<Row>) -> Result<()> {
    let Env {
        client,
        dir,
        target,
        operator,
        ..
    } = *env;
    let ns = "bench-startup";
    namespace(client, ns).await?;
    let apps: Api<GatewayApp> = Api::namespaced(client.clone(), ns);
    apps.create(&PostParams::default(), &gateway_app("first")?)
        .await?;
    let (_sim, sim) = start_sim(target, dir, "startup")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let _op = start_operator(
        operator,
        dir,
        ns,
        &sim,
        &[
            "--leader-elect",
            "--leader-election-namespace",
            ns,
            "--leader-election-id",
            "bench",
        ],
        "startup",
    )?;
    loop {
        let app = apps.get("first").await?;
        if app.status.is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("no first reconcile within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    rows.push(row(
        "startup to first reconcile (free Lease)",
        format!("{:.0} ms", secs * 1000.0),
        "< 1000 ms",
        Some(1.0 / secs),
    ));
    Ok(())
}
