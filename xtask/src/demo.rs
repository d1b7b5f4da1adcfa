//! `cargo xtask demo`: the operator against the Huawei Cloud simulator on a local control
//! plane, with `examples/` applied. Two modes:
//! - processes (the default, quick): the operator and the simulator run as processes here;
//! - Pods (`--pods`): a real node, the images built offline, and the chart installed the way a
//!   user evaluates the operator without cloud credentials (the simulator as a second container
//!   of the operator's Pod).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::{
    SIM_ACCESS_KEY, SIM_PROJECT, SIM_SECRET_KEY, cargo_locked, check, free_port, images, kubectl,
    node, node_prerequisites, root, start_recorded, up, up_with_node,
};

const DEMO_NS: &str = "appauth-demo";
const SYSTEM_NS: &str = "appauth-system";

pub fn demo(dir: &Path, pods: bool) -> Result<()> {
    let bin = if pods {
        let images = node_prerequisites()?;
        let bin = up_with_node(dir, Some(&images))?;
        install_chart(&bin, dir, &images)?;
        bin
    } else {
        let bin = up(dir)?;
        start_processes(dir)?;
        bin
    };
    apply_examples(&bin, dir)?;
    if pods {
        println!(
            "\nThe operator and the simulator run in Pods on node {} (namespace {SYSTEM_NS}).",
            node::env_value(dir, "NODE_NAME")?
        );
    }
    println!(
        "Logs are in {}.\nexport KUBECONFIG={}\nstop everything with: cargo xtask down",
        dir.display(),
        dir.join("kubeconfig").display()
    );
    Ok(())
}

/// The simulator and the operator as processes on loopback.
fn start_processes(dir: &Path) -> Result<()> {
    eprintln!("xtask: building the operator and the simulator");
    check(cargo_locked("build").args(["-p", "appauth-operator", "-p", "hwcloud-sim"]))?;
    let target = root().join("target/debug");
    let sim_port = free_port()?;
    let sim_url = format!("http://127.0.0.1:{sim_port}");
    start_recorded(
        dir,
        "hwcloud-sim",
        Command::new(target.join("hwcloud-sim"))
            .args(["--listen", &format!("127.0.0.1:{sim_port}")]),
    )?;
    let mut operator = Command::new(target.join("appauth-operator"));
    operator
        .args(["run", "--region", "cn-north-4", "--project-id", SIM_PROJECT])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port()?)])
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("HWCLOUD_ACCESS_KEY", SIM_ACCESS_KEY)
        .env("HWCLOUD_SECRET_KEY", SIM_SECRET_KEY);
    for service in ["iam", "apig", "modelarts", "dataarts", "roma"] {
        operator
            .arg("--endpoint")
            .arg(format!("{service}={sim_url}"));
    }
    start_recorded(dir, "appauth-operator", &mut operator)?;
    println!("The simulator listens on {sim_url}.");
    Ok(())
}

/// `helm install` of the chart with the built images and the simulator beside the operator.
fn install_chart(bin: &Path, dir: &Path, images: &images::Images) -> Result<()> {
    let (operator_repo, operator_tag) = split(&images.operator)?;
    let (sim_repo, sim_tag) = split(&images.simulator)?;
    let chart: PathBuf = root().join("charts/appauth-operator");
    check(
        Command::new(bin.join("helm"))
            .env("KUBECONFIG", dir.join("kubeconfig"))
            .args(["install", "appauth-operator"])
            .arg(chart)
            .args([
                "-n",
                SYSTEM_NS,
                "--create-namespace",
                "--wait",
                "--timeout",
                "180s",
            ])
            .args([
                "--set",
                &format!("image.repository={operator_repo},image.tag={operator_tag}"),
                "--set",
                "image.pullPolicy=Never,simulator.enabled=true,simulator.image.pullPolicy=Never",
                "--set",
                &format!("simulator.image.repository={sim_repo},simulator.image.tag={sim_tag}"),
            ]),
    )?;
    check(kubectl(bin, dir).args(["get", "pods", "-n", SYSTEM_NS, "-o", "wide"]))
}

/// An image's repository and tag, from the name it is run by (images always carry a tag).
fn split(image: &images::Image) -> Result<(&str, &str)> {
    image
        .refs
        .first()
        .and_then(|name| name.rsplit_once(':'))
        .with_context(|| format!("{} carries no tagged name", image.archive.display()))
}

