//! Dev tasks: the local control plane, the demo, the whole test suite and the benchmark.

mod bench;
mod demo;
mod images;
mod node;
mod prereq;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "appauth-operator dev tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build (once per version, cached in ~/.cache/appauth-operator) kube-apiserver,
    /// kube-controller-manager, kubectl, etcd, helm, kstatus, promtool (for the alert rules'
    /// tests) and the node's tools from the modules under tools/; prints the directory that
    /// holds them.
    Testbin,
    /// Build the operator, simulator and sandbox ("pause") images without a registry (buildah,
    /// static binaries, the Dockerfiles' final stages) into oci-archive files under
    /// ~/.cache/appauth-operator/images ($APPAUTH_CACHE/images); prints their names, sizes
    /// and archives.
    Images {
        /// Another name for the operator image, localhost/appauth-operator:TAG, in the same
        /// archive (repeatable).
        #[arg(long = "tag", value_parser = images::parse_tag)]
        tags: Vec<String>,
    },
    /// Package the Helm chart (after `helm lint --strict`) into DIR/appauth-operator-VERSION.tgz,
    /// the artifact a release attaches or pushes to a chart repository; prints its path.
    Chart {
        #[arg(long, default_value = "target/chart")]
        out: PathBuf,
    },
    /// Start a local control plane (etcd, kube-apiserver, kube-controller-manager) with the CRDs.
    Up {
        /// State directory (kubeconfig, logs, pids).
        #[arg(long, default_value_os_t = default_state_dir())]
        dir: PathBuf,
        /// Also a real node (containerd, runc, CNI, kubelet, kube-scheduler; needs root) with
        /// the operator, simulator and sandbox images loaded.
        #[arg(long)]
        node: bool,
    },
    /// Stop the processes `up` started.
    Down {
        #[arg(long, default_value_os_t = default_state_dir())]
        dir: PathBuf,
    },
    /// Bring up the control plane, the simulator and the operator, apply examples/ and show the
    /// objects. By default as processes (quick); with --pods on a real node, installed by the
    /// chart from the images built offline.
    Demo {
        #[arg(long, default_value_os_t = default_state_dir())]
        dir: PathBuf,
        /// The operator and the simulator as Pods on a real node (needs root).
        #[arg(long)]
        pods: bool,
    },
    /// Benchmark on a fresh local control plane with release builds; prints a table.
    Bench {
        /// Numbers of GatewayApps applied at once (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = vec![1000usize])]
        objects: Vec<usize>,
        /// Simulated cloud latencies in ms (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = vec![0u64, 50])]
        latency_ms: Vec<u64>,
        /// Concurrency of the operator and of the raw-limit client.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Resync period for the steady-state measurement, seconds (the operator is restarted
        /// with it after the burst).
        #[arg(long, default_value_t = 20)]
        resync_secs: u64,
        /// Resync period during the burst, seconds (default: the operator's own default).
        #[arg(long, default_value_t = 600)]
        burst_resync_secs: u64,
        /// Also write the table as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// burst: created while the operator runs; backlog: created first, then the operator
        /// starts (comma-separated; the idle latency and quiet resync follow the first).
        #[arg(long, value_delimiter = ',', default_values = ["burst", "backlog"])]
        modes: Vec<bench::Mode>,
        /// The operator's --app-id-annotation (true: 4 writes per new app, false: 3).
        #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
        app_id_annotation: bool,
        /// The operator's cloud rate limits: its defaults (50/s, burst 100), or raised out of
        /// the way (2000/s, burst 4000) (comma-separated; each is a run of its own).
        #[arg(long, value_delimiter = ',', default_values = ["default", "raised"])]
        cloud_limits: Vec<bench::CloudLimits>,
        /// Then split this many objects between two operators by label selector, each with its
        /// own Lease (0: skip).
        #[arg(long, default_value_t = 0)]
        split_objects: usize,
        /// Measure this operator binary (e.g. an older commit's release build, as a baseline)
        /// instead of building target/release/appauth-operator; the simulator is still built.
        #[arg(long, value_parser = existing_file)]
        operator_bin: Option<PathBuf>,
    },
    /// The long reliability run: the chaos, crash, control-plane-fault and hostile-spec
    /// suites at full size, and the fuzz targets for longer, on a fresh control plane.
    Chaos {
        /// GatewayApps per chaos burst (with and without duplicate names).
        #[arg(long, default_value_t = 1000)]
        objects: usize,
        /// GatewayApps in the cloud-fault burst.
        #[arg(long, default_value_t = 1000)]
        fault_objects: usize,
        /// kill -9 moments per burst (plus every crash point).
        #[arg(long, default_value_t = 12)]
        kills: usize,
        /// Seed of the kill schedule, decimal or 0x hex (as the tests print it).
        #[arg(long, default_value = "0x5eed0001", value_parser = parse_seed)]
        seed: u64,
        /// Seconds per fuzz target.
        #[arg(long, default_value_t = 60)]
        fuzz_secs: u64,
    },
    /// Build everything the tests need, start a fresh control plane, run every test, stop it.
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
}

