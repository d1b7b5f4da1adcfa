//! `cargo xtask bench`: the operator's throughput, cost, latency, memory and startup on the
//! local control plane with the simulator, each figure next to its target or to the
//! apiserver's own limit measured in the same run (SPEC §10).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use appauth_operator::api::GatewayApp;
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::{Client, Config, config::Kubeconfig};
use serde_json::{Value, json};

pub struct Options {
    pub objects: Vec<usize>,
    pub latencies_ms: Vec<u64>,
    pub concurrency: usize,
    pub resync_secs: u64,
    pub json: Option<PathBuf>,
    pub modes: Vec<Mode>,
    pub app_id_annotation: bool,
}

/// One row of the report.
struct Row {
    figure: String,
    value: String,
    target: String,
    ratio: Option<f64>,
}

fn row(
    figure: impl Into<String>,
    value: impl Into<String>,
    target: impl Into<String>,
    ratio: Option<f64>,
) -> Row {
    Row {
        figure: figure.into(),
        value: value.into(),
        target: target.into(),
        ratio,
    }
}

async fn client(kubeconfig: &Path) -> Result<Client> {
    let kc = Kubeconfig::read_from(kubeconfig)?;
    let mut config = Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    config.read_timeout = Some(Duration::from_secs(60));
    Ok(Client::try_from(config)?)
}

async fn namespace(client: &Client, name: &str) -> Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(())
}

fn gateway_app(name: &str) -> Result<GatewayApp> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
        "metadata": {"name": name}, "spec": {"apig": {"instanceId": "gw-bench"}},
    }))?)
}

/// A label's value in a Prometheus text-format sample line ("" when absent).
fn label_value<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!("{name}=\"");
    line.find(&key)
        .map(|i| &line[i + key.len()..])
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
}

/// The value of a Prometheus text-format sample line (0 when unreadable).
fn sample_value(line: &str) -> f64 {
    line.rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Write requests by resource (POST excluded: the benchmark's own creates), from /metrics.
async fn apiserver_writes(client: &Client) -> Result<BTreeMap<String, f64>> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(req).await?;
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |name: &str| label_value(line, name).to_string();
        let value = sample_value(line);
        let (verb, resource) = (label("verb"), label("resource"));
        let sub = label("subresource");
        // Every request by verb, for the breakdown printed with each run.
        *out.entry(format!(
            "{verb} {resource}{}{sub}",
            if sub.is_empty() { "" } else { "/" }
        ))
        .or_default() += value;
        if ["PUT", "PATCH", "APPLY"].contains(&verb.as_str()) {
            *out.entry(resource).or_default() += value;
        }
    }
    Ok(out)
}

fn writes_delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> f64 {
    ["gatewayapps", "secrets"]
        .iter()
        .map(|k| after.get(*k).copied().unwrap_or(0.0) - before.get(*k).copied().unwrap_or(0.0))
        .sum()
}

