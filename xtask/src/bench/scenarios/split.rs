//! Past one replica: two operators split the objects of one namespace by label selector, each
//! with its own Lease, both under the same apiserver limit; each one's memory against the
//! per-replica figures.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use appauth_operator::api::GatewayApp;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;

use super::{Env, namespace_and_sim};
use crate::bench::CloudLimits;
use crate::bench::cluster::{SHARD_LABEL, apiserver_writes, create_sharded, watch_ready};
use crate::bench::procs::{start_operator, usage};
use crate::bench::prom::writes_delta;
use crate::bench::report::{Row, row};

/// `n` objects created at once, half for each of two operators (cloud limits raised).
pub async fn split(env: &Env<'_>, n: usize, limit_wps: f64, rows: &mut Vec<Row>) -> Result<()> {
    let Env {
        client,
        dir,
        operator,
        opts,
        ..
    } = *env;
    let tag = format!("split-{n}");
    let ns = format!("bench-split-{n}");
    let (_sim, sim, _) = namespace_and_sim(env, &ns, &tag, 0, n).await?;
    let conc = opts.concurrency.to_string();
    // A burst, as in the single operator's: the operator's default resync period.
    let resync = format!("{}s", opts.burst_resync_secs);
    let shards = ["0", "1"];
    let mut operators = Vec::new();
    for shard in shards {
        let selector = format!("{SHARD_LABEL}={shard}");
        let lease = format!("appauth-bench-{shard}");
        let mut args = vec![
            "--concurrency",
            &conc,
            "--resync-period",
            &resync,
            "--label-selector",
            &selector,
            "--leader-elect",
            "--leader-election-namespace",
            &ns,
            "--leader-election-id",
            &lease,
        ];
        args.extend(CloudLimits::Raised.args());
        let shard_tag = format!("{tag}-{shard}");
        operators.push(start_operator(operator, dir, &ns, &sim, &args, &shard_tag)?);
    }
    let apps: Api<GatewayApp> = Api::namespaced(client.clone(), &ns);
    let mut ready = watch_ready(apps.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = apiserver_writes(client).await?;
    let started = Instant::now();
    create_sharded(&apps, n, opts.concurrency, shards.len()).await?;
    let deadline = started + Duration::from_secs(600 + n as u64 / 5);
    tokio::time::timeout_at(deadline.into(), ready.wait_for(|count| *count >= n))
        .await
        .map_err(|_| anyhow::anyhow!("{n} apps did not become Ready in time ({tag})"))?
        .context("the Ready watch stopped")?;
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = apiserver_writes(client).await?;
    let writes_per_app = writes_delta(&before, &after) / n as f64;
    let limit_secs = n as f64 * writes_per_app.max(1.0) / limit_wps;
    rows.push(row(
        format!("[{tag}] two operators by label selector: time to all Ready"),
        format!("{elapsed:.1} s ({:.1} apps/s)", n as f64 / elapsed),
        format!(">= 80% of limit {:.1} apps/s", n as f64 / limit_secs),
        Some(limit_secs / elapsed),
    ));
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    for (shard, op) in shards.iter().zip(&operators) {
        let lease = leases
            .get(&format!("appauth-bench-{shard}"))
            .await
            .with_context(|| format!("the Lease of shard {shard}"))?;
        let holder = lease
            .spec
            .and_then(|s| s.holder_identity)
            .unwrap_or_default();
        let (rss, cpu) = usage(op.proc.id());
        let half = n / shards.len();
        rows.push(row(
            format!("[{tag}] operator {shard} ({half} objects, Lease held by {holder}): peak RSS"),
            format!("{rss:.1} MiB, CPU {cpu:.1} s"),
            "<= 56 MiB at 10,000",
            (half == 10_000).then(|| 56.0 / rss.max(0.01)),
        ));
    }
    Ok(())
}
