//! GatewayApp behaviour beyond the happy path (SPEC §3.2-§3.8), against the real apiserver,
//! the real operator binary and the simulator.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use appauth_operator::cloud::apig::AppInput;
use common::objects::{Ns, creds, events, setup};
use common::operator::Operator;
use common::sim::{Sim, credentials_work};
use common::{cloud, wait};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_secret_edited_or_deleted_by_hand_is_restored_promptly() {
    let (ns, sim) = setup("restore").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "10m"]);
    ns.create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    ns.wait_ready("app", T).await;
    let (key, secret) = creds(&ns, "app").await;

    let tamper = json!({"data": {"app_secret": "dGFtcGVyZWQ=", "someone_else": "eA=="}});
    ns.secrets()
        .patch("app", &PatchParams::default(), &Patch::Merge(tamper))
        .await
        .expect("edit");
    wait::until(
        Duration::from_secs(10),
        "edited Secret restored (long before the 10m resync)",
        || async {
            let (_, s) = creds(&ns, "app").await;
            (s == secret).then_some(())
        },
    )
    .await;
    let restored = ns.secret("app").await.expect("Secret");
    assert_eq!(
        Ns::value(&restored, "someone_else").as_deref(),
        Some("x"),
        "keys others add survive"
    );

    ns.secrets()
        .delete("app", &DeleteParams::default())
        .await
        .expect("delete Secret");
    wait::until(
        Duration::from_secs(10),
        "deleted Secret restored",
        || async { ns.secret("app").await.map(|_| ()) },
    )
    .await;
    let (k2, s2) = creds(&ns, "app").await;
    assert_eq!((k2.as_str(), s2.as_str()), (key.as_str(), secret.as_str()));
    assert_eq!(sim.apps("apig").len(), 1);
}

