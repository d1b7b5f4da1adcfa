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

use super::secret_template::{self, TemplateError};

/// Annotation naming the owning object (for mapping Secret events to it).
pub const OWNER_NAME: &str = "appauth.hwcloud.dev/owner";
/// SHA-256 of the data this operator wrote, to notice hand edits.
pub const CONTENT_HASH: &str = "appauth.hwcloud.dev/content-hash";
/// SHA-256 of the credential values alone: a Secret whose credentials are intact while what is
/// rendered or set around them is stale (a template edit) is written again from its own values.
pub const CREDENTIALS_HASH: &str = "appauth.hwcloud.dev/credentials-hash";

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

/// The credentials under their keys, and the rendered templates (not while the credentials are
/// only staged before the create: there is no app id yet).
fn data(
    app: &GatewayApp,
    creds: &Credentials,
) -> Result<BTreeMap<String, ByteString>, TemplateError> {
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
    if !creds.app_id.is_empty() {
        let vars = secret_template::Vars {
            app_key: &creds.app_key,
            app_secret: creds.app_secret.expose_secret(),
            app_id: &creds.app_id,
            app_code: creds.app_code.as_ref().map(|c| c.expose_secret()),
        };
        for (key, value) in secret_template::render(app, &vars)? {
            data.insert(key, ByteString(value.into_bytes()));
        }
    }
    Ok(data)
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

fn credential_keys(app: &GatewayApp) -> Vec<String> {
    let keys = keys(app);
    let mut v = vec![keys.app_key, keys.app_secret, keys.app_id];
    if app.spec.app_code {
        v.push(keys.app_code);
    }
    v
}

fn our_keys(app: &GatewayApp) -> Vec<String> {
    let mut v = credential_keys(app);
    v.extend(secret_template::templates(app).keys().cloned());
    v
}

fn credentials_hash(app: &GatewayApp, data: &BTreeMap<String, ByteString>) -> String {
    let keys = credential_keys(app);
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    content_hash(data, &key_refs)
}

/// The content hash of our keys in `data`; with templates, it covers their sources too, so that
/// a changed template makes the Secret stale (and it is rendered again).
fn our_hash(app: &GatewayApp, data: &BTreeMap<String, ByteString>) -> String {
    let keys = our_keys(app);
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let base = content_hash(data, &key_refs);
    let templates = secret_template::templates(app);
    if templates.is_empty() {
        return base;
    }
    let mut h = Sha256::new();
    h.update(base.as_bytes());
    for (key, source) in templates {
        for part in [key, source] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// The Secret to server-side apply (its templates rendered: that can fail).
pub fn desired(app: &GatewayApp, creds: &Credentials) -> Result<Secret, TemplateError> {
    let data = data(app, creds)?;
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
    annots.insert(CONTENT_HASH.to_string(), our_hash(app, &data));
    annots.insert(CREDENTIALS_HASH.to_string(), credentials_hash(app, &data));
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
    Ok(Secret {
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
    })
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
    classify_in_shard(app, existing, app_id, &[])
}

/// [`classify`] for a deployment whose `--label-selector` reads `shard_keys`: the Secret must
/// carry the object's values of those keys (they override the template's, see `shard.rs`).
pub fn classify_in_shard(
    app: &GatewayApp,
    existing: Option<&Secret>,
    app_id: &str,
    shard_keys: &[String],
) -> Existing {
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
    let data = secret.data.clone().unwrap_or_default();
    if annots.get(CONTENT_HASH) != Some(&our_hash(app, &data)) {
        return Existing::Stale;
    }
    // Metadata the spec controls: labels, annotations, ownership, stale keys from an old mapping.
    let mut want_labels = app
        .spec
        .secret
        .as_ref()
        .map(|s| s.labels.clone())
        .unwrap_or_default();
    want_labels.retain(|k, _| !shard_keys.contains(k));
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
        || !super::shard::carries(
            secret.metadata.labels.as_ref(),
            app.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()),
            shard_keys,
        )
    {
        return Existing::Stale;
    }
    Existing::UpToDate
}

/// The credentials in a Secret this object wrote for `app_id` whose credential values nobody
/// has edited since, whatever else about it is stale.
pub fn intact_credentials(
    app: &GatewayApp,
    secret: &Secret,
    app_id: &str,
) -> Option<(String, SecretString)> {
    let annots = secret.metadata.annotations.as_ref()?;
    let ours = app.metadata.uid.is_some()
        && annots.get(annotations::OWNER_UID) == app.metadata.uid.as_ref()
        && annots.get(annotations::APP_ID).map(String::as_str) == Some(app_id);
    let data = secret.data.as_ref()?;
    (ours && annots.get(CREDENTIALS_HASH) == Some(&credentials_hash(app, data)))
        .then(|| read_credentials(app, secret))
        .flatten()
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
mod tests;
