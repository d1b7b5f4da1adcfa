//! The Go tools the tests and the demo run, each built from its own module under `tools/`
//! (a committed go.mod and go.sum: every version and checksum fixed) into a cache directory
//! keyed by a hash of that module's files and of how it is built. A changed module rebuilds
//! that tool alone; an unchanged one is reused; a new tool rebuilds nothing else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One binary built from `tools/<dir>`: the module's single `tool` directive names the package.
pub struct Tool {
    pub name: &'static str,
    pub tags: &'static str,
    /// The `-X` flags its upstream release sets, from the module's resolved versions.
    pub version_flags: fn(&GoMod) -> Result<Vec<String>>,
}

/// Every tool, in build order (the largest first: its modules and packages warm the caches the
/// next Kubernetes binaries share).
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "kube-apiserver",
        tags: "selinux,notest,grpcnotrace",
        version_flags: kubernetes_flags,
    },
    Tool {
        name: "kube-controller-manager",
        tags: "selinux,notest,grpcnotrace",
        version_flags: kubernetes_flags,
    },
    Tool {
        name: "kubectl",
        tags: "selinux,notest,grpcnotrace",
        version_flags: kubernetes_flags,
    },
    Tool {
        name: "etcd",
        tags: "",
        version_flags: etcd_flags,
    },
    Tool {
        name: "helm",
        tags: "",
        version_flags: helm_flags,
    },
    Tool {
        name: "kubelet",
        tags: "selinux,notest,grpcnotrace",
        version_flags: kubernetes_flags,
    },
    Tool {
        name: "kube-scheduler",
        tags: "selinux,notest,grpcnotrace",
        version_flags: kubernetes_flags,
    },
    Tool {
        name: "containerd",
        tags: "no_btrfs,no_devmapper,no_zfs",
        version_flags: containerd_flags,
    },
    Tool {
        name: "containerd-shim-runc-v2",
        tags: "no_btrfs,no_devmapper,no_zfs",
        version_flags: containerd_flags,
    },
    Tool {
        name: "ctr",
        tags: "no_btrfs,no_devmapper,no_zfs",
        version_flags: containerd_flags,
    },
    Tool {
        name: "kstatus",
        tags: "",
        version_flags: |_| Ok(Vec::new()),
    },
    // For the alert rules' unit tests only: without the service-discovery plugins (and their
    // cloud SDKs), which `promtool test rules` never uses.
    Tool {
        name: "promtool",
        tags: "remove_all_sd",
        version_flags: promtool_flags,
    },
];

/// What `go mod edit -json` says of a module: its requirements and its tool directives.
pub struct GoMod {
    pub requires: BTreeMap<String, String>,
    pub tools: Vec<String>,
}

