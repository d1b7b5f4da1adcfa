//! `cargo xtask bench`: the operator's throughput, cost, latency, memory and startup on the
//! local control plane with the simulator, each figure next to its target or to the
//! apiserver's own limit measured in the same run.
//!
//! `scenarios/` measures, `cluster.rs` and `procs.rs` do the IO, `prom.rs` reads the metrics
//! text and `report.rs` prints the rows.

mod cluster;
mod procs;
mod prom;
mod report;
mod scale;
mod scenarios;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use report::row;
use scenarios::Env;

pub struct Options {
    pub objects: Vec<usize>,
    pub latencies_ms: Vec<u64>,
    pub concurrency: usize,
    pub resync_secs: u64,
    /// The resync period of the operator that makes the burst (the idle phase after it runs a
    /// restarted operator with `resync_secs`).
    pub burst_resync_secs: u64,
    pub json: Option<PathBuf>,
    pub modes: Vec<Mode>,
    pub app_id_annotation: bool,
    pub cloud_limits: Vec<CloudLimits>,
    /// Objects split between two operators by label selector (0: not measured).
    pub split_objects: usize,
    /// The operator binary to measure instead of the build's (a baseline, say); the simulator
    /// always comes from the build.
    pub operator_bin: Option<PathBuf>,
}

/// How the N objects meet the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Created at once while the operator runs (the benchmark's creates share the apiserver).
    Burst,
    /// Created first, then the operator starts: its writes alone, like the raw limit's.
    Backlog,
}

/// The operator's cloud rate limits in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CloudLimits {
    /// Its defaults: 50 requests/s per service, burst 100.
    Default,
    /// 2000/s, burst 4000: out of the way, so the apiserver alone sets the pace.
    Raised,
}

impl CloudLimits {
    /// The operator's `--rate-limit` arguments.
    pub fn args(self) -> Vec<&'static str> {
        match self {
            CloudLimits::Default => vec![],
            CloudLimits::Raised => vec!["--rate-limit", "apig=2000/4000"],
        }
    }

    /// Requests per second and burst for APIG.
    pub fn apig(self) -> (f64, f64) {
        match self {
            CloudLimits::Default => (50.0, 100.0),
            CloudLimits::Raised => (2000.0, 4000.0),
        }
    }

    /// The ratio to the limit a run must reach.
    pub fn target(self) -> f64 {
        match self {
            CloudLimits::Default => 0.7,
            CloudLimits::Raised => 0.8,
        }
    }
}

/// Every measurement on the control plane whose state is in `dir`, with the simulator (and,
/// unless `opts.operator_bin`, the operator) from the build directory `target`.
pub async fn run(dir: &Path, target: &Path, opts: &Options) -> Result<()> {
    let client = cluster::client(&dir.join("kubeconfig"))
        .await
        .context("connecting to the bench control plane")?;
    let operator = opts
        .operator_bin
        .clone()
        .unwrap_or_else(|| target.join("appauth-operator"));
    let mut rows = Vec::new();
    if let Some(bin) = &opts.operator_bin {
        rows.push(row(
            "operator binary (--operator-bin)",
            bin.display().to_string(),
            "-",
            None,
        ));
    }
    let size = std::fs::metadata(&operator)
        .with_context(|| format!("the operator binary {}", operator.display()))?
        .len() as f64
        / 1_048_576.0;
    rows.push(row(
        "release binary size (no container image: no Docker engine here)",
        format!("{size:.1} MiB"),
        "image < 40 MB",
        Some(40.0 / size),
    ));
    let raw_objects = opts.objects.iter().copied().min().unwrap_or(1000).min(1000);
    let writes = if opts.app_id_annotation { 4 } else { 3 };
    let limit = scenarios::raw_limit(&client, raw_objects, opts.concurrency, writes).await?;
    rows.push(row(
        format!(
            "apiserver limit: raw writes/s ({raw_objects} objects x {writes} writes, concurrency {})",
            opts.concurrency
        ),
        format!("{limit:.0}"),
        "-",
        None,
    ));
    let mix_aps = scenarios::raw_mix_limit(
        &client,
        "bench-raw-mix",
        raw_objects,
        opts.concurrency,
        writes,
    )
    .await?;
    rows.push(row(
        format!(
            "apiserver limit for a burst's whole mix: apps/s ({raw_objects} x create, {writes} writes, Event; concurrency {})",
            2 * opts.concurrency
        ),
        format!("{mix_aps:.1}"),
        "-",
        None,
    ));
    rows.push(row(
        "app-id annotation mirror (--app-id-annotation)",
        opts.app_id_annotation.to_string(),
        "-",
        None,
    ));
    let env = Env {
        client: &client,
        dir,
        target,
        operator: &operator,
        opts,
        mix_aps,
    };
    let mut measured = Vec::new();
    for &n in &opts.objects {
        // The apiserver holding n objects more is slower than holding 1,000 more: the burst of n
        // is also compared with the whole mix measured on n objects, just before it.
        let mix_aps_at_n = if n > raw_objects && opts.modes.contains(&Mode::Burst) {
            let ns = format!("bench-raw-mix-{n}");
            let aps = scenarios::raw_mix_limit(&client, &ns, n, opts.concurrency, writes).await?;
            rows.push(row(
                format!(
                    "apiserver limit for a burst's whole mix on {n} objects: apps/s (concurrency {})",
                    2 * opts.concurrency
                ),
                format!("{aps:.1}"),
                "-",
                None,
            ));
            Some(aps)
        } else {
            None
        };
        for &lat in &opts.latencies_ms {
            for (c, &cloud) in opts.cloud_limits.iter().enumerate() {
                for (i, &mode) in opts.modes.iter().enumerate() {
                    // The idle phase (latency, quiet resync) after the first run of each size
                    // and latency.
                    let run = scenarios::Run {
                        n,
                        latency_ms: lat,
                        mode,
                        cloud,
                        idle: i == 0 && c == 0,
                        mix_aps_at_n,
                    };
                    measured.push(scenarios::burst(&env, &run, limit, &mut rows).await?);
                }
            }
        }
    }
    scale::per_object(&measured, &mut rows);
    if opts.split_objects > 0 {
        scenarios::split(&env, opts.split_objects, limit, &mut rows).await?;
    }
    scenarios::startup(&env, &mut rows).await?;
    report::print(&rows, opts.json.as_deref())
}
