use super::*;
use crate::api::{ApigTarget, GatewayAppSpec, SecretTarget};

fn app(policy: DeletionPolicy) -> GatewayApp {
    let mut a = GatewayApp::new(
        "orders",
        GatewayAppSpec {
            apig: Some(ApigTarget {
                instance_id: "gw".into(),
            }),
            deletion_policy: policy,
            ..Default::default()
        },
    );
    a.metadata.namespace = Some("shop".into());
    a.metadata.uid = Some("uid-1".into());
    a
}

fn creds() -> Credentials {
    Credentials {
        app_id: "id1".into(),
        app_key: "key1".into(),
        app_secret: SecretString::from("sec1"),
        app_code: None,
    }
}

#[test]
fn owner_reference_only_under_delete() {
    assert!(
        desired(&app(DeletionPolicy::Delete), &creds())
            .expect("renders")
            .metadata
            .owner_references
            .is_some()
    );
    let retained = desired(&app(DeletionPolicy::Retain), &creds()).expect("renders");
    assert!(retained.metadata.owner_references.is_none());
    assert_eq!(
        retained
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(annotations::OWNER_UID))
            .map(String::as_str),
        Some("uid-1")
    );
}

#[test]
fn classification() {
    let a = app(DeletionPolicy::Delete);
    let s = desired(&a, &creds()).expect("renders");
    assert_eq!(classify(&a, None, "id1"), Existing::Missing);
    assert_eq!(classify(&a, Some(&s), "id1"), Existing::UpToDate);
    let mut edited = s.clone();
    edited
        .data
        .as_mut()
        .expect("data")
        .insert("app_secret".into(), ByteString(b"hand-edit".to_vec()));
    assert_eq!(classify(&a, Some(&edited), "id1"), Existing::Stale);
    let mut extra = s.clone();
    extra
        .data
        .as_mut()
        .expect("data")
        .insert("someone_elses_key".into(), ByteString(b"x".to_vec()));
    assert_eq!(
        classify(&a, Some(&extra), "id1"),
        Existing::UpToDate,
        "keys others add survive"
    );
    let foreign = Secret {
        metadata: ObjectMeta {
            name: Some("orders".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(classify(&a, Some(&foreign), "id1"), Existing::Foreign);
    // Switching the policy makes the ownership stale.
    assert_eq!(
        classify(&app(DeletionPolicy::Retain), Some(&s), "id1"),
        Existing::Stale
    );
    // A Secret retained by an earlier object for the same app is taken over; for another app it is foreign.
    let mut newer = app(DeletionPolicy::Retain);
    newer.metadata.uid = Some("uid-2".into());
    let retained = desired(&app(DeletionPolicy::Retain), &creds()).expect("renders");
    assert_eq!(classify(&newer, Some(&retained), "id1"), Existing::Stale);
    assert_eq!(
        classify(&newer, Some(&retained), "other"),
        Existing::Foreign
    );
    // Custom keys.
    let mut custom = a.clone();
    custom.spec.secret = Some(Box::new(SecretTarget {
        keys: SecretKeys {
            app_key: "k".into(),
            ..Default::default()
        },
        ..Default::default()
    }));
    assert_eq!(classify(&custom, Some(&s), "id1"), Existing::Stale);
}

#[test]
fn templates_are_rendered_kept_current_and_removed() {
    let with = |templates: &[(&str, &str)]| {
        let mut a = app(DeletionPolicy::Delete);
        a.spec.secret = Some(Box::new(SecretTarget {
            template: templates
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }));
        a
    };
    let a = with(&[(".env", "KEY={{ appKey }}"), ("url", "x/{{ appId }}")]);
    let s = desired(&a, &creds()).expect("renders");
    let data = s.data.clone().expect("data");
    assert_eq!(data[".env"].0, b"KEY=key1");
    assert_eq!(data["url"].0, b"x/id1");
    assert_eq!(classify(&a, Some(&s), "id1"), Existing::UpToDate);
    // A hand edit of a rendered key, a changed template, a removed one: stale.
    let mut edited = s.clone();
    edited
        .data
        .as_mut()
        .expect("data")
        .insert("url".into(), ByteString(b"x".to_vec()));
    assert_eq!(classify(&a, Some(&edited), "id1"), Existing::Stale);
    let changed = with(&[(".env", "KEY={{ appKey }}!"), ("url", "x/{{ appId }}")]);
    assert_eq!(classify(&changed, Some(&s), "id1"), Existing::Stale);
    let removed = with(&[(".env", "KEY={{ appKey }}")]);
    assert_eq!(classify(&removed, Some(&s), "id1"), Existing::Stale);
    let rewritten = desired(&removed, &creds()).expect("renders");
    assert!(!rewritten.data.expect("data").contains_key("url"));
    // Staged before the create (no app id yet): the credentials only.
    let staged = Credentials {
        app_id: String::new(),
        ..creds()
    };
    let s = desired(&a, &staged).expect("renders");
    assert!(!s.data.expect("data").contains_key(".env"));
    // A template that fails with the real values fails the write.
    let bad = with(&[("k", "{{ nosuch }}")]);
    assert!(desired(&bad, &creds()).is_err());
}

#[test]
fn credentials_read_back() {
    let a = app(DeletionPolicy::Delete);
    let s = desired(&a, &creds()).expect("renders");
    let (key, secret) = read_credentials(&a, &s).expect("readable");
    assert_eq!((key.as_str(), secret.expose_secret()), ("key1", "sec1"));
}

#[test]
fn intact_credentials_survive_everything_but_an_edit_of_their_values() {
    let a = app(DeletionPolicy::Delete);
    let written = desired(&a, &creds()).expect("renders");
    let mut templated = a.clone();
    templated.spec.secret = Some(Box::new(SecretTarget {
        template: [(".env".to_string(), "K={{ appKey }}".to_string())].into(),
        ..Default::default()
    }));
    let mut relabelled = a.clone();
    relabelled.spec.secret = Some(Box::new(SecretTarget {
        labels: [("team".to_string(), "x".to_string())].into(),
        ..Default::default()
    }));
    let edit = |key: &str| {
        let mut s = written.clone();
        s.data
            .as_mut()
            .expect("data")
            .insert(key.into(), ByteString(b"edited".to_vec()));
        s
    };
    let mut other_owner = a.clone();
    other_owner.metadata.uid = Some("uid-2".into());
    let mut unannotated = written.clone();
    if let Some(a) = unannotated.metadata.annotations.as_mut() {
        a.remove(CREDENTIALS_HASH);
    }
    // (the object now, the Secret, app id, intact?)
    let cases = [
        (&a, &written, "id1", true),
        (&templated, &written, "id1", true),
        (&relabelled, &written, "id1", true),
        (&a, &edit("app_secret"), "id1", false),
        (&a, &edit("app_key"), "id1", false),
        (&a, &edit("someone_elses"), "id1", true),
        (&a, &written, "id2", false),
        (&other_owner, &written, "id1", false),
        (&a, &unannotated, "id1", false),
    ];
    for (i, (obj, secret, id, want)) in cases.into_iter().enumerate() {
        let got = intact_credentials(obj, secret, id);
        assert_eq!(got.is_some(), want, "case {i}");
        if let Some((key, value)) = got {
            assert_eq!((key.as_str(), value.expose_secret()), ("key1", "sec1"));
        }
    }
}

#[test]
fn in_a_shard_the_secret_carries_the_objects_values_of_the_selectors_keys() {
    let keys = crate::controller::shard::selector_keys("shard=a");
    let mut a = app(DeletionPolicy::Delete);
    a.metadata.labels = Some([("shard".to_string(), "a".to_string())].into());
    // A template that sets the selector's key too: the object's value wins, and the Secret
    // written so is up to date (not rewritten at every read).
    a.spec.secret = Some(Box::new(SecretTarget {
        labels: [
            ("shard".to_string(), "x".to_string()),
            ("team".to_string(), "t".to_string()),
        ]
        .into(),
        ..Default::default()
    }));
    let unlabelled = desired(&a, &creds()).expect("renders");
    let mut written = unlabelled.clone();
    crate::controller::shard::label(
        written.metadata.labels.get_or_insert_default(),
        a.metadata.labels.as_ref().unwrap(),
        &keys,
    );
    assert_eq!(written.metadata.labels.as_ref().unwrap()["shard"], "a");
    assert_eq!(
        classify_in_shard(&a, Some(&written), "id1", &keys),
        Existing::UpToDate
    );
    // Written before the split (the template's value, or none): written again.
    assert_eq!(
        classify_in_shard(&a, Some(&unlabelled), "id1", &keys),
        Existing::Stale
    );
    let mut none = written.clone();
    none.metadata.labels.as_mut().unwrap().remove("shard");
    assert_eq!(
        classify_in_shard(&a, Some(&none), "id1", &keys),
        Existing::Stale
    );
    // Without a selector the template's labels are what counts, as before.
    assert_eq!(classify(&a, Some(&unlabelled), "id1"), Existing::UpToDate);
}
