//! The process's own figures, read from /proc at each scrape: resident memory, CPU time, open
//! and allowed file descriptors, start time. Linux only; elsewhere they stay at 0.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

/// Clock ticks per second of /proc/PID/stat's times: 100 on every Linux architecture this
/// runs on (`getconf CLK_TCK`).
const TICKS: f64 = 100.0;

#[derive(Default)]
pub struct ProcessMetrics {
    /// One refresh at a time: the CPU counter is advanced by the difference it read.
    refreshing: std::sync::Mutex<()>,
    resident: Gauge,
    cpu: Counter<f64, AtomicU64>,
    open_fds: Gauge,
    max_fds: Gauge,
    start_time: Gauge,
}

impl ProcessMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register_with_unit(
            "process_resident_memory",
            "Resident memory of the operator process",
            Unit::Bytes,
            m.resident.clone(),
        );
        registry.register_with_unit(
            "process_cpu",
            "User and system CPU time of the operator process",
            Unit::Seconds,
            m.cpu.clone(),
        );
        registry.register(
            "process_open_fds",
            "Open file descriptors",
            m.open_fds.clone(),
        );
        registry.register(
            "process_max_fds",
            "The open file descriptor limit",
            m.max_fds.clone(),
        );
        registry.register_with_unit(
            "process_start_time",
            "Start of the process since the Unix epoch",
            Unit::Seconds,
            m.start_time.clone(),
        );
        m
    }

    /// Reads /proc/self again (a scrape is about to be encoded).
    pub fn refresh(&self) {
        let _one = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        if let Some(kib) = status_rss_kib(&read("/proc/self/status")) {
            self.resident.set(kib.saturating_mul(1024));
        }
        let boot = boot_time(&read("/proc/stat"));
        if let Some(times) = stat_times(&read("/proc/self/stat")) {
            let cpu = times.cpu_ticks as f64 / TICKS;
            let counted = self.cpu.get();
            if cpu > counted {
                self.cpu.inc_by(cpu - counted);
            }
            if let Some(boot) = boot {
                self.start_time
                    .set(boot.saturating_add(times.start_ticks / TICKS as u64) as i64);
            }
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            // Less the descriptor the listing itself holds open.
            self.open_fds.set(entries.count().saturating_sub(1) as i64);
        }
        if let Some(max) = max_open_files(&read("/proc/self/limits")) {
            self.max_fds.set(max);
        }
    }
}

/// VmRSS from /proc/PID/status, in KiB.
fn status_rss_kib(status: &str) -> Option<i64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[derive(Debug, PartialEq)]
struct StatTimes {
    cpu_ticks: u64,
    start_ticks: u64,
}

/// utime + stime and starttime from /proc/PID/stat (fields 14, 15 and 22; the command name in
/// parentheses may hold spaces, so fields are counted after its closing parenthesis).
fn stat_times(stat: &str) -> Option<StatTimes> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(StatTimes {
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
    })
}

/// The boot time (`btime`, seconds since the epoch) from /proc/stat.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit of "Max open files" in /proc/PID/limits (`None` when unlimited).
fn max_open_files(limits: &str) -> Option<i64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_parsed() {
        assert_eq!(
            status_rss_kib("Name:\tx\nVmRSS:\t   20480 kB\n"),
            Some(20480)
        );
        assert_eq!(status_rss_kib("Name:\tx\n"), None);
        let stat = "42 (tokio (rt) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 \
                    123456 1000 200";
        assert_eq!(
            stat_times(stat),
            Some(StatTimes {
                cpu_ticks: 300,
                start_ticks: 123456
            })
        );
        assert_eq!(stat_times("42 (x) S 1"), None);
        assert_eq!(stat_times("no name at all"), None);
        assert_eq!(boot_time("cpu 1 2 3\nbtime 1764800000\n"), Some(1764800000));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1048576              1048576              files\n";
        assert_eq!(max_open_files(limits), Some(1048576));
        assert_eq!(
            max_open_files("Max open files            unlimited            unlimited files"),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_refresh_reads_this_process() {
        let mut registry = Registry::default();
        let m = ProcessMetrics::register(&mut registry);
        m.refresh();
        assert!(m.resident.get() > 1024 * 1024, "{}", m.resident.get());
        assert!(m.open_fds.get() >= 3);
        // 0 when the limit is unlimited.
        assert!(m.max_fds.get() == 0 || m.max_fds.get() >= m.open_fds.get());
        assert!(m.start_time.get() > 1_600_000_000);
    }
}