impl GoMod {
    pub fn parse(json: &str) -> Result<GoMod> {
        let v: Value = serde_json::from_str(json).context("go mod edit -json printed no JSON")?;
        let strings = |key: &str, field: &str| -> Vec<(String, String)> {
            v[key]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| {
                            let path = item["Path"].as_str()?;
                            Some((path.to_string(), item[field].as_str()?.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut requires: BTreeMap<String, String> =
            strings("Require", "Version").into_iter().collect();
        // A replaced module builds at the replacement's version.
        for item in v["Replace"].as_array().into_iter().flatten() {
            if let (Some(old), Some(new)) = (item["Old"]["Path"].as_str(), item["New"].as_object())
                && let Some(version) = new.get("Version").and_then(Value::as_str)
            {
                requires.insert(old.to_string(), version.to_string());
            }
        }
        Ok(GoMod {
            requires,
            tools: v["Tool"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["Path"].as_str().map(str::to_string))
                .collect(),
        })
    }

    pub fn version(&self, module: &str) -> Result<&str> {
        self.requires
            .get(module)
            .map(String::as_str)
            .with_context(|| format!("go.mod requires no {module}"))
    }
}

/// `v1.36.4` -> ("1", "36").
fn major_minor(version: &str) -> Result<(&str, &str)> {
    let mut parts = version.trim_start_matches('v').split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) if !major.is_empty() && !minor.is_empty() => Ok((major, minor)),
        _ => bail!("not a semantic version: {version}"),
    }
}

/// As Kubernetes' hack/lib/version.sh sets them, so `--version` and the discovery API report
/// the real version instead of v0.0.0.
fn kubernetes_flags(m: &GoMod) -> Result<Vec<String>> {
    let version = m.version("k8s.io/kubernetes")?;
    let (major, minor) = major_minor(version)?;
    let mut flags = Vec::new();
    for pkg in [
        "k8s.io/component-base/version",
        "k8s.io/client-go/pkg/version",
    ] {
        flags.extend([
            format!("{pkg}.gitVersion={version}"),
            format!("{pkg}.gitMajor={major}"),
            format!("{pkg}.gitMinor={minor}"),
            format!("{pkg}.gitTreeState=clean"),
            format!("{pkg}.buildDate=2000-01-01T00:00:00Z"),
        ]);
    }
    Ok(flags)
}

/// As containerd's Makefile sets them, so `containerd --version` names the pinned release.
fn containerd_flags(m: &GoMod) -> Result<Vec<String>> {
    let version = m.version("github.com/containerd/containerd/v2")?;
    Ok(vec![
        format!("github.com/containerd/containerd/v2/version.Version={version}"),
        "github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2"
            .to_string(),
    ])
}

fn etcd_flags(m: &GoMod) -> Result<Vec<String>> {
    m.version("go.etcd.io/etcd/server/v3")?;
    Ok(Vec::new())
}

/// As Prometheus's release build sets it: module v0.MMm.p is Prometheus M.mm.p (v0.316.0 is
/// 3.16.0).
fn promtool_flags(m: &GoMod) -> Result<Vec<String>> {
    let module = m.version("github.com/prometheus/prometheus")?;
    let (_, minor) = major_minor(module)?;
    let patch = module.rsplit('.').next().unwrap_or("0");
    let minor: u32 = minor.parse().context("prometheus module minor version")?;
    Ok(vec![format!(
        "github.com/prometheus/common/version.Version={}.{}.{patch}",
        minor / 100,
        minor % 100
    )])
}

/// As helm's Makefile sets them: its version, and the default Kubernetes version (used for
/// `kubeVersion` checks when no cluster is asked) from the client-go it is built with.
fn helm_flags(m: &GoMod) -> Result<Vec<String>> {
    let version = m.version("helm.sh/helm/v3")?;
    let (client_major, minor) = major_minor(m.version("k8s.io/client-go")?)?;
    // client-go v0.N.x goes with Kubernetes v1.N.
    let major = client_major
        .parse::<u32>()
        .context("client-go major version")?
        + 1;
    let mut flags = vec![
        format!("helm.sh/helm/v3/internal/version.version={version}"),
        "helm.sh/helm/v3/internal/version.gitTreeState=clean".to_string(),
    ];
    for pkg in [
        "helm.sh/helm/v3/pkg/lint/rules",
        "helm.sh/helm/v3/pkg/chartutil",
    ] {
        flags.push(format!("{pkg}.k8sVersionMajor={major}"));
        flags.push(format!("{pkg}.k8sVersionMinor={minor}"));
    }
    Ok(flags)
}

/// The environment of every Go command: the local toolchain only (never a downloaded one),
/// no cgo, and `-mod=readonly`, so a build that would change go.mod or go.sum, or resolve a
/// version they do not pin, fails instead.
pub fn go_env() -> [(&'static str, &'static str); 4] {
    [
        ("GOTOOLCHAIN", "local"),
        ("CGO_ENABLED", "0"),
        ("GOFLAGS", "-mod=readonly -buildvcs=false"),
        ("GOWORK", "off"),
    ]
}

pub fn go(dir: &Path) -> Command {
    let mut cmd = Command::new("go");
    cmd.current_dir(dir).envs(go_env());
    cmd
}

pub fn read_go_mod(dir: &Path) -> Result<GoMod> {
    let out = go(dir)
        .args(["mod", "edit", "-json"])
        .output()
        .with_context(|| format!("running go mod edit -json in {}", dir.display()))?;
    if !out.status.success() {
        bail!(
            "go mod edit -json in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    GoMod::parse(&String::from_utf8_lossy(&out.stdout))
}

/// The go build command line for a tool (without the output path).
pub fn build_args(tool: &Tool, m: &GoMod) -> Result<Vec<String>> {
    let [package] = m.tools.as_slice() else {
        bail!(
            "tools/{}/go.mod must name exactly one tool, it names {:?}",
            tool.name,
            m.tools
        );
    };
    let mut ldflags = vec!["-s".to_string(), "-w".to_string()];
    for flag in (tool.version_flags)(m)? {
        ldflags.extend(["-X".to_string(), flag]);
    }
    let mut args = vec!["build".to_string(), "-trimpath".to_string()];
    if !tool.tags.is_empty() {
        args.extend(["-tags".to_string(), tool.tags.to_string()]);
    }
    args.extend(["-ldflags".to_string(), ldflags.join(" ")]);
    args.push(package.clone());
    Ok(args)
}

/// The cache key: every file of the module directory, the build command line and the Go
/// toolchain's version.
pub fn cache_key(dir: &Path, args: &[String], go_version: &str) -> Result<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.is_file());
    files.sort();
    let mut hash = Sha256::new();
    for file in &files {
        hash.update(file.file_name().unwrap_or_default().as_encoded_bytes());
        hash.update([0]);
        hash.update(std::fs::read(file)?);
        hash.update([0]);
    }
    for arg in args {
        hash.update(arg.as_bytes());
        hash.update([0]);
    }
    hash.update(go_version.as_bytes());
    Ok(hex(&hash.finalize()[..8]))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn go_version() -> Result<String> {
    let out = Command::new("go")
        .args(["env", "GOVERSION"])
        .env("GOTOOLCHAIN", "local")
        .output()
        .context("running `go env GOVERSION` (is Go on PATH?)")?;
    if !out.status.success() {
        bail!("go env GOVERSION: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Builds every tool that is not cached yet and returns a directory holding all of them (links
/// into each tool's own cache directory), itself keyed by the tools' keys.
pub fn build_all(root: &Path, cache: &Path) -> Result<PathBuf> {
    let go_version = go_version()?;
    let mut built = Vec::new();
    for (i, tool) in TOOLS.iter().enumerate() {
        let dir = root.join("tools").join(tool.name);
        let module = read_go_mod(&dir)?;
        let args = build_args(tool, &module)?;
        let key = cache_key(&dir, &args, &go_version)?;
        let out_dir = cache.join("tools").join(format!("{}-{key}", tool.name));
        let bin = out_dir.join(tool.name);
        if !out_dir.join(".done").is_file() || !bin.is_file() {
            let step = format!("{} ({} of {})", tool.name, i + 1, TOOLS.len());
            build_one(tool.name, &step, &dir, &args, &out_dir)?;
        }
        built.push((tool.name, key, bin));
    }
    let set_key = hex(&Sha256::digest(
        built
            .iter()
            .map(|(name, key, _)| format!("{name}-{key}\n"))
            .collect::<String>(),
    )[..8]);
    let bin_dir = cache.join("testbin").join(set_key);
    if !bin_dir.join(".done").is_file() {
        let _ = std::fs::remove_dir_all(&bin_dir);
        std::fs::create_dir_all(&bin_dir)?;
        for (name, _, bin) in &built {
            std::os::unix::fs::symlink(bin, bin_dir.join(name))
                .with_context(|| format!("linking {name} into {}", bin_dir.display()))?;
        }
        std::fs::write(bin_dir.join(".done"), "")?;
    }
    Ok(bin_dir)
}

/// One `go build`, its output into a temporary directory renamed into place when it succeeds
/// (an interrupted build is never taken for a finished one). Go's own output goes to a log;
/// meanwhile a line each minute says what is being built and for how long.
fn build_one(tool: &str, step: &str, dir: &Path, args: &[String], out_dir: &Path) -> Result<()> {
    let parent = out_dir.parent().context("tool cache directory")?;
    std::fs::create_dir_all(parent)?;
    let stem = format!(
        ".{}.tmp.",
        out_dir.file_name().unwrap_or_default().to_string_lossy()
    );
    // What a failed or interrupted earlier build left (its log was shown then); a build still
    // running in another process keeps its directory.
    for entry in std::fs::read_dir(parent)?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(pid) = name.strip_prefix(&stem)
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let tmp = parent.join(format!("{stem}{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let log_path = tmp.join("build.log");
    let log = std::fs::File::create(&log_path)?;
    let sums_before = module_files_hash(dir)?;
    eprintln!(
        "xtask: building {step} from its pinned module in tools/{} (a line each minute while \
         it runs; Go's output goes to {})",
        dir.file_name().unwrap_or_default().to_string_lossy(),
        log_path.display()
    );
    let started = Instant::now();
    let (package, flags) = args.split_last().context("go build arguments")?;
    let mut child = go(dir)
        .args(flags)
        .arg("-o")
        .arg(tmp.join(tool))
        .arg(package)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting go build")?;
    let mut next_report = Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= next_report {
            let downloads = std::fs::read_to_string(&log_path)
                .map(|s| s.matches("go: downloading").count())
                .unwrap_or(0);
            let fetched = match downloads {
                0 => String::new(),
                n => format!(", {n} modules downloaded so far"),
            };
            eprintln!(
                "xtask: still building {step}: {} min{fetched}",
                next_report.as_secs() / 60
            );
            next_report += Duration::from_secs(60);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    if module_files_hash(dir)? != sums_before {
        bail!(
            "building {step} changed tools/{}/go.mod or go.sum: the committed module is not \
             complete (run `go mod tidy` there and commit the result)",
            dir.display()
        );
    }
    if !status.success() {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
        bail!(
            "building {step} failed ({status}); log in {}",
            log_path.display()
        );
    }
    std::fs::write(tmp.join(".done"), "")?;
    let _ = std::fs::remove_dir_all(out_dir);
    std::fs::rename(&tmp, out_dir)
        .with_context(|| format!("moving the build into {}", out_dir.display()))?;
    eprintln!(
        "xtask: built {step} in {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

fn module_files_hash(dir: &Path) -> Result<Vec<u8>> {
    let mut hash = Sha256::new();
    for name in ["go.mod", "go.sum"] {
        hash.update(std::fs::read(dir.join(name)).unwrap_or_default());
    }
    Ok(hash.finalize().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELM_MOD: &str = r#"{"Module":{"Path":"local/helm"},"Go":"1.26.0",
        "Require":[{"Path":"helm.sh/helm/v3","Version":"v3.21.4","Indirect":true},
                   {"Path":"k8s.io/client-go","Version":"v0.36.2","Indirect":true}],
        "Tool":[{"Path":"helm.sh/helm/v3/cmd/helm"}]}"#;

    const KUBE_MOD: &str = r#"{"Module":{"Path":"local/kube-apiserver"},"Go":"1.26.0",
        "Require":[{"Path":"k8s.io/kubernetes","Version":"v1.36.4"},
                   {"Path":"k8s.io/api","Version":"v0.0.0"}],
        "Replace":[{"Old":{"Path":"k8s.io/api"},"New":{"Path":"k8s.io/api","Version":"v0.36.4"}}],
        "Tool":[{"Path":"k8s.io/kubernetes/cmd/kube-apiserver"}]}"#;

    fn tool(name: &str) -> &'static Tool {
        TOOLS.iter().find(|t| t.name == name).expect("known tool")
    }

    #[test]
    fn helm_is_built_with_the_default_kubernetes_version_of_its_client_go() {
        let m = GoMod::parse(HELM_MOD).unwrap();
        let args = build_args(tool("helm"), &m).unwrap();
        let ldflags = &args[args.iter().position(|a| a == "-ldflags").unwrap() + 1];
        for want in [
            "helm.sh/helm/v3/internal/version.version=v3.21.4",
            "helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1",
            "helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=36",
            "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=36",
        ] {
            assert!(ldflags.contains(want), "{want} missing from {ldflags}");
        }
        assert_eq!(args.last().unwrap(), "helm.sh/helm/v3/cmd/helm");
    }

    #[test]
    fn promtool_is_built_without_service_discovery_and_reports_its_release_version() {
        let m = GoMod::parse(
            r#"{"Go":"1.26.7",
            "Require":[{"Path":"github.com/prometheus/prometheus","Version":"v0.316.0"}],
            "Tool":[{"Path":"github.com/prometheus/prometheus/cmd/promtool"}]}"#,
        )
        .unwrap();
        let joined = build_args(tool("promtool"), &m).unwrap().join(" ");
        assert!(joined.contains("-tags remove_all_sd"), "{joined}");
        assert!(
            joined.contains("-X github.com/prometheus/common/version.Version=3.16.0"),
            "{joined}"
        );
    }

    #[test]
    fn kubernetes_binaries_report_their_version_and_replacements_win() {
        let m = GoMod::parse(KUBE_MOD).unwrap();
        assert_eq!(m.version("k8s.io/api").unwrap(), "v0.36.4");
        let args = build_args(tool("kube-apiserver"), &m).unwrap();
        let joined = args.join(" ");
        assert!(joined.contains("k8s.io/component-base/version.gitVersion=v1.36.4"));
        assert!(joined.contains("k8s.io/component-base/version.gitMinor=36"));
        assert!(joined.contains("-tags selinux,notest,grpcnotrace"));
    }

    #[test]
    fn a_module_without_exactly_one_tool_or_a_needed_version_is_refused() {
        let cases = [
            (r#"{"Go":"1.26.0","Tool":[]}"#, "exactly one tool"),
            (
                r#"{"Go":"1.26.0","Tool":[{"Path":"a"},{"Path":"b"}]}"#,
                "exactly one tool",
            ),
            (
                r#"{"Go":"1.26.0","Tool":[{"Path":"helm.sh/helm/v3/cmd/helm"}]}"#,
                "requires no helm.sh/helm/v3",
            ),
        ];
        for (json, want) in cases {
            let m = GoMod::parse(json).unwrap();
            let err = build_args(tool("helm"), &m).unwrap_err().to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
    }

    #[test]
    fn every_go_command_is_read_only_and_uses_the_local_toolchain() {
        let env: BTreeMap<_, _> = go_env().into_iter().collect();
        assert!(env["GOFLAGS"].split(' ').any(|f| f == "-mod=readonly"));
        assert_eq!(env["GOTOOLCHAIN"], "local");
    }

    #[test]
    fn the_cache_key_changes_with_any_file_of_the_module_and_with_the_build() {
        let dir = std::env::temp_dir().join(format!("xtask-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("go.mod"), "module a\n").unwrap();
        std::fs::write(dir.join("go.sum"), "").unwrap();
        let args = vec!["build".to_string()];
        let base = cache_key(&dir, &args, "go1.26.8").unwrap();
        assert_eq!(base, cache_key(&dir, &args, "go1.26.8").unwrap());
        assert_ne!(base, cache_key(&dir, &args, "go1.26.9").unwrap());
        assert_ne!(
            base,
            cache_key(&dir, &["build", "-s"].map(String::from), "go1.26.8").unwrap()
        );
        std::fs::write(dir.join("main.go"), "package main\n").unwrap();
        assert_ne!(base, cache_key(&dir, &args, "go1.26.8").unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The guard itself, on a real Go toolchain: a module whose go.mod does not pin what its
    /// code imports fails to build instead of resolving a version, and go.mod is left as
    /// committed.
    #[test]
    fn a_build_that_would_change_go_mod_fails_and_changes_nothing() {
        let dir = std::env::temp_dir().join(format!("xtask-guard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let go_mod = "module local/guard\n\ngo 1.26.0\n";
        std::fs::write(dir.join("go.mod"), go_mod).unwrap();
        std::fs::write(
            dir.join("main.go"),
            "package main\n\nimport _ \"golang.org/x/mod/semver\"\n\nfunc main() {}\n",
        )
        .unwrap();
        let out = go(&dir)
            .args(["build", "-o", "/dev/null", "."])
            .env("GOPROXY", "off")
            .output()
            .expect("go on PATH");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "the build passed: {stderr}");
        assert!(stderr.contains("disabled by -mod=readonly"), "{stderr}");
        assert_eq!(std::fs::read_to_string(dir.join("go.mod")).unwrap(), go_mod);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_tool_has_a_committed_module_naming_one_tool() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for tool in TOOLS {
            let dir = root.join("tools").join(tool.name);
            for file in ["go.mod", "go.sum"] {
                assert!(
                    dir.join(file).is_file(),
                    "tools/{}/{file} missing",
                    tool.name
                );
            }
        }
    }
}
