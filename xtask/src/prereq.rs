//! Prerequisites, checked before any long step: each missing one is named with what to do,
//! all at once, instead of a failure twenty minutes into a build.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Result, bail};

/// What was found on this machine.
#[derive(Debug, Clone)]
pub struct Observed {
    /// `go env GOVERSION`, e.g. "go1.26.8"; None when Go is not on PATH.
    pub go: Option<String>,
    /// The highest `go` directive of the tool modules, e.g. "1.26.0".
    pub go_needed: String,
    pub python: Python,
    /// Commands the scripts run that were not found on PATH.
    pub missing_commands: Vec<&'static str>,
    /// Free bytes where the caches and target/ live, and what a build there still needs.
    pub disks: Vec<Disk>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Python {
    Missing,
    /// Older than the SDK lock (tests/sdk/requirements.lock) was resolved for.
    TooOld,
    NoVenv,
    Ready,
}

#[derive(Debug, Clone)]
pub struct Disk {
    pub path: String,
    pub free: u64,
    pub needed: u64,
}

const GIB: u64 = 1 << 30;

/// What each command is for, and the Debian package that brings it.
const COMMANDS: &[(&str, &str, &str)] = &[
    ("cc", "C compiler for ring and jemalloc", "gcc"),
    ("make", "jemalloc's build", "make"),
    (
        "openssl",
        "the local control plane's certificates",
        "openssl",
    ),
    ("curl", "health checks of the local control plane", "curl"),
    (
        "setsid",
        "starting the control plane detached",
        "util-linux",
    ),
];

/// The problems, each with what to do; empty when everything is there.
pub fn problems(o: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    match &o.go {
        None => out.push(format!(
            "Go is not on PATH: install Go {} or newer (the tool modules under tools/ need it)",
            o.go_needed
        )),
        Some(have) if version(have) < version(&o.go_needed) => out.push(format!(
            "Go {} is too old: the tool modules under tools/ need Go {} or newer (the build never \
             downloads a toolchain of its own)",
            have.trim_start_matches("go"),
            o.go_needed
        )),
        Some(_) => {}
    }
    match o.python {
        Python::Missing => out.push(
            "python3 is not on PATH: install Python 3 (the SDK conformance tests run in a venv)"
                .to_string(),
        ),
        Python::TooOld => out.push(
            "python3 is older than 3.11, which the SDK tests' lock (tests/sdk/requirements.lock) \
             is resolved for: install Python 3.11 or newer as python3"
                .to_string(),
        ),
        Python::NoVenv => out.push(
            "python3 cannot create virtual environments: install its venv module (Debian: \
             apt-get install python3-venv)"
                .to_string(),
        ),
        Python::Ready => {}
    }
    for name in &o.missing_commands {
        let (_, why, package) = COMMANDS
            .iter()
            .find(|(cmd, _, _)| cmd == name)
            .copied()
            .unwrap_or((name, "the build", name));
        out.push(format!(
            "`{name}` is not on PATH ({why}): install it (Debian: apt-get install {package})"
        ));
    }
    for disk in &o.disks {
        if disk.free < disk.needed {
            out.push(format!(
                "{}: {:.1} GiB free, the build needs about {:.0} GiB there: free some space or \
                 point APPAUTH_CACHE / CARGO_TARGET_DIR elsewhere",
                disk.path,
                disk.free as f64 / GIB as f64,
                disk.needed as f64 / GIB as f64
            ));
        }
    }
    out
}

/// "go1.26.8" or "1.26" -> [1, 26, 8] / [1, 26, 0]; a pre-release suffix is ignored.
fn version(s: &str) -> [u32; 3] {
    let mut out = [0; 3];
    let digits = s.trim_start_matches("go");
    for (slot, part) in out.iter_mut().zip(digits.split('.')) {
        let num: String = part.chars().take_while(char::is_ascii_digit).collect();
        *slot = num.parse().unwrap_or(0);
    }
    out
}

pub(crate) fn on_path(cmd: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|dir| dir.join(cmd).is_file())
}

fn python() -> Python {
    let check = "import sys\nif sys.version_info < (3, 11): sys.exit(3)\nimport venv, ensurepip";
    let status = Command::new("python3")
        .args(["-c", check])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Err(_) => Python::Missing,
        Ok(s) if s.success() => Python::Ready,
        Ok(s) if s.code() == Some(3) => Python::TooOld,
        Ok(_) => Python::NoVenv,
    }
}

