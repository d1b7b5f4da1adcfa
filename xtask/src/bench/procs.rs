//! The processes a run starts (the simulator and the operator, each in its own process group)
//! and their resource usage from /proc.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A started process, stopped when dropped.
pub struct Proc(Child);

impl Proc {
    pub fn id(&self) -> u32 {
        self.0.id()
    }
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

/// The operator process and its metrics address.
pub struct Operator {
    pub proc: Proc,
    pub metrics: String,
}

/// The simulator from `target`, logging to DIR/bench-sim-TAG.log; returns it and its URL.
pub fn start_sim(target: &Path, dir: &Path, tag: &str) -> Result<(Proc, String)> {
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

/// The operator binary `bin`, watching `ns`, with every service at the simulator `sim`.
pub fn start_operator(
    bin: &Path,
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
            c.args(words).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args([
        "run",
        "--namespace",
        ns,
        "--region",
        "cn-north-4",
        "--project-id",
        crate::SIM_PROJECT,
    ])
    .args(["--metrics-addr", &metrics])
    .args(extra)
    .env("KUBECONFIG", dir.join("kubeconfig"))
    .env("HWCLOUD_ACCESS_KEY", crate::SIM_ACCESS_KEY)
    .env("HWCLOUD_SECRET_KEY", crate::SIM_SECRET_KEY)
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

/// Peak RSS (MiB) and CPU seconds of a process, from /proc (zeros once it is gone).
pub fn usage(pid: u32) -> (f64, f64) {
    let read = |file: &str| std::fs::read_to_string(format!("/proc/{pid}/{file}"));
    parse_usage(
        &read("status").unwrap_or_default(),
        &read("stat").unwrap_or_default(),
    )
}

/// RSS now (MiB), from /proc (0 once it is gone): what stays resident once work has settled.
pub fn resident(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status_kib(&status, "VmRSS:") / 1024.0
}

/// One `kB` field of /proc/PID/status; 0 when absent or unreadable.
fn status_kib(status: &str, field: &str) -> f64 {
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Peak RSS (`VmHWM`, MiB) from /proc/PID/status and utime + stime (seconds, at 100 ticks a
/// second) from /proc/PID/stat; 0 for what cannot be read.
fn parse_usage(status: &str, stat: &str) -> (f64, f64) {
    let hwm = status_kib(status, "VmHWM:");
    // The command name, in parentheses, may hold blanks: fields are counted after the last ')'.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usages() {
        let status = "Name:\tappauth\nVmPeak:\t 99999 kB\nVmHWM:\t   30720 kB\nVmRSS:\t 20480 kB\n";
        // utime 250 and stime 50 ticks are the 12th and 13th fields after the name.
        let stat = "42 (appauth) op) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0";
        for (status, stat, want) in [
            (status, stat, (30.0, 3.0)),
            ("", "", (0.0, 0.0)),
            ("VmHWM: lots kB", "42 (x) S 1", (0.0, 0.0)),
            (status, "no parenthesis 1 2 3", (30.0, 0.0)),
        ] {
            assert_eq!(parse_usage(status, stat), want, "{status:?} {stat:?}");
        }
        assert_eq!(status_kib(status, "VmRSS:"), 20480.0);
        assert_eq!(status_kib("VmHWM: 1 kB", "VmRSS:"), 0.0);
    }
}