#[tokio::test]
async fn an_app_deleted_in_the_cloud_is_recreated_with_new_credentials() {
    let (ns, sim) = setup("drift").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "2s"]);
    ns.create(
        "app",
        json!({"roma": {"instanceId": "r1"}, "description": "d1"}),
    )
    .await;
    let first = ns
        .wait_ready("app", T)
        .await
        .status
        .expect("status")
        .app_id
        .expect("id");
    cloud::client(&sim.url())
        .roma("r1")
        .delete(&first)
        .await
        .expect("delete behind the operator's back");
    let app = wait::until(T, "recreated", || async {
        let app = ns.get("app").await?;
        let id = app.status.as_ref()?.app_id.clone()?;
        (id != first && Ns::ready(&app)?.0 == "True").then_some(app)
    })
    .await;
    let second = app.status.expect("status").app_id.expect("id");
    assert_eq!(sim.apps("roma").len(), 1);
    let (key, secret) = creds(&ns, "app").await;
    assert!(credentials_work(&sim.url(), &key, &secret).await);
    assert_eq!(
        sim.app(&second).expect("new app")["remark"]
            .as_str()
            .map(|r| r.starts_with("d1 [appauth:")),
        Some(true)
    );
    assert!(
        !events(&ns, "Recreating").await.is_empty(),
        "an Event says so"
    );

    // A description change is pushed to the cloud (fingerprint kept).
    ns.patch("app", json!({"spec": {"description": "d2"}}))
        .await;
    wait::until(T, "description pushed", || async {
        sim.app(&second)?["remark"]
            .as_str()?
            .starts_with("d2 [appauth:")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn rotation_by_annotation_and_by_interval() {
    let (ns, sim) = setup("rotate").await;
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "rotation": {"interval": "1h"}}),
    )
    .await;
    ns.wait_ready("app", T).await;
    let (key, first) = creds(&ns, "app").await;

    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/rotate": "2026-11-22"}}}),
    )
    .await;
    wait::until(T, "rotation recorded", || async {
        let app = ns.get("app").await?;
        (app.status
            .as_ref()?
            .rotation
            .as_ref()?
            .last_token
            .as_deref()
            == Some("2026-11-22"))
        .then_some(app)
    })
    .await;
    let (_, second) = creds(&ns, "app").await;
    assert_ne!(
        first, second,
        "new secret delivered before the rotation is recorded"
    );
    assert!(credentials_work(&sim.url(), &key, &second).await);
    assert!(
        !credentials_work(&sim.url(), &key, &first).await,
        "the old secret stops working at once"
    );
    wait::until(T, "rotating marker cleared", || async {
        let app = ns.get("app").await?;
        (!app
            .annotations()
            .contains_key("appauth.hwcloud.dev/rotating"))
        .then_some(())
    })
    .await;

    // Interval: pretend the last rotation was two hours ago.
    let old = (chrono::Utc::now() - chrono::Duration::hours(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let patch = json!({"status": {"rotation": {"lastTime": old}}});
    ns.apps()
        .patch_status("app", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("status patch");
    wait::until(T, "interval rotation", || async {
        let (_, third) = creds(&ns, "app").await;
        (third != second).then_some(())
    })
    .await;

    // DataArts cannot reset: Ready stays True, with a Warning Event.
    ns.create("da", json!({"dataarts": {"workspaceId": "w1"}}))
        .await;
    ns.wait_ready("da", T).await;
    ns.patch(
        "da",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/rotate": "x"}}}),
    )
    .await;
    wait::until(T, "RotationUnsupported", || async {
        (!events(&ns, "RotationUnsupported").await.is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        Ns::ready(&ns.get("da").await.expect("da"))
            .map(|r| r.0)
            .as_deref(),
        Some("True")
    );
}

#[tokio::test]
async fn pause_stops_cloud_calls_and_deleting_a_paused_object_detaches_it() {
    let (ns, sim) = setup("pause").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "10m"]);
    ns.create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    ns.wait_ready("app", T).await;
    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/paused": "true"}}}),
    )
    .await;
    let app = wait::until(T, "Synced=False Paused", || async {
        let app = ns.get("app").await?;
        app.status
            .as_ref()?
            .conditions
            .iter()
            .any(|c| c.type_ == "Synced" && c.status == "False" && c.reason == "Paused")
            .then_some(app)
    })
    .await;
    assert_eq!(
        Ns::ready(&app).map(|r| r.0).as_deref(),
        Some("True"),
        "Ready keeps its value"
    );
    let before = sim.handle.counts().values().sum::<u64>();
    ns.patch(
        "app",
        json!({"spec": {"description": "changed while paused"}}),
    )
    .await;
    // The reconcile of that change has run once status reports its generation (unpaused, the
    // same change is pushed to the cloud in that reconcile: see below).
    wait::until(T, "the paused change observed", || async {
        let app = ns.get("app").await?;
        (app.status?.observed_generation == app.metadata.generation).then_some(())
    })
    .await;
    assert_eq!(
        sim.handle.counts().values().sum::<u64>(),
        before,
        "no cloud call while paused"
    );
    // Unpaused (the annotation alone), the change made while paused reaches the cloud at once.
    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/paused": null}}}),
    )
    .await;
    wait::until(T, "the paused change pushed once unpaused", || async {
        let remark = sim.apps("apig").first()?["remark"].as_str()?.to_string();
        remark.starts_with("changed while paused").then_some(())
    })
    .await;
    assert!(sim.handle.counts().values().sum::<u64>() > before);
    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/paused": "true"}}}),
    )
    .await;
    wait::until(T, "paused again", || async {
        let app = ns.get("app").await?;
        app.status
            .as_ref()?
            .conditions
            .iter()
            .any(|c| c.type_ == "Synced" && c.reason == "Paused")
            .then_some(())
    })
    .await;
    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    assert_eq!(sim.apps("apig").len(), 1, "detached: the cloud app stays");
    // Events are published off the reconcile path: it may trail the object's removal.
    wait::until(T, "a Detached Event", || async {
        (!events(&ns, "Detached").await.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn name_conflict_then_adoption() {
    let (ns, sim) = setup("adopt").await;
    let existing = cloud::client(&sim.url())
        .apig("gw1")
        .create(&AppInput {
            name: "legacy_app",
            remark: Some("made by hand"),
            ..Default::default()
        })
        .await
        .expect("pre-existing");
    let _op = Operator::start(&ns.name, &sim.url(), &["--allow-adoption", "true"]);
    ns.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "appName": "legacy_app"}),
    )
    .await;
    let app = ns.wait_reason("app", "NameConflict", T).await;
    assert!(
        app.status
            .as_ref()
            .expect("status")
            .conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True")
    );
    assert_eq!(sim.apps("apig").len(), 1, "nothing created");
    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/adopt": "true"}}}),
    )
    .await;
    let app = ns.wait_ready("app", T).await;
    assert_eq!(
        app.status.expect("status").app_id.as_deref(),
        Some(existing.id.as_str())
    );
    assert_eq!(sim.apps("apig").len(), 1);
    let (key, secret) = creds(&ns, "app").await;
    assert!(credentials_work(&sim.url(), &key, &secret).await);

    // A second object naming the same app (e.g. restored with its app-id annotation) is refused.
    ns.create_annotated(
        "claimer",
        json!({"appauth.hwcloud.dev/app-id": existing.id}),
        json!({"apig": {"instanceId": "gw1"}}),
    )
    .await;
    ns.wait_reason("claimer", "AlreadyManaged", T).await;
    // The rightful owner (named by the app's fingerprint) keeps its app when it reconciles.
    ns.patch("app", json!({"spec": {"description": "still mine"}}))
        .await;
    let app = ns.wait_ready("app", T).await;
    assert_eq!(
        Ns::ready(&app).map(|r| r.1).as_deref(),
        Some("Available"),
        "the owner was refused its own app"
    );
    assert_eq!(
        ns.get("claimer")
            .await
            .as_ref()
            .and_then(Ns::ready)
            .map(|r| r.1)
            .as_deref(),
        Some("AlreadyManaged")
    );
}