/// Runs `cmd` with `input` on its stdin.
fn apply_stdin(cmd: &mut Command, input: &str) -> Result<()> {
    use std::io::Write;
    let mut child = cmd.stdin(std::process::Stdio::piped()).spawn()?;
    child
        .stdin
        .take()
        .context("kubectl's stdin")?
        .write_all(input.as_bytes())?;
    let status = child.wait()?;
    anyhow::ensure!(status.success(), "{:?} failed: {status}", cmd.get_program());
    Ok(())
}

/// An example as the demo applies it. Examples hold placeholders where users put their own
/// account's keys; against the simulator those become its test account.
fn for_the_simulator(text: &str) -> String {
    text.split("\n---")
        .map(|doc| {
            if !doc
                .lines()
                .any(|l| l.trim_start().starts_with("accessKey:"))
            {
                return doc.to_string();
            }
            doc.lines()
                .map(|line| {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    [
                        ("accessKey:", SIM_ACCESS_KEY),
                        ("secretKey:", SIM_SECRET_KEY),
                        ("projectId:", SIM_PROJECT),
                    ]
                    .iter()
                    .find(|(key, _)| line.trim_start().starts_with(key))
                    .map_or_else(|| line.to_string(), |(key, v)| format!("{indent}{key} {v}"))
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n---")
}

/// Applies `examples/` into the demo namespace, waits for Ready and shows the result.
fn apply_examples(bin: &Path, dir: &Path) -> Result<()> {
    let examples = root().join("examples");
    check(kubectl(bin, dir).args(["create", "namespace", DEMO_NS]))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&examples)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    println!("The account example's placeholder keys become the simulator's test account.");
    for path in &files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if name.ends_with(".yaml") && !name.starts_with("invalid") {
            let manifest = for_the_simulator(&std::fs::read_to_string(path)?);
            apply_stdin(
                kubectl(bin, dir).args(["apply", "--server-side", "-n", DEMO_NS, "-f", "-"]),
                &manifest,
            )
            .with_context(|| format!("applying {name}"))?;
        }
    }
    println!("\nThe invalid example is rejected at admission:");
    let _ = kubectl(bin, dir)
        .args(["apply", "-n", DEMO_NS, "-f"])
        .arg(examples.join("invalid-gatewayapp.yaml"))
        .status();
    println!("\nWaiting for the GatewayApps, then the InferenceApi, to become Ready...");
    for kind in ["gatewayapps", "inferenceapis"] {
        check(kubectl(bin, dir).args([
            "wait",
            "-n",
            DEMO_NS,
            "--for=condition=Ready",
            "--timeout=90s",
            kind,
            "--all",
        ]))?;
    }
    println!();
    check(kubectl(bin, dir).args(["get", "appauth", "-n", DEMO_NS]))?;
    println!("\nSecret key names (values are never printed):");
    let template = r#"{{range .items}}{{.metadata.name}}:{{range $k, $v := .data}} {{$k}}{{end}}{{"\n"}}{{end}}"#;
    check(
        kubectl(bin, dir)
            .args([
                "get",
                "secrets",
                "-n",
                DEMO_NS,
                "-l",
                "app.kubernetes.io/managed-by=appauth-operator",
                "-o",
            ])
            .arg(format!("go-template={template}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every example as the demo applies it: an account Secret holds keys the simulator knows,
    /// with their project (a key and a project of different accounts are refused).
    #[test]
    fn account_secrets_get_the_simulators_test_account() {
        let mut accounts = 0;
        for entry in std::fs::read_dir(root().join("examples")).expect("examples/") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("example");
            for doc in for_the_simulator(&text).split("\n---") {
                let value = |key: &str| {
                    doc.lines()
                        .find_map(|l| l.trim().strip_prefix(key))
                        .map(|v| v.trim().trim_matches('"').to_string())
                };
                let Some(access_key) = value("accessKey:") else {
                    continue;
                };
                accounts += 1;
                let got = (access_key, value("secretKey:"), value("projectId:"));
                let want = (
                    SIM_ACCESS_KEY.to_string(),
                    Some(SIM_SECRET_KEY.to_string()),
                    Some(SIM_PROJECT.to_string()),
                );
                assert_eq!(got, want, "{}", path.display());
            }
        }
        assert!(accounts >= 1, "an example brings an account Secret");
    }
}
