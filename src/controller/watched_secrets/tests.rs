use super::*;
use crate::cloud::Credentials;

fn account(ak: &str) -> Account {
    Account {
        region: "r".into(),
        project_id: "p".into(),
        credentials: Credentials::AkSk {
            access_key: ak.into(),
            secret_key: crate::cloud::SecretString::from("sk".to_string()),
            security_token: None,
        },
    }
}

#[test]
fn an_account_is_reused_only_at_the_version_it_was_read_at() {
    let read = ReadAccounts::default();
    read.remember("ns", "acct", "7", &account("AK1"));
    let cases = [
        ("same version", "ns", "acct", "7", Some("ak:AK1")),
        ("changed since", "ns", "acct", "8", None),
        ("another namespace", "other", "acct", "7", None),
        ("another Secret", "ns", "acct2", "7", None),
    ];
    for (name, ns, secret, version, want) in cases {
        let got = read.at(ns, secret, version).map(|a| a.principal());
        assert_eq!(got.as_deref(), want, "{name}");
    }
    read.forget("ns", "acct");
    assert!(
        read.at("ns", "acct", "7").is_none(),
        "forgotten when deleted"
    );
}

fn secret(name: &str, version: &str) -> PartialObjectMeta<Secret> {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": {
            "name": name, "namespace": "ns", "uid": format!("uid-{name}"),
            "resourceVersion": version,
            "labels": {"app.kubernetes.io/managed-by": "appauth-operator"},
            "finalizers": ["appauth.hwcloud.dev/in-use", "other"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "o"}],
            "annotations": {
                "appauth.hwcloud.dev/owner-uid": "o", "appauth.hwcloud.dev/owner": "app",
                "appauth.hwcloud.dev/app-id": "a", "appauth.hwcloud.dev/content-hash": "h",
            },
        },
    }))
    .expect("metadata")
}

#[test]
fn the_index_keeps_what_its_readers_use() {
    let watched = WatchedSecrets::default();
    watched.relist_started();
    watched.applied(&secret("s", "7"));
    watched.relist_done();
    let got = watched.get("ns", "s").flatten().expect("kept");
    let m = &got.metadata;
    assert_eq!(
        (
            m.name.as_deref(),
            m.namespace.as_deref(),
            m.uid.as_deref(),
            m.resource_version.as_deref()
        ),
        (Some("s"), Some("ns"), Some("uid-s"), Some("7"))
    );
    let annotations: Vec<&str> = m
        .annotations
        .iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        annotations,
        [APP_ID, OWNER_NAME, OWNER_UID],
        "whose it is; not the content hash"
    );
    assert_eq!(m.finalizers, Some(vec![IN_USE_FINALIZER.to_string()]));
    assert!(m.labels.is_none() && m.owner_references.is_none());
}

#[test]
fn the_index_follows_its_watch() {
    let watched = WatchedSecrets::default();
    let version = |w: &WatchedSecrets, name: &str| {
        w.get("ns", name)
            .map(|s| s.map(|m| m.metadata.resource_version.clone().unwrap_or_default()))
    };
    assert_eq!(version(&watched, "a"), None, "before the first list");
    watched.relist_started();
    watched.applied(&secret("a", "1"));
    watched.applied(&secret("b", "1"));
    assert_eq!(version(&watched, "a"), None, "during the first list");
    watched.relist_done();
    assert_eq!(version(&watched, "a"), Some(Some("1".into())));
    watched.applied(&secret("a", "2"));
    assert_eq!(version(&watched, "a"), Some(Some("2".into())), "changed");
    watched.deleted(&secret("a", "3"));
    assert_eq!(version(&watched, "a"), Some(None), "deleted");
    watched.mark_failed();
    assert_eq!(version(&watched, "b"), None, "its watch failed");
    // A re-list after the failure: b is gone meanwhile, c is new.
    watched.relist_started();
    assert_eq!(version(&watched, "b"), None, "during the re-list");
    watched.applied(&secret("c", "4"));
    assert_eq!(version(&watched, "c"), None, "still during the re-list");
    let gone = watched.relist_done();
    assert_eq!(
        gone,
        vec![("ns".to_string(), "b".to_string())],
        "not in the re-list"
    );
    assert_eq!(version(&watched, "b"), Some(None), "gone");
    assert_eq!(version(&watched, "c"), Some(Some("4".into())));
    // A watch that failed, then resumed without a re-list and has seen nothing since:
    // trusted again after the hold.
    watched.mark_failed();
    assert_eq!(version(&watched, "c"), None, "failed just now");
    watched.index().failed = Some(Instant::now() - FAILED_HOLD);
    assert_eq!(
        version(&watched, "c"),
        Some(Some("4".into())),
        "after the hold"
    );
}

#[test]
fn a_create_of_ours_is_trusted_until_the_watch_shows_that_secret() {
    let now = Instant::now();
    let watched = WatchedSecrets::default();
    for (name, shown) in [
        (
            "applied",
            WatchedSecrets::applied as fn(&WatchedSecrets, &_),
        ),
        ("deleted", WatchedSecrets::deleted),
    ] {
        watched.recent.wrote("ns", "a", now);
        watched.recent.wrote("ns", "b", now);
        shown(&watched, &secret("a", "1"));
        assert!(!watched.recent.unseen_write("ns", "a", now), "{name}");
        assert!(
            watched.recent.unseen_write("ns", "b", now),
            "{name}: another Secret"
        );
    }
}

#[test]
fn a_relist_ends_the_trust_in_every_write() {
    let now = Instant::now();
    let watched = WatchedSecrets::default();
    watched.recent.wrote("ns", "a", now);
    assert!(watched.recent.unseen_write("ns", "a", now));
    // The watch broke before it showed "a": whatever happened to it since, the list says.
    watched.relist_started();
    assert!(!watched.recent.unseen_write("ns", "a", now));
    // A write during the re-list is trusted again until the watch shows it.
    watched.recent.wrote("ns", "b", now);
    watched.relist_done();
    assert!(watched.recent.unseen_write("ns", "b", now));
}

#[test]
fn uuids_and_hex_app_ids_come_back_exactly_as_they_were() {
    let uid = "0b9f2c1e-4d3a-4f6b-9e2d-1a2b3c4d5e6f";
    let owner = "00000000-4d3a-4f6b-9e2d-0000000000a1";
    let app = "0833a5737480d53b2f250010d01a7b88";
    let mut s = secret("s", "12");
    s.metadata.uid = Some(uid.into());
    let annotations = s.metadata.annotations.get_or_insert_default();
    annotations.insert(OWNER_UID.into(), owner.into());
    annotations.insert(APP_ID.into(), app.into());
    let watched = WatchedSecrets::default();
    watched.relist_started();
    watched.applied(&s);
    watched.relist_done();
    let got = watched.get("ns", "s").flatten().expect("kept");
    let m = &got.metadata;
    assert_eq!(m.uid.as_deref(), Some(uid));
    let a = m.annotations.as_ref().expect("annotations");
    assert_eq!(a.get(OWNER_UID).map(String::as_str), Some(owner));
    assert_eq!(a.get(APP_ID).map(String::as_str), Some(app));
}