#[tokio::test]
async fn an_invalid_name_only_the_cloud_rejects_stalls_without_retries() {
    let (ns, sim) = setup("invalid").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "2s"]);
    ns.create("app", json!({"modelarts": {}, "appName": "team/app"}))
        .await;
    let app = ns.wait_reason("app", "InvalidSpec", T).await;
    assert!(
        app.status
            .as_ref()
            .expect("status")
            .conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True")
    );
    let creates = sim.handle.count("modelarts.create");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        sim.handle.count("modelarts.create"),
        creates,
        "no retry until the spec changes"
    );
    assert!(!events(&ns, "InvalidSpec").await.is_empty());
    ns.patch("app", json!({"spec": {"appName": "team_app"}}))
        .await;
    ns.wait_ready("app", T).await;
    assert_eq!(sim.apps("modelarts").len(), 1);
}

#[tokio::test]
async fn quota_exceeded_then_freed() {
    let (ns, sim) = setup("quota").await;
    sim.handle
        .set_config(json!({"modelarts_quota": 2}))
        .expect("config");
    let _op = Operator::start(&ns.name, &sim.url(), &["--quota-backoff", "1s"]);
    ns.create("a", json!({"modelarts": {}})).await;
    ns.create("b", json!({"modelarts": {}})).await;
    ns.wait_ready("a", T).await;
    ns.wait_ready("b", T).await;
    ns.create("c", json!({"modelarts": {}})).await;
    let c = ns.wait_reason("c", "QuotaExceeded", T).await;
    assert!(
        c.status
            .as_ref()
            .expect("status")
            .conditions
            .iter()
            .any(|c| c.type_ == "Reconciling" && c.status == "True"),
        "recoverable"
    );
    ns.delete("a").await;
    ns.wait_ready("c", Duration::from_secs(60)).await;
    assert_eq!(sim.apps("modelarts").len(), 2);
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    let (ns, sim) = setup("throttle").await;
    sim.handle
        .add_fault(
            hwcloud_sim::FaultSpec::new("apig", "create")
                .status(429)
                .retry_after(1)
                .times(2),
        )
        .expect("fault");
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    ns.wait_ready("app", T).await;
    assert_eq!(sim.handle.count("apig.create"), 3);
    assert_eq!(sim.apps("apig").len(), 1);
}

