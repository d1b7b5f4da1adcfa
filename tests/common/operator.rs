//! Runs the real operator binary as a process against the test control plane and a simulator,
//! scoped to one namespace, with its logs in a file (scanned for secrets by the tests).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cluster::KUBECONFIG_ENV;

pub const PROJECT: &str = "0833a5737480d53b2f250010d01a7b88";
pub const REGION: &str = "cn-north-4";
pub const AK: &str = "HWSIMAK0000000000000";
pub const SK: &str = "hwsim-secret-key-0000000000000000000000";
/// The label that gives an AppAuthPolicy to the test operator of one namespace: policies are
/// cluster-scoped, and each test's operator must see only its own test's (by default, none).
pub const POLICY_LABEL: &str = "appauth.test/namespace";
/// The label of the objects an operator started for `all:<run>` reconciles.
pub const RUN_LABEL: &str = "appauth.test/run";

pub struct Operator {
    child: Option<Child>,
    pub log: PathBuf,
    namespace: String,
    sim_url: String,
    extra: Vec<String>,
    env: Vec<(String, String)>,
    /// The test account's AK/SK in the environment and its project id on the command line.
    keys: bool,
}

impl Operator {
    /// Starts an operator for `namespace` talking to the simulator at `sim_url`.
    pub fn start(namespace: &str, sim_url: &str, extra: &[&str]) -> Operator {
        Self::start_with_env(namespace, sim_url, extra, &[])
    }

    pub fn start_with_env(
        namespace: &str,
        sim_url: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        Self::launch(namespace, sim_url, extra, env, true)
    }

    /// An operator given no keys and no project id: its credentials come from `extra` and
    /// `env` (an identity provider, Pod Identity, files), or it has no default account.
    pub fn start_keyless(
        namespace: &str,
        sim_url: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        Self::launch(namespace, sim_url, extra, env, false)
    }

    fn launch(
        namespace: &str,
        sim_url: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        keys: bool,
    ) -> Operator {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!(
            "appauth-operator-{namespace}-{}-{seq}.log",
            std::process::id()
        ));
        let mut op = Operator {
            child: None,
            log,
            namespace: namespace.to_string(),
            sim_url: sim_url.to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            keys,
        };
        op.spawn();
        op
    }

    fn spawn(&mut self) {
        let kubeconfig = std::env::var(KUBECONFIG_ENV)
            .unwrap_or_else(|_| panic!("{KUBECONFIG_ENV} is not set: run `cargo xtask test`"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("operator log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_appauth-operator"));
        cmd.arg("run").args(["--region", REGION]);
        // `all:<run>`: every namespace, only the objects labelled with the run.
        match self.namespace.strip_prefix("all:") {
            Some(run) => cmd.args(["--label-selector", &format!("{RUN_LABEL}={run}")]),
            None => cmd.args(["--namespace", &self.namespace]),
        };
        if self.keys {
            cmd.args(["--project-id", PROJECT])
                .env("HWCLOUD_ACCESS_KEY", AK)
                .env("HWCLOUD_SECRET_KEY", SK);
        }
        // Nothing from the test's own environment decides the operator's credentials.
        for var in [
            "HWCLOUD_ACCESS_KEY",
            "HWCLOUD_SECRET_KEY",
            "HWCLOUD_PROJECT_ID",
            "HUAWEICLOUD_SDK_IDP_ID",
            "HUAWEICLOUD_SDK_ID_TOKEN_FILE",
            "HUAWEICLOUD_SDK_IAM_ENDPOINT",
            "HC_CONTAINER_CREDENTIALS_FULL_URI",
            "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "NO_PROXY",
            "no_proxy",
        ] {
            if !self.keys || !var.starts_with("HWCLOUD_") {
                cmd.env_remove(var);
            }
        }
        let scope = self.namespace.replace("all:", "all-");
        let policy_selector = format!("{POLICY_LABEL}={scope}");
        let grants_name = format!("grants-{scope}");
        // Test defaults, unless the test sets the flag itself.
        for (flag, value) in [
            ("--metrics-addr", "127.0.0.1:0"),
            ("--resync-period", "30s"),
            ("--lease-duration", "2s"),
            ("--request-timeout", "3s"),
            ("--cluster-name", "test"),
            ("--policy-selector", policy_selector.as_str()),
            ("--grants-name", grants_name.as_str()),
        ] {
            if !self.extra.iter().any(|e| e == flag) {
                cmd.args([flag, value]);
            }
        }
        // The IAM endpoint may come from the SDKs' variable instead (naming it twice is refused).
        let iam_elsewhere = self
            .env
            .iter()
            .any(|(k, _)| k == "HUAWEICLOUD_SDK_IAM_ENDPOINT");
        for service in ["iam", "apig", "modelarts", "dataarts", "roma"] {
            if service == "iam" && iam_elsewhere {
                continue;
            }
            cmd.arg("--endpoint")
                .arg(format!("{service}={}", self.sim_url));
        }
        cmd.args(&self.extra)
            .env("KUBECONFIG", kubeconfig)
            .env(
                "RUST_LOG",
                "trace,hyper=info,h2=info,tower=info,rustls=info",
            )
            .env_remove("APPAUTH_FAILPOINT")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("starting the operator binary"));
    }

    /// kill -9, then start a fresh process (without the failpoint env, unless `keep_env`).
    pub fn restart(&mut self, keep_env: bool) {
        self.kill();
        if !keep_env {
            self.env.retain(|(k, _)| k != "APPAUTH_FAILPOINT");
        }
        self.spawn();
    }

    /// kill -9, then start a fresh process that exits at the failpoint `point` (same log).
    pub fn restart_at_failpoint(&mut self, point: &str) {
        self.kill();
        self.env.retain(|(k, _)| k != "APPAUTH_FAILPOINT");
        self.env
            .push(("APPAUTH_FAILPOINT".to_string(), point.to_string()));
        self.spawn();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Sends a signal (STOP, CONT, ...) to the process.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let status = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status()
                .expect("kill");
            assert!(status.success(), "kill -{signal} {pid}");
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (bounded) for the process to exit by itself; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// A free loopback address for the metrics server, so that a test can scrape it.
pub fn free_metrics_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    format!("127.0.0.1:{port}")
}

impl Operator {
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The audit lines of the log (`cloud mutation`), each as its fields (quotes removed), in
    /// the order written.
    pub fn audit(&self) -> Vec<std::collections::BTreeMap<String, String>> {
        audit_lines(&self.logs())
    }

    /// Scrapes `addr` until `accept` takes the page; a refused scrape (the operator not
    /// listening yet) is tried again.
    pub async fn metrics_until<T>(
        addr: &str,
        timeout: Duration,
        what: &str,
        accept: impl Fn(&str) -> Option<T>,
    ) -> T {
        super::wait::until(timeout, what, || async {
            let page = reqwest::get(format!("http://{addr}/metrics"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            accept(&page)
        })
        .await
    }

    /// The metrics page of the running process at `addr` (see `free_metrics_addr`).
    pub async fn metrics(addr: &str) -> String {
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `cloud mutation` lines of a text-format log, as field -> value.
pub fn audit_lines(log: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    log.lines()
        .filter_map(|l| l.split_once("appauth_operator::audit: cloud mutation "))
        .map(|(_, fields)| {
            fields
                .split_whitespace()
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                .collect()
        })
        .collect()
}
