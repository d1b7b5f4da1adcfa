//! A real node beside the local control plane: containerd, runc and the CNI plugins under a
//! kubelet and a kube-scheduler, with the images loaded from archives (nothing is pulled).
//! `scripts/node-up.sh` starts it and `scripts/node-down.sh` (run by `cluster-down.sh`) stops
//! it and restores the host.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::images::Images;

/// The bridge address Pods reach the host (apiserver, simulator) on, and their subnet.
pub const NODE_ADDRESS: &str = "10.213.0.1/24";

/// The operator image's second tag: the same image under another name, the "new version" a
/// `helm upgrade` test rolls the Deployment to.
pub const NEXT_TAG: &str = "next";

/// Installs the node's Debian packages at their pinned versions (a no-op when they are there).
pub fn install_packages(root: &Path) -> Result<()> {
    crate::check(Command::new(root.join("xtask/scripts/node-packages.sh")).arg("install"))
        .context("the node's Debian packages (xtask/node/packages.txt)")
}

/// Starts the node for the control plane in `dir` and loads the images into it.
pub fn start(root: &Path, dir: &Path, bin: &Path, images: &Images) -> Result<()> {
    let pause = images
        .pause
        .refs
        .first()
        .context("the pause image has no name")?;
    crate::check(
        Command::new(root.join("xtask/scripts/node-up.sh"))
            .arg(dir)
            .arg(bin)
            .arg(&images.pause.archive)
            .arg(pause),
    )?;
    let address = env_value(dir, "CONTAINERD_ADDRESS")?;
    for image in [&images.operator, &images.simulator] {
        crate::check(
            Command::new(bin.join("ctr"))
                .args(["--address", &address, "-n", "k8s.io", "images", "import"])
                .arg(&image.archive)
                .stdout(std::process::Stdio::null()),
        )
        .with_context(|| format!("loading {} into the node", image.archive.display()))?;
    }
    Ok(())
}

/// The bridge a node makes (`cluster-up.sh`), named with the directory of its control plane.
const BRIDGE: &str = "appauth0";

/// Before a node starts: a bridge left by a node whose processes all ended (the run was killed,
/// or the machine restarted) is cleared by stopping that control plane, which restores the host
/// from its records. A node still running, or still starting, is an error naming its directory.
pub fn clear_stale_node() -> Result<()> {
    let sys = Path::new("/sys/class/net").join(BRIDGE);
    let Ok(alias) = std::fs::read_to_string(sys.join("ifalias")) else {
        return Ok(());
    };
    let owner = Path::new(alias.trim());
    let pids = owner.join("pids");
    let recorded = std::fs::read_to_string(&pids).ok();
    let Some(recorded) = recorded.filter(|_| !alias.trim().is_empty()) else {
        bail!(
            "the bridge {BRIDGE} exists but records no control plane still on disk; \
             if no local node runs, remove it with `ip link delete {BRIDGE}`"
        );
    };
    if recorded.trim().is_empty() {
        bail!(
            "a local node is starting in {} (its processes are not recorded yet); if that start \
             was killed, stop it with `cargo xtask down --dir {0}`",
            owner.display()
        );
    }
    if let Some(name) = running_process(owner, &recorded) {
        bail!(
            "another local node runs ({name} of {}): stop it with `cargo xtask down --dir {0}`",
            owner.display()
        );
    }
    eprintln!(
        "xtask: the node of {} left its bridge but none of its processes runs; \
         restoring the host from its records",
        owner.display()
    );
    // None of those pids is the node's any more (some may be other programs now): the scripts
    // must signal nothing, only restore the host and remove the bridge.
    std::fs::write(&pids, "").with_context(|| format!("clearing {}", pids.display()))?;
    crate::down(owner)?;
    if sys.exists() {
        bail!(
            "the bridge {BRIDGE} is still there after stopping {}",
            owner.display()
        );
    }
    Ok(())
}

/// The name of a process recorded in DIR/pids that still runs as that control plane's: every
/// process a control plane starts has its directory in its arguments (a pid alone may have
/// been reused since).
fn running_process(dir: &Path, recorded: &str) -> Option<String> {
    let dir = dir.as_os_str().as_encoded_bytes();
    recorded
        .lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(_, pid)| {
            std::fs::read(format!("/proc/{}/cmdline", pid.trim()))
                .is_ok_and(|cmdline| cmdline.windows(dir.len()).any(|w| w == dir))
        })
        .map(|(name, _)| name.to_string())
}

/// What the node tests read: the bridge address and the images' names.
pub fn test_env(dir: &Path, images: &Images) -> Result<Vec<(&'static str, String)>> {
    let operator = images
        .operator
        .refs
        .first()
        .context("operator image name")?;
    let next = images
        .operator
        .refs
        .iter()
        .find(|r| r.ends_with(&format!(":{NEXT_TAG}")))
        .context("the operator image's second tag")?;
    Ok(vec![
        ("APPAUTH_TEST_NODE_IP", env_value(dir, "NODE_IP")?),
        ("APPAUTH_TEST_OPERATOR_IMAGE", operator.clone()),
        ("APPAUTH_TEST_OPERATOR_IMAGE_NEXT", next.clone()),
        (
            "APPAUTH_TEST_SIMULATOR_IMAGE",
            images
                .simulator
                .refs
                .first()
                .context("simulator image name")?
                .clone(),
        ),
    ])
}

/// One `KEY=value` line of the `env` file the scripts write into the state directory.
pub fn env_value(dir: &Path, key: &str) -> Result<String> {
    let path = dir.join("env");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    match text
        .lines()
        .rev()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| *k == key)
    {
        Some((_, v)) => Ok(v.to_string()),
        None => bail!("{} has no {key}", path.display()),
    }
}