/// A path to a file that exists, made absolute (the bench runs processes from elsewhere).
fn existing_file(s: &str) -> Result<PathBuf, String> {
    let path = std::fs::canonicalize(s).map_err(|e| format!("{s}: {e}"))?;
    if !path.is_file() {
        return Err(format!("{s}: not a file"));
    }
    Ok(path)
}

fn parse_seed(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("{s:?}: {e}"))
}

fn main() -> ExitCode {
    match run(Cli::parse().task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<()> {
    // The images need neither Go nor Python; they check what they need themselves.
    if !matches!(task, Task::Down { .. } | Task::Images { .. }) {
        // Every tool has a finished build of some version (a changed module rebuilds one tool).
        let tools_cached = tools::TOOLS.iter().all(|tool| {
            std::fs::read_dir(cache_dir().join("tools"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("{}-", tool.name))
                        && e.path().join(".done").is_file()
                })
        });
        prereq::check(&prereq::observe(&root(), &cache_dir(), tools_cached))?;
    }
    match task {
        Task::Testbin => {
            println!("{}", testbin()?.display());
            Ok(())
        }
        Task::Chart { out } => package_chart(&out),
        Task::Images { tags } => {
            node::install_packages(&root())?;
            images::build_all(&root(), &cache_dir(), &tags).map(drop)
        }
        Task::Up { dir, node } => {
            if node {
                let images = node_prerequisites()?;
                up_with_node(&dir, Some(&images))?;
                for (key, value) in node::test_env(&dir, &images)? {
                    println!("export {key}={value}");
                }
            } else {
                up(&dir)?;
            }
            println!("export KUBECONFIG={}", dir.join("kubeconfig").display());
            println!("stop it with: cargo xtask down --dir {}", dir.display());
            Ok(())
        }
        Task::Down { dir } => down(&dir),
        Task::Demo { dir, pods } => demo::demo(&dir, pods),
        Task::Test { args } => test(&args),
        Task::Chaos {
            objects,
            fault_objects,
            kills,
            seed,
            fuzz_secs,
        } => {
            let env = [
                ("APPAUTH_CHAOS_OBJECTS", objects.to_string()),
                ("APPAUTH_CHAOS_DUP_OBJECTS", objects.to_string()),
                ("APPAUTH_CHAOS_FAULT_OBJECTS", fault_objects.to_string()),
                ("APPAUTH_CHAOS_KILLS", kills.to_string()),
                ("APPAUTH_CHAOS_SEED", seed.to_string()),
                ("APPAUTH_FUZZ_SECS", fuzz_secs.to_string()),
            ];
            // The suites with binaries of their own, then the crash and hostile-spec modules of
            // the shared binary (a test-name filter would apply to every binary of one run).
            let binaries = ["chaos", "control_plane_faults", "fuzz"]
                .into_iter()
                .flat_map(|suite| ["--test", suite]);
            let modules = ["--test", "it", "--", "crash_safety::", "hostile_specs::"];
            // One test at a time: each burst has the machine to itself.
            let one_at_a_time = ["--nocapture", "--test-threads", "1"];
            let runs: Vec<(&str, Vec<String>)> = vec![
                (
                    "Rust build and tests: chaos, control-plane faults, fuzz",
                    ["-p", "appauth-operator"]
                        .into_iter()
                        .chain(binaries)
                        .chain(["--"])
                        .chain(one_at_a_time)
                        .map(String::from)
                        .collect(),
                ),
                (
                    "Rust tests: crash safety, hostile specs",
                    ["-p", "appauth-operator"]
                        .into_iter()
                        .chain(modules)
                        .chain(one_at_a_time)
                        .map(String::from)
                        .collect(),
                ),
            ];
            run_tests(&runs, &env, false, false)
        }
        Task::Bench {
            objects,
            latency_ms,
            concurrency,
            resync_secs,
            burst_resync_secs,
            json,
            modes,
            app_id_annotation,
            cloud_limits,
            split_objects,
            operator_bin,
        } => {
            let opts = bench::Options {
                objects,
                latencies_ms: latency_ms,
                concurrency,
                resync_secs,
                burst_resync_secs,
                json,
                modes,
                app_id_annotation,
                cloud_limits,
                split_objects,
                operator_bin,
            };
            bench_cmd(&opts)
        }
    }
}

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cache_dir() -> PathBuf {
    std::env::var_os("APPAUTH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
            PathBuf::from(home).join(".cache/appauth-operator")
        })
}

