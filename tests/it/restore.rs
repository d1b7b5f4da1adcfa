//! Restores from a backup: the object comes back with a new uid and without its status (backup
//! tools such as Velero do not restore status), carrying the annotations it had, among them the
//! pending marker that names the object it was written on. Real operator binary, real
//! apiserver, the simulator.

use crate::common;

use std::time::Duration;

use appauth_operator::api::GatewayApp;
use common::objects::{Ns, events, setup};
use common::operator::Operator;
use common::sim::credentials_work;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

/// What a backup keeps of an object: its metadata without what the apiserver assigns, and its
/// spec; no status.
fn backed_up<K: serde::Serialize + serde::de::DeserializeOwned>(obj: &K, name: &str) -> K {
    let mut value = serde_json::to_value(obj).expect("JSON");
    let meta = value["metadata"].as_object_mut().expect("metadata");
    for field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        meta.remove(field);
    }
    meta.insert("name".into(), json!(name));
    value.as_object_mut().expect("object").remove("status");
    serde_json::from_value(value).expect("restored object")
}

fn marker_object(app: &GatewayApp) -> Option<String> {
    let marker = app
        .metadata
        .annotations
        .as_ref()?
        .get("appauth.hwcloud.dev/pending")?;
    let value: Value = serde_json::from_str(marker).ok()?;
    value["object"].as_str().map(str::to_string)
}

async fn restore(ns: &Ns, app: &GatewayApp, name: &str) -> GatewayApp {
    ns.apps()
        .create(&PostParams::default(), &backed_up(app, name))
        .await
        .unwrap_or_else(|e| panic!("restore {name}: {e}"))
}

/// An object restored from a backup finds the app made for the object it was backed up from
/// (by the name and fingerprint its marker records: no fourth write per app was needed for
/// it), takes over its restored Secret, and delivers working credentials; a restore of the
/// restored object finds the app again. A copy restored while the original lives is refused.
#[tokio::test]
async fn a_restored_object_finds_its_app_by_its_marker() {
    let (ns, sim) = setup("restore-marker").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--allow-adoption", "true"]);
    ns.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "deletionPolicy": "Retain"}),
    )
    .await;
    let original = ns.wait_ready("app", T).await;
    let id = original.status.clone().unwrap().app_id.unwrap();
    assert!(
        !original
            .metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .contains_key("appauth.hwcloud.dev/app-id"),
        "the app id is not mirrored: the marker alone must do"
    );
    assert_eq!(marker_object(&original), original.metadata.uid);
    let secret = ns.secret("app").await.expect("Secret");

    // A copy of the backup while the original lives: the app is held.
    restore(&ns, &original, "copy").await;
    ns.wait_reason("copy", "AlreadyManaged", T).await;
    ns.delete("copy").await;
    ns.wait_gone("copy", T).await;
    assert!(sim.app(&id).is_some(), "deleting the copy kept the app");

    // The namespace is lost (Retain kept the cloud app), then restored: object and Secret.
    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    ns.secrets()
        .delete("app", &Default::default())
        .await
        .expect("delete the Secret");
    let restored_secret: Secret = backed_up(&secret, "app");
    ns.secrets()
        .create(&PostParams::default(), &restored_secret)
        .await
        .expect("restore the Secret");
    restore(&ns, &original, "app").await;
    let back = ns.wait_ready("app", T).await;
    assert_eq!(
        back.status.clone().unwrap().app_id.as_deref(),
        Some(id.as_str())
    );
    assert_ne!(back.metadata.uid, original.metadata.uid, "a new object");
    assert_eq!(sim.apps("apig").len(), 1, "found its app, made none");
    let delivered = ns.secret("app").await.expect("Secret");
    assert_eq!(
        delivered
            .metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .get("appauth.hwcloud.dev/owner-uid"),
        back.metadata.uid.as_ref(),
        "the restored Secret was taken over"
    );
    let (key, value) = common::objects::creds(&ns, "app").await;
    assert!(credentials_work(&sim.url(), &key, &value).await);
    assert!(!events(&ns, "Adopted").await.is_empty());

    // The marker now names the restored object: restoring it in turn finds the app again.
    let back = common::wait::until(T, "the marker moved to the restored object", || async {
        let app = ns.get("app").await?;
        (marker_object(&app) == app.metadata.uid).then_some(app)
    })
    .await;
    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    restore(&ns, &back, "app").await;
    let again = ns.wait_ready("app", T).await;
    assert_eq!(
        again.status.unwrap().app_id.as_deref(),
        Some(id.as_str()),
        "the second restore found the app"
    );
    assert_eq!(sim.apps("apig").len(), 1, "still one app");
}

/// Binding a restored object to an existing app is an adoption: where none is permitted the
/// restore stops at NotPermitted and nothing is created in the cloud.
#[tokio::test]
async fn a_restore_needs_adoption_permitted() {
    let (ns, sim) = setup("restore-refused").await;
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "deletionPolicy": "Retain"}),
    )
    .await;
    let original = ns.wait_ready("app", T).await;
    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    restore(&ns, &original, "app").await;
    let refused = ns.wait_reason("app", "NotPermitted", T).await;
    assert!(refused.status.unwrap().app_id.is_none());
    // A fresh object beside it is created (the operator is working), the restore still not.
    ns.create("fresh", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    ns.wait_ready("fresh", T).await;
    assert_eq!(
        sim.apps("apig").len(),
        2,
        "the original's and the fresh one"
    );
    assert_eq!(
        Ns::ready(&ns.get("app").await.unwrap()).map(|(_, r)| r),
        Some("NotPermitted".to_string())
    );
}