/// What a node may change on the host, read before it starts and again after it stopped: the
/// two must be equal (`node-down.sh` restores or removes all of it).
#[derive(Debug, PartialEq)]
pub struct HostState(Vec<(String, String)>);

/// Where `up` keeps the host's state from before the node, for `down` to compare.
const BEFORE: &str = "host-before-node.json";

/// Records the host's state in the control plane's directory, before the node starts.
pub fn record_host(dir: &Path) -> Result<()> {
    let json = serde_json::to_string(&HostState::read().0)?;
    std::fs::write(dir.join(BEFORE), json).context("recording the host's state")
}

/// After the node stopped: an error naming everything that is not as it was.
pub fn check_host_restored(dir: &Path) -> Result<()> {
    let Ok(json) = std::fs::read_to_string(dir.join(BEFORE)) else {
        return Ok(());
    };
    let before = HostState(serde_json::from_str(&json).context("reading the host's state")?);
    let changes = HostState::read().changes_since(&before);
    if !changes.is_empty() {
        bail!(
            "the node left the host changed:\n  {}",
            changes.join("\n  ")
        );
    }
    let _ = std::fs::remove_file(dir.join(BEFORE));
    Ok(())
}

/// The sysctls the kubelet and the bridge set.
const SYSCTLS: &[&str] = &[
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
];

/// Places the kubelet, containerd and the CNI plugins create things in.
const PATHS: &[&str] = &[
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/run/containerd",
    "/var/run/netns",
    "/var/lib/cni",
];

impl HostState {
    pub fn read() -> HostState {
        let mut items = Vec::new();
        for key in SYSCTLS {
            let value = std::fs::read_to_string(Path::new("/proc/sys").join(key))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|e| format!("unreadable: {e}"));
            items.push((format!("sysctl {key}"), value));
        }
        for path in PATHS {
            items.push((format!("path {path}"), Path::new(path).exists().to_string()));
        }
        for (what, program, args) in [
            ("iptables", "iptables-save", &[][..]),
            ("ip6tables", "ip6tables-save", &[][..]),
            ("network namespaces", "ip", &["netns", "list"][..]),
            ("links", "ip", &["-br", "link"][..]),
        ] {
            items.push((what.to_string(), rules(program, args)));
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mounts.lines().filter_map(|l| l.split(' ').nth(4)).collect();
        points.sort();
        items.push(("mounts".to_string(), points.join("\n")));
        let kubepods = std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|c| c.path().join("kubepods").exists())
            .map(|c| c.file_name().to_string_lossy().to_string())
            .collect::<Vec<_>>();
        items.push(("kubepods cgroups".to_string(), kubepods.join(",")));
        HostState(items)
    }

    /// What differs from `before`, one line each; empty when the host is as it was.
    pub fn changes_since(&self, before: &HostState) -> Vec<String> {
        if before.0.len() != self.0.len() {
            return vec!["the host state was recorded by another version of xtask".to_string()];
        }
        before
            .0
            .iter()
            .zip(&self.0)
            .filter(|(b, a)| b != a)
            .map(|((what, b), (_, a))| format!("{what}: was {b:?}, now {a:?}"))
            .collect()
    }
}

fn rules(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    if program.ends_with("tables-save") {
        effective_rules(&out)
    } else {
        out
    }
}

/// iptables-save's output without what does not filter anything: comments, packet counters,
/// and tables that hold no rule, no chain of their own and only ACCEPT policies (with the nft
/// backend such a table, once made, stays listed).
fn effective_rules(saved: &str) -> String {
    let mut out = Vec::new();
    let mut table: Vec<String> = Vec::new();
    let mut effective = false;
    for line in saved.lines().filter(|l| !l.starts_with('#')) {
        let line = match line.split_once(" [") {
            Some((chain, _)) if line.starts_with(':') => chain,
            _ => line,
        };
        if line.starts_with('*') {
            table = vec![line.to_string()];
            effective = false;
        } else if line == "COMMIT" {
            if effective {
                out.append(&mut table);
                out.push(line.to_string());
            }
            table.clear();
        } else {
            let builtin_accept = line.starts_with(':') && line.ends_with(" ACCEPT");
            effective |= !builtin_accept;
            table.push(line.to_string());
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_that_filter_nothing_are_left_out() {
        let empty_mangle =
            "# Generated\n*mangle\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [1:2]\nCOMMIT\n";
        let kubelet_chain =
            "*mangle\n:PREROUTING ACCEPT [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n";
        let dnat = "*nat\n:OUTPUT ACCEPT [3:4]\n-A OUTPUT -d 10.0.0.1/32 -j DNAT\nCOMMIT\n";
        let drop_policy = "*filter\n:FORWARD DROP [0:0]\nCOMMIT\n";
        for (saved, effective) in [
            ("", ""),
            (empty_mangle, ""),
            (
                kubelet_chain,
                "*mangle\n:PREROUTING ACCEPT\n:KUBE-KUBELET-CANARY -\nCOMMIT",
            ),
            (
                dnat,
                "*nat\n:OUTPUT ACCEPT\n-A OUTPUT -d 10.0.0.1/32 -j DNAT\nCOMMIT",
            ),
            (drop_policy, "*filter\n:FORWARD DROP\nCOMMIT"),
        ] {
            assert_eq!(effective_rules(saved), effective, "{saved}");
        }
    }

    #[test]
    fn a_changed_item_is_named_with_both_values() {
        let before = HostState(vec![("sysctl kernel/panic".into(), "1".into())]);
        let after = HostState(vec![("sysctl kernel/panic".into(), "10".into())]);
        assert_eq!(
            after.changes_since(&before),
            ["sysctl kernel/panic: was \"1\", now \"10\""]
        );
        assert!(before.changes_since(&before).is_empty());
    }
}