/// A `credentialsFrom` Secret with the given key, secret and labels.
async fn create_source(ns: &Ns, name: &str, key: &str, secret: &str, labels: &[(&str, &str)]) {
    let source = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            ("app_key".to_string(), ByteString(key.as_bytes().to_vec())),
            (
                "app_secret".to_string(),
                ByteString(secret.as_bytes().to_vec()),
            ),
        ])),
        ..Default::default()
    };
    ns.secrets()
        .create(&PostParams::default(), &source)
        .await
        .expect("source Secret");
}

/// Sets a new secret in the `credentialsFrom` Secret `source`; waits until the cloud app takes it
/// and the operator delivers it in `target`.
async fn rotate_source(ns: &Ns, sim: &Sim, source: &str, key: &str, secret: &str, target: &str) {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
    let patch = json!({"data": {"app_secret": encoded}});
    ns.secrets()
        .patch(source, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("rotate source");
    wait::until(T, "the new source secret pushed to the cloud", || async {
        credentials_work(&sim.url(), key, secret)
            .await
            .then_some(())
    })
    .await;
    wait::until(T, "the new secret delivered", || async {
        let s = ns.secret(target).await?;
        (Ns::value(&s, "app_secret").as_deref() == Some(secret)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn generated_and_from_secret_credentials_and_app_codes() {
    let (ns, sim) = setup("modes").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "2s"]);
    ns.create(
        "gen",
        json!({"apig": {"instanceId": "gw1"}, "credentials": "Generated", "appCode": true}),
    )
    .await;
    ns.wait_ready("gen", T).await;
    let s = ns.secret("gen").await.expect("Secret");
    let (key, secret) = (
        Ns::value(&s, "app_key").expect("key"),
        Ns::value(&s, "app_secret").expect("secret"),
    );
    let cloud_app = sim.apps("apig").into_iter().next().expect("app");
    assert_eq!(
        cloud_app["key"].as_str(),
        Some(key.as_str()),
        "the operator chose the key"
    );
    assert!(credentials_work(&sim.url(), &key, &secret).await);
    assert!(
        Ns::value(&s, "app_code").is_some_and(|c| c.len() >= 64),
        "AppCode delivered"
    );

    create_source(&ns, "byo", "byo-roma-key-1", "Byo-secret.0001", &[]).await;
    ns.create("byo", json!({"roma": {"instanceId": "r1"}, "credentials": "FromSecret", "credentialsFrom": {"name": "byo"}, "secret": {"name": "byo-out"}})).await;
    ns.wait_ready("byo", T).await;
    assert!(credentials_work(&sim.url(), "byo-roma-key-1", "Byo-secret.0001").await);
    // A change of the source is pushed to the cloud.
    rotate_source(
        &ns,
        &sim,
        "byo",
        "byo-roma-key-1",
        "Byo-secret.0002",
        "byo-out",
    )
    .await;
}

/// A `credentialsFrom` Secret labelled `appauth.hwcloud.dev/credentials-source` is watched: a
/// change reaches the cloud and the target Secret at once, not at the next resync (1 h here).
#[tokio::test]
async fn a_labelled_credentials_source_is_pushed_at_once() {
    let (ns, sim) = setup("byo-watch").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "1h"]);
    let label = ("appauth.hwcloud.dev/credentials-source", "true");
    create_source(
        &ns,
        "src",
        "byo-apig-key-01",
        "Byo-apig-secret_01",
        &[label],
    )
    .await;
    ns.create(
        "byo",
        json!({"apig": {"instanceId": "gw1"}, "credentials": "FromSecret", "credentialsFrom": {"name": "src"}}),
    )
    .await;
    ns.wait_ready("byo", T).await;
    assert!(credentials_work(&sim.url(), "byo-apig-key-01", "Byo-apig-secret_01").await);
    rotate_source(
        &ns,
        &sim,
        "src",
        "byo-apig-key-01",
        "Byo-apig-secret_02",
        "byo",
    )
    .await;
    assert_eq!(sim.handle.count("apig.create"), 1);
}

#[tokio::test]
async fn secret_rename_key_change_and_foreign_secret() {
    let (ns, sim) = setup("secret").await;
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    let foreign = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("taken".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    ns.secrets()
        .create(&PostParams::default(), &foreign)
        .await
        .expect("foreign Secret");
    ns.create(
        "clash",
        json!({"apig": {"instanceId": "gw1"}, "secret": {"name": "taken"}}),
    )
    .await;
    ns.wait_reason("clash", "SecretConflict", T).await;
    assert!(sim.apps("apig").is_empty(), "nothing created in the cloud");
    assert!(
        ns.secret("taken")
            .await
            .expect("still there")
            .data
            .is_none(),
        "never overwritten"
    );

    ns.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "secret": {"name": "first"}}),
    )
    .await;
    ns.wait_ready("app", T).await;
    // New key names in the same Secret: the old keys go.
    ns.patch(
        "app",
        json!({"spec": {"secret": {"name": "first", "keys": {"appKey": "AK", "appSecret": "SK"}}}}),
    )
    .await;
    wait::until(T, "keys renamed in place", || async {
        let s = ns.secret("first").await?;
        let keys: Vec<String> = s.data?.into_keys().collect();
        (keys == ["AK", "SK", "app_id"]).then_some(())
    })
    .await;
    ns.patch("app", json!({"spec": {"secret": {"name": "second", "keys": {"appKey": "AK", "appSecret": "SK"}}}})).await;
    wait::until(T, "renamed", || async {
        let app = ns.get("app").await?;
        (app.status.as_ref()?.secret_name.as_deref() == Some("second")
            && ns.secret("first").await.is_none())
        .then_some(())
    })
    .await;
    let s = ns.secret("second").await.expect("new Secret");
    let keys: Vec<String> = s.data.unwrap_or_default().into_keys().collect();
    assert_eq!(
        keys,
        vec!["AK".to_string(), "SK".to_string(), "app_id".to_string()]
    );
}