/// The apiserver's own limit for the writes a new app costs: the same client stack, the same
/// concurrency, the same four writes (metadata patch, Secret apply, status apply, metadata
/// patch), on objects created beforehand.
async fn raw_limit(
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

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Proc(Child);

/// The operator process and its metrics address.
struct Operator {
    proc: Proc,
    metrics: String,
}

/// GatewayApp reconciles so far, from the operator's own metrics: all of them, and those that
/// returned early because the cache was stale or nothing had changed.
#[derive(Clone, Debug, Default)]
struct Reconciles {
    all: f64,
    stale: f64,
    settled: f64,
    /// Failed reconciles by reason.
    failed: BTreeMap<String, f64>,
}

async fn reconciles(http: &reqwest::Client, metrics: &str) -> Result<Reconciles> {
    let text = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let samples = |prefix: &'static str| {
        text.lines()
            .filter(move |l| l.starts_with(prefix) && label_value(l, "kind") == "GatewayApp")
    };
    let skipped = |why: &str| -> f64 {
        samples("appauth_reconciles_skipped_total{")
            .filter(|l| label_value(l, "why") == why)
            .map(sample_value)
            .sum()
    };
    let mut failed = BTreeMap::new();
    for line in samples("appauth_reconcile_errors_total{") {
        *failed
            .entry(label_value(line, "reason").to_string())
            .or_default() += sample_value(line);
    }
    Ok(Reconciles {
        failed,
        all: samples("appauth_reconciles_total{").map(sample_value).sum(),
        stale: skipped("stale"),
        settled: skipped("settled"),
    })
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

impl Drop for Proc {
    /// SIGTERM to its process group (a wrapper's child included), then SIGKILL after 5 s: a
    /// wrapper such as heaptrack gets to write its data.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sim(target: &Path, dir: &Path, tag: &str) -> Result<(Proc, String)> {
    let port = free_port()?;
    let log = std::fs::File::create(dir.join(format!("bench-sim-{tag}.log")))?;
    let child = Command::new(target.join("hwcloud-sim"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .process_group(0)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    Ok((Proc(child), format!("http://127.0.0.1:{port}")))
}

fn start_operator(
    target: &Path,
    dir: &Path,
    ns: &str,
    sim: &str,
    extra: &[&str],
    tag: &str,
) -> Result<Operator> {
    let metrics = format!("127.0.0.1:{}", free_port()?);
    let log = std::fs::File::create(dir.join(format!("bench-operator-{tag}.log")))?;
    // APPAUTH_BENCH_WRAP: a command to run the operator under, e.g. `heaptrack -o /tmp/ht`
    // (the figures then include the wrapper's cost).
    // `{tag}` in it is replaced by the run's tag.
    let wrap = std::env::var("APPAUTH_BENCH_WRAP")
        .unwrap_or_default()
        .replace("{tag}", tag);
    let mut words = wrap.split_whitespace();
    let mut cmd = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(target.join("appauth-operator"));
            c
        }
        None => Command::new(target.join("appauth-operator")),
    };
    cmd.args([
        "run",
        "--namespace",
        ns,
        "--region",
        "cn-north-4",
        "--project-id",
        "0833a5737480d53b2f250010d01a7b88",
    ])
    .args(["--metrics-addr", &metrics])
    .args(extra)
    .env("KUBECONFIG", dir.join("kubeconfig"))
    .env("HWCLOUD_ACCESS_KEY", "HWSIMAK0000000000000")
    .env(
        "HWCLOUD_SECRET_KEY",
        "hwsim-secret-key-0000000000000000000000",
    )
    // APPAUTH_BENCH_RUST_LOG: the operator's log filter, to look into a run.
    .env(
        "RUST_LOG",
        std::env::var("APPAUTH_BENCH_RUST_LOG").unwrap_or_else(|_| "warn".into()),
    )
    .stdin(Stdio::null())
    .stdout(log.try_clone()?)
    .stderr(log);
    for service in ["iam", "apig", "modelarts", "dataarts", "roma"] {
        cmd.arg("--endpoint").arg(format!("{service}={sim}"));
    }
    // Its own process group, so that stopping it stops a wrapper's child too.
    cmd.process_group(0);
    Ok(Operator {
        proc: Proc(cmd.spawn()?),
        metrics,
    })
}

/// Peak RSS (MiB) and CPU seconds of a process, from /proc.
fn usage(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (hwm / 1024.0, (ticks(11) + ticks(12)) / 100.0)
}

/// Counts Ready objects from a watch, so that measuring does not load the apiserver with
/// repeated lists of every object.
fn watch_ready(apps: Api<GatewayApp>) -> tokio::sync::watch::Receiver<usize> {
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

async fn sim_counts(http: &reqwest::Client, sim: &str) -> Result<BTreeMap<String, u64>> {
    Ok(http
        .get(format!("{sim}/_sim/counts"))
        .send()
        .await?
        .json()
        .await?)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// How the N objects meet the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Created at once while the operator runs (the benchmark's creates share the apiserver).
    Burst,
    /// Created first, then the operator starts: its writes alone, like the raw limit's.
    Backlog,
}

/// What every measurement needs.
struct Env<'a> {
    client: &'a Client,
    dir: &'a Path,
    target: &'a Path,
    opts: &'a Options,
}

async fn create_all(apps: &Api<GatewayApp>, n: usize, concurrency: usize) -> Result<()> {
    stream::iter(0..n)
        .map(|i| {
            let apps = apps.clone();
            async move {
                apps.create(&PostParams::default(), &gateway_app(&format!("app-{i}"))?)
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

/// `n` apps with simulated cloud latency (burst or backlog); with `idle`, then the idle latency
/// and a quiet resync.
async fn burst(
    env: &Env<'_>,
    n: usize,
    latency_ms: u64,
    mode: Mode,
    idle: bool,
    limit_wps: f64,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let Env {
        client,
        dir,
        target,
        opts,
    } = *env;
    let mode_name = format!("{mode:?}").to_lowercase();
    let tag = format!("{n}-{latency_ms}ms-{mode_name}");
    let ns = format!("bench-{n}-{latency_ms}-{mode_name}");
    namespace(client, &ns).await?;
    let (_sim, sim) = start_sim(target, dir, &tag)?;
    let http = reqwest::Client::new();
    tokio::time::sleep(Duration::from_millis(300)).await;
    http.put(format!("{sim}/_sim/config"))
        // The default APIG quota (10,000 apps per instance) would stop the idle phase at 10,000.
        .json(&json!({"latency_ms": latency_ms, "apig_quota": n + 1000}))
        .send()
        .await?
        .error_for_status()?;
    let rate = "apig=2000/4000";
    let conc = opts.concurrency.to_string();
    let resync = format!("{}s", opts.resync_secs);
    let mirror = opts.app_id_annotation.to_string();
    let operator_args = [
        "--concurrency",
        &conc,
        "--rate-limit",
        rate,
        "--resync-period",
        &resync,
        "--app-id-annotation",
        &mirror,
    ];
    let apps: Api<GatewayApp> = Api::namespaced(client.clone(), &ns);
    let mut ready = watch_ready(apps.clone());
    let (op, before, started) = match mode {
        Mode::Burst => {
            let op = start_operator(target, dir, &ns, &sim, &operator_args, &tag)?;
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
            let op = start_operator(target, dir, &ns, &sim, &operator_args, &tag)?;
            (op, before, started)
        }
    };
    let pid = op.proc.0.id();
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
    let breakdown: Vec<String> = after
        .iter()
        .filter(|(k, _)| k.contains(' ') && !k.starts_with("WATCH"))
        .filter_map(|(k, v)| {
            let d = (v - before.get(k).copied().unwrap_or(0.0)) / n as f64;
            (d >= 0.01).then(|| format!("{k} {d:.2}"))
        })
        .collect();
    println!(
        "[{tag}] apiserver requests per app: {}",
        breakdown.join(", ")
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
    let limit_apps = limit_wps / writes_per_app.max(1.0);
    let (rss, cpu) = usage(pid);
    rows.push(row(
        format!("[{tag}] time to all Ready"),
        format!("{elapsed:.1} s ({apps_per_sec:.1} apps/s)"),
        format!(">= 70% of limit {limit_apps:.1} apps/s"),
        Some(apps_per_sec / limit_apps),
    ));
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
        "<= 64 MiB at 10,000",
        Some(64.0 / rss.max(0.01)),
    ));
    rows.push(row(
        format!("[{tag}] operator CPU"),
        format!("{cpu:.1} s ({:.0}% of one core)", 100.0 * cpu / elapsed),
        "-",
        None,
    ));
    if !idle {
        return Ok(());
    }

    // Idle latency: one object at a time, apply -> Secret.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let mut lat = Vec::new();
    for i in 0..60 {
        let name = format!("idle-{i}");
        let t = Instant::now();
        apps.create(&PostParams::default(), &gateway_app(&name)?)
            .await?;
        loop {
            if secrets.get_opt(&name).await?.is_some() {
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                let status = apps.get(&name).await.ok().map(|a| a.status);
                let counted = reconciles(&http, &op.metrics).await.unwrap_or_default();
                bail!(
                    "no Secret for {name} after 30 s; its status: {status:?}; operator: {counted:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    rows.push(row(
        format!("[{tag}] apply -> Secret p50 (idle)"),
        format!("{p50:.0} ms"),
        "< 100 ms",
        Some(100.0 / p50.max(0.01)),
    ));
    rows.push(row(
        format!("[{tag}] apply -> Secret p99 (idle)"),
        format!("{p99:.0} ms"),
        "< 1000 ms",
        Some(1000.0 / p99.max(0.01)),
    ));

    // Steady state: one resync period with nothing changed.
    tokio::time::sleep(Duration::from_secs(5)).await;
    http.delete(format!("{sim}/_sim/counts")).send().await?;
    let quiet_before = apiserver_writes(client).await?;
    tokio::time::sleep(Duration::from_secs(
        opts.resync_secs + opts.resync_secs / 10 + 2,
    ))
    .await;
    let quiet_after = apiserver_writes(client).await?;
    let counts = sim_counts(&http, &sim).await?;
    let reads = counts.get("apig.show").copied().unwrap_or(0) as f64 / (n + 60) as f64;
    let cloud_writes: u64 = counts
        .iter()
        .filter(|(k, _)| !k.ends_with(".show") && !k.ends_with(".list"))
        .map(|(_, v)| *v)
        .sum();
    rows.push(row(
        format!("[{tag}] quiet resync: apiserver writes"),
        format!("{}", writes_delta(&quiet_before, &quiet_after)),
        "0",
        None,
    ));
    rows.push(row(
        format!("[{tag}] quiet resync: cloud writes"),
        format!("{cloud_writes}"),
        "0",
        None,
    ));
    rows.push(row(
        format!("[{tag}] quiet resync: cloud reads per object"),
        format!("{reads:.2}"),
        "<= 1",
        None,
    ));
    Ok(())
}

/// Startup to the first reconcile with a free Lease.
async fn startup(client: &Client, dir: &Path, target: &Path, rows: &mut Vec<Row>) -> Result<()> {
    let ns = "bench-startup";
    namespace(client, ns).await?;
    let apps: Api<GatewayApp> = Api::namespaced(client.clone(), ns);
    apps.create(&PostParams::default(), &gateway_app("first")?)
        .await?;
    let (_sim, sim) = start_sim(target, dir, "startup")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let _op = start_operator(
        target,
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

pub async fn run(dir: &Path, target: &Path, opts: &Options) -> Result<()> {
    let client = client(&dir.join("kubeconfig"))
        .await
        .context("connecting to the bench control plane")?;
    let mut rows = Vec::new();
    let size = std::fs::metadata(target.join("appauth-operator"))?.len() as f64 / 1_048_576.0;
    rows.push(row(
        "release binary size (no container image: no Docker engine here)",
        format!("{size:.1} MiB"),
        "image < 40 MB",
        Some(40.0 / size),
    ));
    let raw_objects = opts.objects.iter().copied().min().unwrap_or(1000).min(1000);
    let writes = if opts.app_id_annotation { 4 } else { 3 };
    let limit = raw_limit(&client, raw_objects, opts.concurrency, writes).await?;
    rows.push(row(
        format!(
            "apiserver limit: raw writes/s ({raw_objects} objects x {writes} writes, concurrency {})",
            opts.concurrency
        ),
        format!("{limit:.0}"),
        "-",
        None,
    ));
    rows.push(row(
        "cloud rate limit in force",
        "apig 2000/s, burst 4000".to_string(),
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
        opts,
    };
    for &n in &opts.objects {
        for &lat in &opts.latencies_ms {
            for (i, &mode) in opts.modes.iter().enumerate() {
                burst(&env, n, lat, mode, i == 0, limit, &mut rows).await?;
            }
        }
    }
    startup(&client, dir, target, &mut rows).await?;

    let width = rows.iter().map(|r| r.figure.len()).max().unwrap_or(10);
    println!(
        "\n{:width$}  {:>32}  {:>28}  {:>7}",
        "figure", "value", "target / limit", "ratio"
    );
    for r in &rows {
        let ratio = r
            .ratio
            .map(|x| format!("{x:.2}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:width$}  {:>32}  {:>28}  {:>7}",
            r.figure, r.value, r.target, ratio
        );
    }
    if let Some(path) = &opts.json {
        let out: Vec<Value> = rows.iter().map(|r| json!({"figure": r.figure, "value": r.value, "target": r.target, "ratio": r.ratio})).collect();
        std::fs::write(path, serde_json::to_string_pretty(&out)?)?;
        println!("\nwritten to {}", path.display());
    }
    Ok(())
}