fn default_state_dir() -> PathBuf {
    cache_dir().join("cluster")
}

fn script(name: &str) -> PathBuf {
    root().join("xtask/scripts").join(name)
}

pub(crate) fn check(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{:?} failed: {status}", cmd.get_program());
    }
    Ok(())
}

/// Builds the Go tools that are not cached yet and returns the directory holding them all.
fn testbin() -> Result<PathBuf> {
    tools::build_all(&root(), &cache_dir())
}

pub(crate) fn up(dir: &Path) -> Result<PathBuf> {
    up_with_node(dir, None)
}

/// The node's packages (installed if missing) and the images it runs (built if changed).
pub(crate) fn node_prerequisites() -> Result<images::Images> {
    node::install_packages(&root())?;
    images::build_all(&root(), &cache_dir(), &[node::NEXT_TAG.to_string()])
}

/// The control plane, and with `node` a real node beside it with those images loaded.
pub(crate) fn up_with_node(dir: &Path, node: Option<&images::Images>) -> Result<PathBuf> {
    let bin = testbin()?;
    if dir.join("pids").exists() {
        eprintln!(
            "xtask: stopping the control plane already recorded in {}",
            dir.display()
        );
        down(dir)?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    if node.is_some() {
        node::clear_stale_node()?;
        std::fs::create_dir_all(dir)?;
        node::record_host(dir)?;
    }
    let mut cluster = Command::new(script("cluster-up.sh"));
    cluster.arg(dir).arg(&bin).arg(root().join("crds"));
    if node.is_some() {
        cluster.arg(node::NODE_ADDRESS);
    }
    check(&mut cluster)?;
    if let Some(images) = node
        && let Err(e) = node::start(&root(), dir, &bin, images)
    {
        let _ = down(dir);
        return Err(e);
    }
    Ok(bin)
}

/// `helm lint --strict`, then `helm package` into `out` (relative to the repository root).
fn package_chart(out: &Path) -> Result<()> {
    let helm = testbin()?.join("helm");
    let chart = root().join("charts/appauth-operator");
    let out = root().join(out);
    std::fs::create_dir_all(&out)?;
    check(Command::new(&helm).args(["lint", "--strict"]).arg(&chart))?;
    let packaged = Command::new(&helm)
        .arg("package")
        .arg(&chart)
        .arg("--destination")
        .arg(&out)
        .output()
        .context("helm package")?;
    if !packaged.status.success() {
        bail!(
            "helm package: {}",
            String::from_utf8_lossy(&packaged.stderr)
        );
    }
    // "Successfully packaged chart and saved it to: PATH"
    let said = String::from_utf8_lossy(&packaged.stdout);
    let path = said.rsplit(": ").next().unwrap_or_default().trim();
    println!("{path}");
    Ok(())
}

fn down(dir: &Path) -> Result<()> {
    check(Command::new(script("cluster-down.sh")).arg(dir))?;
    node::check_host_restored(dir)
}

fn path_with(bin: &Path) -> std::ffi::OsString {
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).expect("PATH entries contain no separator")
}

