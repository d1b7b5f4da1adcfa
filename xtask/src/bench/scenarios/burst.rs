//! N new apps at once, with simulated cloud latency: time to all Ready against the apiserver's
//! limit, writes, cloud calls and reconciles per app, the operator's memory and CPU.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use appauth_operator::api::GatewayApp;
use kube::api::Api;

use super::idle::{self, Idle};
use super::{Env, Run};
use crate::bench::Mode;
use crate::bench::cluster::{apiserver_writes, create_all, reconciles, sim_counts, watch_ready};
use crate::bench::procs::{resident, start_operator, usage};
use crate::bench::prom::{per_app_breakdown, writes_delta};
use crate::bench::report::{Row, row};
use crate::bench::scale::Measured;

/// `run.n` apps with simulated cloud latency (burst or backlog); with `run.idle`, then the idle
/// latency and a quiet resync. Returns what the per-object rows are made of.
pub async fn burst(
    env: &Env<'_>,
    run: &Run,
    limit_wps: f64,
    rows: &mut Vec<Row>,
) -> Result<Measured> {
    let Env {
        client,
        dir,
        operator,
        opts,
        ..
    } = *env;
    let Run {
        n,
        latency_ms,
        mode,
        cloud,
        idle,
        mix_aps_at_n,
    } = *run;
    let mode_name = format!("{mode:?}").to_lowercase();
    let cloud_name = format!("{cloud:?}").to_lowercase();
    let tag = format!("{n}-{latency_ms}ms-{mode_name}-{cloud_name}");
    let ns = format!("bench-{n}-{latency_ms}-{mode_name}-{cloud_name}");
    let (_sim, sim, http) = super::namespace_and_sim(env, &ns, &tag, latency_ms, n).await?;
    let conc = opts.concurrency.to_string();
    let burst_resync = format!("{}s", opts.burst_resync_secs);
    let resync = format!("{}s", opts.resync_secs);
    let mirror = opts.app_id_annotation.to_string();
    let operator_args = |resync: &str| -> Vec<String> {
        let mut args: Vec<String> = [
            "--concurrency",
            &conc,
            "--resync-period",
            resync,
            "--app-id-annotation",
            &mirror,
        ]
        .map(String::from)
        .to_vec();
        args.extend(cloud.args().into_iter().map(String::from));
        args
    };
    let burst_args = operator_args(&burst_resync);
    let apps: Api<GatewayApp> = Api::namespaced(client.clone(), &ns);
    let mut ready = watch_ready(apps.clone());
    let (op, before, started) = match mode {
        Mode::Burst => {
            let op = start_operator(operator, dir, &ns, &sim, &strs(&burst_args), &tag)?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let before = apiserver_writes(client).await?;
            let started = Instant::now();
            create_all(&apps, n, opts.concurrency).await?;
            (op, before, started)
        }
        Mode::Backlog => {
            create_all(&apps, n, opts.concurrency).await?;
            let before = apiserver_writes(client).await?;
            let started = Instant::now();
            let op = start_operator(operator, dir, &ns, &sim, &strs(&burst_args), &tag)?;
            (op, before, started)
        }
    };
    let pid = op.proc.id();
    let progress = report_progress(tag.clone(), op.metrics.clone(), pid, ready.clone(), started);
    let deadline = started + Duration::from_secs(600 + n as u64 / 5);
    tokio::time::timeout_at(deadline.into(), ready.wait_for(|count| *count >= n))
        .await
        .map_err(|_| anyhow::anyhow!("{n} apps did not become Ready in time ({tag})"))?
        .context("the Ready watch stopped")?;
    let elapsed = started.elapsed().as_secs_f64();
    progress.abort();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = apiserver_writes(client).await?;
    let writes_per_app = writes_delta(&before, &after) / n as f64;
    println!(
        "[{tag}] apiserver requests per app: {}",
        per_app_breakdown(&before, &after, n).join(", ")
    );
    let counts = sim_counts(&http, &sim).await?;
    let cloud_per_app = counts
        .iter()
        .filter(|(k, _)| k.starts_with("apig."))
        .map(|(_, v)| *v)
        .sum::<u64>() as f64
        / n as f64;
    let counted = reconciles(&http, &op.metrics).await?;
    let reconciles_per_app = counted.all / n as f64;
    let apps_per_sec = n as f64 / elapsed;
    // The limit in force: the apiserver's, and the operator's own cloud budget (a burst, then
    // the rate) for the cloud calls each app needs.
    let apiserver_secs = n as f64 * writes_per_app.max(1.0) / limit_wps;
    let (rate, burst) = cloud.apig();
    let cloud_secs = ((n as f64 * cloud_per_app - burst) / rate).max(0.0);
    let limit_secs = apiserver_secs.max(cloud_secs);
    let (rss, cpu) = usage(pid);
    let bound = if cloud_secs > apiserver_secs {
        format!("cloud budget {rate:.0}/s")
    } else {
        "apiserver".to_string()
    };
    rows.push(row(
        format!("[{tag}] time to all Ready"),
        format!("{elapsed:.1} s ({apps_per_sec:.1} apps/s)"),
        format!(
            ">= {:.0}% of limit {:.1} apps/s ({bound})",
            cloud.target() * 100.0,
            n as f64 / limit_secs
        ),
        Some(limit_secs / elapsed),
    ));
    if mode == Mode::Burst {
        // The same time against what the apiserver can do when each app costs it all it costs
        // in a burst (the create and the Event too), not only the writes counted above.
        let limits = [
            (String::new(), Some(env.mix_aps)),
            (format!(" on {n} objects"), mix_aps_at_n),
        ];
        for (on, aps) in limits {
            let Some(aps) = aps else { continue };
            let mix_secs = (n as f64 / aps).max(cloud_secs);
            rows.push(row(
                format!("[{tag}] time to all Ready: against the whole mix{on}"),
                format!("{apps_per_sec:.1} apps/s"),
                format!(
                    ">= {:.0}% of {:.1} apps/s",
                    cloud.target() * 100.0,
                    n as f64 / mix_secs
                ),
                Some(mix_secs / elapsed),
            ));
        }
    }
    rows.push(row(
        format!("[{tag}] apiserver writes per app"),
        format!("{writes_per_app:.2}"),
        "<= 3",
        Some(3.0 / writes_per_app.max(0.01)),
    ));
    rows.push(row(
        format!("[{tag}] cloud calls per app"),
        format!("{cloud_per_app:.2}"),
        "= 1",
        Some(1.0 / cloud_per_app.max(0.01)),
    ));
    rows.push(row(
        format!("[{tag}] GatewayApp reconciles per app"),
        format!(
            "{reconciles_per_app:.2} ({:.2} stale, {:.2} settled)",
            counted.stale / n as f64,
            counted.settled / n as f64
        ),
        "-",
        None,
    ));
    rows.push(row(
        format!("[{tag}] operator peak RSS"),
        format!("{rss:.1} MiB"),
        "<= 56 MiB at 10,000",
        (n == 10_000).then(|| 56.0 / rss.max(0.01)),
    ));
    rows.push(row(
        format!("[{tag}] operator CPU"),
        format!("{cpu:.1} s ({:.0}% of one core)", 100.0 * cpu / elapsed),
        "-",
        None,
    ));
    let mut measured = Measured {
        n,
        latency_ms,
        mode,
        cloud,
        rss_mib: rss,
        rest_mib: None,
        quiet: None,
    };
    if !idle {
        return Ok(measured);
    }
    // The idle phase needs a short resync period to see two of them; the burst ran with the
    // operator's default. A restarted operator takes over, once it has reconciled every object.
    drop(op);
    let idle_tag = format!("{tag}-idle");
    let op = start_operator(
        operator,
        dir,
        &ns,
        &sim,
        &strs(&operator_args(&resync)),
        &idle_tag,
    )?;
    let pid = op.proc.id();
    let restarted = Instant::now();
    // Every object reconciled, and nothing queued for two readings of the queue gauge (it is
    // refreshed every 5 s): the sweep's cheap passes count as reconciles too, and a restarted
    // process reads each app once.
    tokio::time::timeout(Duration::from_secs(300 + n as u64 / 20), async {
        let mut empty_since: Option<Instant> = None;
        loop {
            let counted = reconciles(&http, &op.metrics).await.unwrap_or_default();
            if counted.all >= n as f64 && counted.queued == 0.0 {
                let since = *empty_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_secs(6) {
                    return;
                }
            } else {
                empty_since = None;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("the restarted operator did not reconcile {n} objects ({tag})"))?;
    rows.push(row(
        format!("[{tag}] restart with --resync-period {resync}: every object reconciled"),
        format!("{:.1} s", restarted.elapsed().as_secs_f64()),
        "-",
        None,
    ));
    let idle_run = Idle {
        client,
        apps: &apps,
        ns: &ns,
        http: &http,
        sim: &sim,
        metrics: &op.metrics,
        n,
        tag: &tag,
        resync_secs: opts.resync_secs,
    };
    idle::latency(&idle_run, rows).await?;
    measured.quiet = Some(idle::quiet_resync(&idle_run, rows).await?);
    // After minutes with nothing to do: what the objects themselves keep, without the burst's
    // work in flight (jemalloc has returned what was freed by then).
    let rest = resident(pid);
    rows.push(row(
        format!("[{tag}] operator RSS at rest (restarted, after the quiet resync)"),
        format!("{rest:.1} MiB"),
        "-",
        None,
    ));
    measured.rest_mib = Some(rest);
    Ok(measured)
}

/// Prints progress every 15 s until aborted: Ready count, reconciles, RSS; seconds since the
/// run's clock started (in burst mode, the first create).
fn report_progress(
    tag: String,
    metrics: String,
    pid: u32,
    ready: tokio::sync::watch::Receiver<usize>,
    started: Instant,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            tokio::time::sleep(Duration::from_secs(15)).await;
            let r = reconciles(&http, &metrics).await.unwrap_or_default();
            let (rss, cpu) = usage(pid);
            println!(
                "[{tag}] {:>5.0} s: {} Ready, {} reconciles ({} stale, {} settled, failed {:?}), RSS {rss:.1} MiB, CPU {cpu:.0} s",
                started.elapsed().as_secs_f64(),
                *ready.borrow(),
                r.all,
                r.stale,
                r.settled,
                r.failed,
            );
        }
    })
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
