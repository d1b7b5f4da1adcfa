//! Objects split between two deployments by label selector: each one's Secrets carry its
//! share's label, so each deployment watches (and holds in memory) its own share's Secrets
//! only, and still restores them when they are deleted. Secrets written before the split are
//! relabelled. Real operator binaries, real apiserver, the simulator.

use crate::common;

use std::time::Duration;

use common::objects::{Ns, setup};
use common::operator::Operator;
use common::wait;
use kube::api::DeleteParams;
use serde_json::json;

const T: Duration = Duration::from_secs(30);

fn spec() -> serde_json::Value {
    json!({"apig": {"instanceId": "gw1"}})
}

/// The `shard` label of the object's credentials Secret, once the Secret exists.
async fn secret_shard(ns: &Ns, name: &str) -> Option<String> {
    let secret = ns.secret(name).await?;
    Some(
        secret
            .metadata
            .labels
            .unwrap_or_default()
            .get("shard")
            .cloned()
            .unwrap_or_default(),
    )
}

async fn wait_shard(ns: &Ns, name: &str, shard: &str) {
    wait::until(
        T,
        &format!("{name}'s Secret labelled shard={shard}"),
        || async { (secret_shard(ns, name).await.as_deref() == Some(shard)).then_some(()) },
    )
    .await;
}

/// Deletes the Secret by hand and waits for it to come back with a new uid: within `T`, far
/// shorter than the 10-minute resync, so its watch brought the owner back.
async fn restored(ns: &Ns, name: &str) {
    let old_uid = ns.secret(name).await.expect("Secret").metadata.uid;
    ns.secrets()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("delete Secret {name}: {e}"));
    wait::until(T, &format!("{name}'s Secret restored"), || async {
        let s = ns.secret(name).await?;
        (s.metadata.uid != old_uid && s.metadata.deletion_timestamp.is_none()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn two_deployments_split_the_objects_and_each_watches_its_own_secrets() {
    let (ns, sim) = setup("shards").await;
    let slow_resync = ["--resync-period", "10m"];

    // Before the split: one operator for everything writes a Secret without a shard label.
    let mut unsplit = Operator::start(&ns.name, &sim.url(), &slow_resync);
    ns.create_labelled("old", json!({"shard": "a"}), spec())
        .await;
    ns.wait_ready("old", T).await;
    assert_eq!(secret_shard(&ns, "old").await.as_deref(), Some(""));
    unsplit.kill();

    let a = [slow_resync.as_slice(), &["--label-selector", "shard=a"]].concat();
    let b = [
        slow_resync.as_slice(),
        &["--label-selector", "shard in (b)"],
    ]
    .concat();
    let _a = Operator::start(&ns.name, &sim.url(), &a);
    ns.create_labelled("a1", json!({"shard": "a"}), spec())
        .await;
    ns.create_labelled("b1", json!({"shard": "b"}), spec())
        .await;
    ns.wait_ready("a1", T).await;
    wait_shard(&ns, "a1", "a").await;
    // The Secret written before the split is written again with its share's label.
    wait_shard(&ns, "old", "a").await;
    // b1 is no one's until its deployment starts.
    assert!(ns.get("b1").await.expect("b1").status.is_none());
    let _b = Operator::start(&ns.name, &sim.url(), &b);
    ns.wait_ready("b1", T).await;
    wait_shard(&ns, "b1", "b").await;

    // Each deployment's Secret watch sees its own share's Secrets: a deleted one comes back.
    restored(&ns, "a1").await;
    restored(&ns, "old").await;
    restored(&ns, "b1").await;
    assert_eq!(sim.apps("apig").len(), 3, "one app per object");
}