/// The simulator's well-known test account: the demo's and the benchmark's operators use it as
/// their default account, and the chart's simulator serves it.
pub(crate) const SIM_ACCESS_KEY: &str = "HWSIMAK0000000000000";
pub(crate) const SIM_SECRET_KEY: &str = "hwsim-secret-key-0000000000000000000000";
pub(crate) const SIM_PROJECT: &str = "0833a5737480d53b2f250010d01a7b88";

pub(crate) fn kubectl(bin: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(bin.join("kubectl"));
    cmd.arg("--kubeconfig").arg(dir.join("kubeconfig"));
    cmd
}

/// Starts a long-running process detached from this one, logging to DIR/NAME.log, and records
/// its pid in DIR/pids so that `down` stops it with the control plane.
pub(crate) fn start_recorded(dir: &Path, name: &str, cmd: &mut Command) -> Result<u32> {
    use std::io::Write;
    let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let mut pids = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("pids"))?;
    writeln!(pids, "{name} {}", child.id())?;
    Ok(child.id())
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn bench_cmd(opts: &bench::Options) -> Result<()> {
    let dir = cache_dir().join("bench");
    up(&dir)?;
    // With --operator-bin only the simulator is built: the operator measured is that binary.
    let mut packages = vec!["-p", "hwcloud-sim"];
    if opts.operator_bin.is_none() {
        packages.extend(["-p", "appauth-operator"]);
    }
    let built = check(
        cargo_locked("build")
            .args(["--release", "--quiet"])
            .args(packages),
    );
    let result = built.and_then(|_| {
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(bench::run(&dir, &root().join("target/release"), opts))
    });
    let stopped = down(&dir);
    result.and(stopped)
}

/// `cargo SUBCOMMAND --locked`: a Cargo.lock that does not match the manifests fails the run
/// instead of resolving new versions. Without the variables `cargo run` set for xtask itself
/// (CARGO_PKG_NAME=xtask, CARGO_MANIFEST_DIR, ...): build scripts that watch them (ring's
/// does) would see other values than in a build from a shell, and each build would redo what
/// the other did.
pub(crate) fn cargo_locked(subcommand: &str) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root()).args([subcommand, "--locked"]);
    for (var, _) in std::env::vars_os() {
        if set_by_cargo_run(&var.to_string_lossy()) {
            cmd.env_remove(var);
        }
    }
    cmd
}

fn set_by_cargo_run(var: &str) -> bool {
    var.starts_with("CARGO_PKG_")
        || var.starts_with("CARGO_MANIFEST_")
        || matches!(
            var,
            "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
        )
}

