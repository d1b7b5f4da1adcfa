//! Evicting the operator's Pods respects its PodDisruptionBudget: one at a time. Evictions go
//! through kubectl, as `kubectl drain` sends them (kube-rs' client would retry the 429).

use std::time::Duration;

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use serde_json::json;

use crate::common::wait;
use crate::support::{NodeSim, Release, SERIAL, cli};

const T: Duration = Duration::from_secs(120);

/// POSTs an Eviction for `pod`; Ok on 201, Err with kubectl's message otherwise.
fn evict(release: &Release, pod: &str) -> Result<(), String> {
    let body = json!({
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": pod, "namespace": release.system},
    });
    let path = crate::support::scratch("pdb").join(format!("evict-{pod}.json"));
    std::fs::write(&path, body.to_string()).expect("eviction body");
    let out = cli("kubectl")
        .args([
            "create",
            "--raw",
            &format!("/api/v1/namespaces/{}/pods/{pod}/eviction", release.system),
            "-f",
        ])
        .arg(&path)
        .output()
        .expect("kubectl");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

#[tokio::test]
async fn eviction_takes_one_pod_at_a_time_as_the_disruption_budget_says() {
    let _one = SERIAL.lock().await;
    let sim = NodeSim::start("pdb");
    let release = Release::install(
        "pdb",
        &sim,
        2,
        // A replacement is not Ready for five seconds: the second eviction comes before.
        json!({
            "podDisruptionBudget": {"enabled": true, "maxUnavailable": 1},
            "readinessProbe": {"initialDelaySeconds": 5},
        }),
    )
    .await;
    let pods = release.wait_ready_pods(2, T).await;
    let names: Vec<String> = pods
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    // The budget's status is the disruption controller's: until it has counted the Pods, every
    // eviction is refused.
    let pdbs: Api<PodDisruptionBudget> =
        Api::namespaced(release.work.client.clone(), &release.system);
    wait::until(T, "the budget allows one disruption", || async {
        let list = pdbs.list(&Default::default()).await.ok()?;
        let status = list.items.first()?.status.clone()?;
        (status.disruptions_allowed == Some(1)).then_some(())
    })
    .await;

    // The first eviction is allowed: the budget has one disruption to give.
    evict(&release, &names[0]).unwrap_or_else(|e| panic!("evicting {}: {e}", names[0]));
    // The second, while the first Pod's replacement is not Ready, is refused (429).
    let refused = evict(&release, &names[1]).expect_err("a second eviction breaks the budget");
    assert!(
        refused.contains("TooManyRequests") && refused.contains("disruption budget"),
        "{refused}"
    );
    // Once the replacement is Ready, the other Pod may go too.
    release.wait_ready_pods(2, T).await;
    wait::until(T, "the second eviction allowed", || async {
        evict(&release, &names[1]).ok()
    })
    .await;
    release.cleanup().await;
}
