//! The credentials Secret: what it should hold, and whether the one in the cluster
//! is ours and up to date. Pure; the controller does the IO.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sha2::{Digest, Sha256};

use crate::api::{
    DeletionPolicy, GatewayApp, MANAGED_BY_LABEL, MANAGED_BY_VALUE, SecretKeys, annotations,
};
use crate::cloud::{ExposeSecret, SecretString};

/// Annotation naming the owning object (for mapping Secret events to it).
pub const OWNER_NAME: &str = "appauth.hwcloud.dev/owner";
/// SHA-256 of the data this operator wrote, to notice hand edits.
pub const CONTENT_HASH: &str = "appauth.hwcloud.dev/content-hash";

/// The credential values to deliver.
pub struct Credentials {
    pub app_id: String,
    pub app_key: String,
    pub app_secret: SecretString,
    pub app_code: Option<SecretString>,
}

pub fn secret_name(app: &GatewayApp) -> String {
    app.spec
        .secret
        .as_ref()
        .and_then(|s| s.name.clone())
        .unwrap_or_else(|| app.metadata.name.clone().unwrap_or_default())
}

pub fn keys(app: &GatewayApp) -> SecretKeys {
    app.spec
        .secret
        .as_ref()
        .map(|s| s.keys.clone())
        .unwrap_or_default()
}

fn data(app: &GatewayApp, creds: &Credentials) -> BTreeMap<String, ByteString> {
    let keys = keys(app);
    let mut data = BTreeMap::new();
    data.insert(keys.app_key, ByteString(creds.app_key.as_bytes().to_vec()));
    data.insert(
        keys.app_secret,
        ByteString(creds.app_secret.expose_secret().as_bytes().to_vec()),
    );
    data.insert(keys.app_id, ByteString(creds.app_id.as_bytes().to_vec()));
    if let Some(code) = &creds.app_code {
        data.insert(
            keys.app_code,
            ByteString(code.expose_secret().as_bytes().to_vec()),
        );
    }
    data
}

/// Hash of the given keys' values in `data` (missing keys hash as absent).
pub fn content_hash(data: &BTreeMap<String, ByteString>, keys: &[&str]) -> String {
    let mut h = Sha256::new();
    for key in keys {
        h.update(key.as_bytes());
        match data.get(*key) {
            Some(v) => {
                h.update([1]);
                h.update((v.0.len() as u64).to_be_bytes());
                h.update(&v.0);
            }
            None => h.update([0]),
        }
    }
    hex::encode(h.finalize())
}

fn our_keys(app: &GatewayApp) -> Vec<String> {
    let keys = keys(app);
    let mut v = vec![keys.app_key, keys.app_secret, keys.app_id];
    if app.spec.app_code {
        v.push(keys.app_code);
    }
    v
}

/// The Secret to server-side apply.
pub fn desired(app: &GatewayApp, creds: &Credentials) -> Secret {
    let data = data(app, creds);
    let keys = our_keys(app);
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let uid = app.metadata.uid.clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = app
        .spec
        .secret
        .as_ref()
        .map(|s| s.labels.clone())
        .unwrap_or_default();
    labels.insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string());
    let mut annots: BTreeMap<String, String> = app
        .spec
        .secret
        .as_ref()
        .map(|s| s.annotations.clone())
        .unwrap_or_default();
    annots.insert(annotations::OWNER_UID.to_string(), uid.clone());
    annots.insert(
        OWNER_NAME.to_string(),
        app.metadata.name.clone().unwrap_or_default(),
    );
    annots.insert(annotations::APP_ID.to_string(), creds.app_id.clone());
    annots.insert(CONTENT_HASH.to_string(), content_hash(&data, &key_refs));
    let owner_references = (app.spec.deletion_policy == DeletionPolicy::Delete).then(|| {
        vec![OwnerReference {
            api_version: "appauth.hwcloud.dev/v1alpha1".into(),
            kind: "GatewayApp".into(),
            name: app.metadata.name.clone().unwrap_or_default(),
            uid,
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]
    });
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(app)),
            namespace: app.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annots),
            owner_references,
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    }
}