#[tokio::test]
async fn account_ref_and_account_change() {
    let (ns, sim) = setup("account").await;
    sim.handle
        .add_account(hwcloud_sim::Account::new(
            "OTHERAK0000000000001",
            "other-sk-00000000000000",
            "p2p2p2p2p2p2p2p2p2p2p2p2p2p2p2p2",
        ))
        .expect("account");
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    let account = |project: &str, ak: &str, sk: &str| Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("acct".into()),
            labels: Some(BTreeMap::from([(
                "appauth.hwcloud.dev/account".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([
            ("accessKey".to_string(), ak.to_string()),
            ("secretKey".to_string(), sk.to_string()),
            ("region".to_string(), "cn-north-4".to_string()),
            ("projectId".to_string(), project.to_string()),
        ])),
        ..Default::default()
    };
    ns.secrets()
        .create(
            &PostParams::default(),
            &account(
                "p2p2p2p2p2p2p2p2p2p2p2p2p2p2p2p2",
                "OTHERAK0000000000001",
                "other-sk-00000000000000",
            ),
        )
        .await
        .expect("account Secret");
    ns.create(
        "app",
        json!({"dataarts": {"workspaceId": "w1"}, "accountRef": {"name": "acct"}}),
    )
    .await;
    let app = ns.wait_ready("app", T).await;
    assert_eq!(
        app.status.as_ref().expect("status").project.as_deref(),
        Some("p2p2p2p2p2p2p2p2p2p2p2p2p2p2p2p2")
    );
    assert_eq!(
        sim.apps("dataarts")[0]["project"],
        "p2p2p2p2p2p2p2p2p2p2p2p2p2p2p2p2"
    );
    let acct = ns.secret("acct").await.expect("account");
    assert!(
        acct.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"appauth.hwcloud.dev/in-use".to_string())
    );

    // Point the account elsewhere: nothing is recreated.
    let patch = json!({"stringData": {"projectId": common::operator::PROJECT, "accessKey": common::operator::AK, "secretKey": common::operator::SK}});
    ns.secrets()
        .patch("acct", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("change account");
    ns.wait_reason("app", "AccountChanged", T).await;
    assert_eq!(sim.apps("dataarts").len(), 1);

    // Retain and delete: the finalizers go, the account Secret is released.
    ns.patch("app", json!({"spec": {"deletionPolicy": "Retain"}}))
        .await;
    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    wait::until(T, "in-use finalizer released", || async {
        let acct = ns.secret("acct").await?;
        (!acct
            .metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == "appauth.hwcloud.dev/in-use"))
        .then_some(())
    })
    .await;
}
