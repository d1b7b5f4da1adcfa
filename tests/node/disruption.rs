//! Evicting the operator's Pods respects its PodDisruptionBudget: one at a time.

use std::time::Duration;

use kube::api::EvictParams;
use serde_json::json;

use crate::support::{NodeSim, Release, SERIAL};

const T: Duration = Duration::from_secs(120);

#[tokio::test]
async fn eviction_takes_one_pod_at_a_time_as_the_disruption_budget_says() {
    let _one = SERIAL.lock().await;
    let sim = NodeSim::start("pdb");
    let release = Release::install(
        "pdb",
        &sim,
        2,
        json!({"podDisruptionBudget": {"enabled": true, "maxUnavailable": 1}}),
    )
    .await;
    let pods = release.wait_ready_pods(2, T).await;
    let names: Vec<String> = pods.iter().filter_map(|p| p.metadata.name.clone()).collect();
    let api = release.pods_api();
    // The budget's status is the disruption controller's: until it has counted the Pods, every
    // eviction is refused.
    crate::common::wait::until(T, "the budget allows one disruption", || async {
        let pdbs: kube::Api<k8s_openapi::api::policy::v1::PodDisruptionBudget> =
            kube::Api::namespaced(release.work.client.clone(), &release.system);
        let list = pdbs.list(&Default::default()).await.ok()?;
        list.items
            .first()?
            .status
            .as_ref()
            .filter(|s| s.disruptions_allowed == Some(1))
            .map(|_| ())
    })
    .await;

    // The first eviction is allowed: the budget has one disruption to give.
    api.evict(&names[0], &EvictParams::default())
        .await
        .unwrap_or_else(|e| panic!("evicting {}: {e}", names[0]));
    // The second, while the first Pod's replacement is not Ready, is refused (429).
    let refused = api
        .evict(&names[1], &EvictParams::default())
        .await
        .expect_err("a second eviction would break the budget");
    match &refused {
        kube::Error::Api(e) => assert_eq!(e.code, 429, "{e:?}"),
        other => panic!("unexpected error {other}"),
    }
    // Once the replacement is Ready, the other Pod may go too.
    release.wait_ready_pods(2, T).await;
    crate::common::wait::until(T, "the second eviction allowed", || async {
        api.evict(&names[1], &EvictParams::default()).await.ok().map(|_| ())
    })
    .await;
    release.cleanup().await;
}
