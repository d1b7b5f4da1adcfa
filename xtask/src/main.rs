//! Dev tasks: the local control plane, the demo and the whole test suite, in one place.

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
    /// Build (once, cached in ~/.cache/appauth-operator) kube-apiserver, kube-controller-manager,
    /// kubectl, etcd and helm from the Go module proxy; prints the bin directory.
    Testbin,
    /// Start a local control plane (etcd, kube-apiserver, kube-controller-manager) with the CRDs.
    Up {
        /// State directory (kubeconfig, logs, pids).
        #[arg(long, default_value_os_t = default_state_dir())]
        dir: PathBuf,
    },
    /// Stop the processes `up` started.
    Down {
        #[arg(long, default_value_os_t = default_state_dir())]
        dir: PathBuf,
    },
    /// Bring up the control plane, apply examples/ and show the objects.
    Demo {
        #[arg(long, default_value_os_t = default_state_dir())]
        dir: PathBuf,
    },
    /// Build everything the tests need, start a fresh control plane, run every test, stop it.
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
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
    match task {
        Task::Testbin => {
            println!("{}", testbin()?.display());
            Ok(())
        }
        Task::Up { dir } => {
            up(&dir)?;
            println!("export KUBECONFIG={}", dir.join("kubeconfig").display());
            println!("stop it with: cargo xtask down --dir {}", dir.display());
            Ok(())
        }
        Task::Down { dir } => down(&dir),
        Task::Demo { dir } => demo(&dir),
        Task::Test { args } => test(&args),
    }
}

fn root() -> PathBuf {
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

fn check(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{:?} failed: {status}", cmd.get_program());
    }
    Ok(())
}

/// Builds the control-plane binaries if needed and returns their directory.
fn testbin() -> Result<PathBuf> {
    let out = Command::new(script("build-testbin.sh"))
        .env("APPAUTH_CACHE", cache_dir())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running build-testbin.sh")?;
    if !out.status.success() {
        bail!("building the control-plane binaries failed: {}", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let bin = stdout
        .lines()
        .last()
        .context("build-testbin.sh printed no bin directory")?;
    Ok(PathBuf::from(bin.trim()))
}

fn up(dir: &Path) -> Result<PathBuf> {
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
    check(
        Command::new(script("cluster-up.sh"))
            .arg(dir)
            .arg(&bin)
            .arg(root().join("crds")),
    )?;
    Ok(bin)
}

fn down(dir: &Path) -> Result<()> {
    check(Command::new(script("cluster-down.sh")).arg(dir))
}

fn path_with(bin: &Path) -> std::ffi::OsString {
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).expect("PATH entries contain no separator")
}

fn kubectl(bin: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(bin.join("kubectl"));
    cmd.arg("--kubeconfig").arg(dir.join("kubeconfig"));
    cmd
}

const DEMO_NS: &str = "appauth-demo";

fn demo(dir: &Path) -> Result<()> {
    let bin = up(dir)?;
    let examples = root().join("examples");
    check(kubectl(&bin, dir).args(["create", "namespace", DEMO_NS]))?;
    // The invalid example is there to show admission rejecting it; apply the rest.
    for entry in std::fs::read_dir(&examples)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if !name.ends_with(".yaml") || name.starts_with("invalid") {
            continue;
        }
        check(
            kubectl(&bin, dir)
                .args(["apply", "--server-side", "-f"])
                .arg(&path),
        )?;
    }
    println!("\nThe invalid example is rejected at admission:");
    let _ = kubectl(&bin, dir)
        .args(["apply", "-f"])
        .arg(examples.join("invalid-gatewayapp.yaml"))
        .status();
    println!();
    check(kubectl(&bin, dir).args(["get", "appauth", "-n", DEMO_NS]))?;
    println!(
        "\nNote: the controllers are not implemented yet, so the objects above have no status.\n\
         export KUBECONFIG={}\nstop it with: cargo xtask down",
        dir.join("kubeconfig").display()
    );
    Ok(())
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn test(args: &[String]) -> Result<()> {
    let bin = testbin()?;
    let dir = std::env::temp_dir().join(format!("appauth-test-{}", std::process::id()));
    let result = up(&dir).and_then(|_| {
        let rust = check(
            cargo()
                .args([
                    "test",
                    "--workspace",
                    "--no-fail-fast",
                    "--features",
                    "appauth-operator/failpoints",
                ])
                .args(args)
                .env("APPAUTH_TEST_KUBECONFIG", dir.join("kubeconfig"))
                .env("APPAUTH_TESTBIN", &bin)
                .env("PATH", path_with(&bin)),
        );
        // The simulator against the official Huawei Cloud Python SDKs, even if a Rust test failed.
        let sdk = check(cargo().args(["build", "--quiet", "-p", "hwcloud-sim"])).and_then(|_| {
            check(
                Command::new(script("sdk-tests.sh"))
                    .current_dir(root())
                    .env("APPAUTH_CACHE", cache_dir())
                    .env("HWCLOUD_SIM_BIN", root().join("target/debug/hwcloud-sim")),
            )
        });
        rust.and(sdk)
    });
    let stopped = down(&dir);
    if result.is_err() {
        for log in ["apiserver.log", "kcm.log", "etcd.log"] {
            eprintln!(
                "xtask: control-plane log kept at {}",
                dir.join(log).display()
            );
        }
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result.and(stopped)
}