/// Runs `f`, saying when it starts, and records how long it took under `step`.
fn timed<T>(
    timings: &mut Vec<(&'static str, std::time::Duration)>,
    step: &'static str,
    f: impl FnOnce() -> T,
) -> T {
    eprintln!("xtask: {step}...");
    let started = std::time::Instant::now();
    let out = f();
    timings.push((step, started.elapsed()));
    out
}

fn test(args: &[String]) -> Result<()> {
    let run = ["--workspace".to_string()]
        .into_iter()
        .chain(args.iter().cloned())
        .collect();
    run_tests(&[("Rust build and tests", run)], &[], true, true)
}

/// Builds the control-plane binaries, starts a fresh control plane (with `node`, a real node
/// beside it, its packages and images), runs `cargo test` once per entry of `runs` (a step
/// name for the timings; the package selection, targets and test arguments) with `env` (and the
/// SDK conformance suite if `sdk`), and stops it. Every run runs, even after a failure.
fn run_tests(
    runs: &[(&'static str, Vec<String>)],
    env: &[(&str, String)],
    sdk: bool,
    node: bool,
) -> Result<()> {
    let mut timings = Vec::new();
    let bin = timed(
        &mut timings,
        "control-plane and node binaries (Go builds, reused once built)",
        testbin,
    )?;
    let images = if node {
        Some(timed(
            &mut timings,
            "node packages and images (static release builds, reused once built)",
            node_prerequisites,
        )?)
    } else {
        None
    };
    let dir = std::env::temp_dir().join(format!("appauth-test-{}", std::process::id()));
    let result = timed(&mut timings, "control plane and node start", || {
        up_with_node(&dir, images.as_ref())
    })
    .and_then(|_| {
        let node_env = match &images {
            Some(images) => node::test_env(&dir, images)?,
            None => Vec::new(),
        };
        let mut rust = Ok(());
        for (step, args) in runs {
            let run = timed(&mut timings, step, || {
                check(
                    cargo_locked("test")
                        .args([
                            "--no-fail-fast",
                            "--features",
                            "appauth-operator/failpoints",
                        ])
                        .args(args)
                        .envs(env.iter().map(|(k, v)| (k, v)))
                        .envs(node_env.iter().map(|(k, v)| (k, v)))
                        .env("APPAUTH_TEST_KUBECONFIG", dir.join("kubeconfig"))
                        .env("APPAUTH_TESTBIN", &bin)
                        .env("PATH", path_with(&bin)),
                )
            });
            rust = rust.and(run);
        }
        // The simulator against the official Huawei Cloud Python SDKs, even if a Rust test failed.
        if !sdk {
            return rust;
        }
        let sdk = timed(&mut timings, "SDK conformance (venv reused)", || {
            check(cargo_locked("build").args(["--quiet", "-p", "hwcloud-sim"])).and_then(|_| {
                check(
                    Command::new(script("sdk-tests.sh"))
                        .current_dir(root())
                        .env("APPAUTH_CACHE", cache_dir())
                        .env("HWCLOUD_SIM_BIN", root().join("target/debug/hwcloud-sim")),
                )
            })
        });
        rust.and(sdk)
    });
    let stopped = down(&dir);
    if result.is_err() {
        for log in [
            "apiserver.log",
            "kcm.log",
            "etcd.log",
            "kubelet.log",
            "containerd.log",
            "scheduler.log",
        ] {
            eprintln!(
                "xtask: control-plane log kept at {}",
                dir.join(log).display()
            );
        }
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    for (step, took) in &timings {
        eprintln!("xtask: {step}: {:.1}s", took.as_secs_f64());
    }
    result.and(stopped)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_variables_cargo_run_sets_for_xtask_are_dropped() {
        let cases = [
            ("CARGO_PKG_NAME", true),
            ("CARGO_PKG_VERSION_PRE", true),
            ("CARGO_MANIFEST_DIR", true),
            ("CARGO_MANIFEST_PATH", true),
            ("CARGO_CRATE_NAME", true),
            ("CARGO", false),
            ("CARGO_HOME", false),
            ("CARGO_TARGET_DIR", false),
            ("CARGO_ENCODED_RUSTFLAGS", false),
            ("RUSTFLAGS", false),
        ];
        for (var, dropped) in cases {
            assert_eq!(super::set_by_cargo_run(var), dropped, "{var}");
        }
    }
}