/// How the Secret in the cluster relates to this object.
#[derive(Debug, PartialEq, Eq)]
pub enum Existing {
    Missing,
    /// Ours and up to date: nothing to write.
    UpToDate,
    /// Ours (or retained for this app), but edited, incomplete or with stale metadata.
    Stale,
    /// Not ours: never overwritten.
    Foreign,
}

/// Compares the Secret in the cluster with what this object would write (without knowing the
/// credential values: the content hash tells hand edits apart).
pub fn classify(app: &GatewayApp, existing: Option<&Secret>, app_id: &str) -> Existing {
    let Some(secret) = existing else {
        return Existing::Missing;
    };
    let uid = app.metadata.uid.as_deref().unwrap_or_default();
    let annots = secret.metadata.annotations.clone().unwrap_or_default();
    let owned_by_ref = secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == uid);
    let owner_uid = annots.get(annotations::OWNER_UID).map(String::as_str);
    let retained_for_our_app = owner_uid.is_some()
        && annots.get(annotations::APP_ID).map(String::as_str) == Some(app_id)
        && !app_id.is_empty();
    if !(owned_by_ref || owner_uid == Some(uid) || retained_for_our_app) {
        return Existing::Foreign;
    }
    if owner_uid != Some(uid) || annots.get(annotations::APP_ID).map(String::as_str) != Some(app_id)
    {
        return Existing::Stale;
    }
    let keys = our_keys(app);
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let data = secret.data.clone().unwrap_or_default();
    if annots.get(CONTENT_HASH) != Some(&content_hash(&data, &key_refs)) {
        return Existing::Stale;
    }
    // Metadata the spec controls: labels, annotations, ownership, stale keys from an old mapping.
    let want_labels = app
        .spec
        .secret
        .as_ref()
        .map(|s| s.labels.clone())
        .unwrap_or_default();
    let have_labels = secret.metadata.labels.clone().unwrap_or_default();
    let want_annots = app
        .spec
        .secret
        .as_ref()
        .map(|s| s.annotations.clone())
        .unwrap_or_default();
    let wants_ref = app.spec.deletion_policy == DeletionPolicy::Delete;
    if have_labels.get(MANAGED_BY_LABEL).map(String::as_str) != Some(MANAGED_BY_VALUE)
        || want_labels
            .iter()
            .any(|(k, v)| have_labels.get(k) != Some(v))
        || want_annots.iter().any(|(k, v)| annots.get(k) != Some(v))
        || wants_ref != owned_by_ref
    {
        return Existing::Stale;
    }
    Existing::UpToDate
}

/// The credentials currently in an up-to-date Secret of ours (for rotation and re-delivery).
pub fn read_credentials(app: &GatewayApp, secret: &Secret) -> Option<(String, SecretString)> {
    let keys = keys(app);
    let data = secret.data.as_ref()?;
    let key = String::from_utf8(data.get(&keys.app_key)?.0.clone()).ok()?;
    let value = String::from_utf8(data.get(&keys.app_secret)?.0.clone()).ok()?;
    Some((key, SecretString::from(value)))
}

#[cfg(test)]
mod tests {
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
                .metadata
                .owner_references
                .is_some()
        );
        let retained = desired(&app(DeletionPolicy::Retain), &creds());
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
        let s = desired(&a, &creds());
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
        let retained = desired(&app(DeletionPolicy::Retain), &creds());
        assert_eq!(classify(&newer, Some(&retained), "id1"), Existing::Stale);
        assert_eq!(
            classify(&newer, Some(&retained), "other"),
            Existing::Foreign
        );
        // Custom keys.
        let mut custom = a.clone();
        custom.spec.secret = Some(SecretTarget {
            keys: SecretKeys {
                app_key: "k".into(),
                ..Default::default()
            },
            ..Default::default()
        });
        assert_eq!(classify(&custom, Some(&s), "id1"), Existing::Stale);
    }

    #[test]
    fn credentials_read_back() {
        let a = app(DeletionPolicy::Delete);
        let s = desired(&a, &creds());
        let (key, secret) = read_credentials(&a, &s).expect("readable");
        assert_eq!((key.as_str(), secret.expose_secret()), ("key1", "sec1"));
    }
}