/// Free bytes on the file system holding `path` (or its nearest existing parent).
fn free_bytes(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let out = Command::new("df").arg("-Pk").arg(existing).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The `go` directive of a go.mod, read as text (Go itself may be missing).
fn go_directive(go_mod: &str) -> Option<String> {
    go_mod
        .lines()
        .find_map(|l| l.strip_prefix("go ").map(|v| v.trim().to_string()))
}

/// Looks at this machine. What is built already lowers the disk needed: measured on a cold run
/// of `cargo xtask test`, the Go module and build caches and the tools take about 5.5 GiB,
/// target/ about 11 GiB.
pub fn observe(root: &Path, cache: &Path, tools_cached: bool) -> Observed {
    let go_needed = std::fs::read_dir(root.join("tools"))
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("go.mod")).ok())
        .filter_map(|m| go_directive(&m))
        .max_by_key(|v| version(v))
        .unwrap_or_else(|| "1.26.0".to_string());
    let go = crate::tools::go_version().ok();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target_needed = if target.join("debug").exists() { 2 } else { 12 };
    let disks = [
        (cache.to_path_buf(), if tools_cached { 1 } else { 6 }),
        (target, target_needed),
    ]
    .into_iter()
    .filter_map(|(path, gib)| {
        Some(Disk {
            free: free_bytes(&path)?,
            path: path.display().to_string(),
            needed: gib * GIB,
        })
    })
    .collect();
    Observed {
        go,
        go_needed,
        python: python(),
        missing_commands: COMMANDS
            .iter()
            .map(|(cmd, _, _)| *cmd)
            .filter(|cmd| !on_path(cmd))
            .collect(),
        disks,
    }
}

/// Fails with every problem listed, or returns quietly.
pub fn check(o: &Observed) -> Result<()> {
    let found = problems(o);
    if found.is_empty() {
        return Ok(());
    }
    bail!(
        "missing prerequisites:\n  - {}\n(README.md, Prerequisites)",
        found.join("\n  - ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> Observed {
        Observed {
            go: Some("go1.26.8".to_string()),
            go_needed: "1.26.0".to_string(),
            python: Python::Ready,
            missing_commands: Vec::new(),
            disks: vec![Disk {
                path: "/cache".to_string(),
                free: 20 * GIB,
                needed: 6 * GIB,
            }],
        }
    }

    #[test]
    fn each_missing_prerequisite_is_named_with_what_to_do() {
        type Case = (&'static str, fn(&mut Observed), Option<&'static str>);
        let cases: &[Case] = &[
            ("all there", |_| {}, None),
            ("no go", |o| o.go = None, Some("install Go 1.26.0 or newer")),
            (
                "old go",
                |o| o.go = Some("go1.25.9".to_string()),
                Some("Go 1.25.9 is too old"),
            ),
            (
                "newer minor is fine",
                |o| o.go = Some("go1.27rc1".to_string()),
                None,
            ),
            (
                "older patch of the needed minor",
                |o| o.go_needed = "1.26.9".to_string(),
                Some("need Go 1.26.9"),
            ),
            (
                "no python",
                |o| o.python = Python::Missing,
                Some("python3 is not on PATH"),
            ),
            (
                "old python",
                |o| o.python = Python::TooOld,
                Some("older than 3.11"),
            ),
            (
                "no venv",
                |o| o.python = Python::NoVenv,
                Some("apt-get install python3-venv"),
            ),
            (
                "no make",
                |o| o.missing_commands = vec!["make"],
                Some("`make` is not on PATH (jemalloc's build)"),
            ),
            (
                "little disk",
                |o| o.disks[0].free = GIB,
                Some("/cache: 1.0 GiB free, the build needs about 6 GiB"),
            ),
        ];
        for (name, change, want) in cases {
            let mut o = ready();
            change(&mut o);
            let found = problems(&o);
            match want {
                None => assert!(found.is_empty(), "{name}: {found:?}"),
                Some(want) => assert!(
                    found.len() == 1 && found[0].contains(want),
                    "{name}: want one problem containing {want:?}, got {found:?}"
                ),
            }
        }
    }

    #[test]
    fn all_problems_are_reported_together() {
        let mut o = ready();
        o.go = None;
        o.python = Python::NoVenv;
        o.missing_commands = vec!["openssl", "curl"];
        let err = check(&o).unwrap_err().to_string();
        assert_eq!(err.matches("\n  - ").count(), 4, "{err}");
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version("go1.26.10") > version("go1.26.9"));
        assert_eq!(version("1.26"), [1, 26, 0]);
        assert_eq!(
            go_directive("module x\n\ngo 1.26.0\n").as_deref(),
            Some("1.26.0")
        );
    }
}
