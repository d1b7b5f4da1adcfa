//! Secrets the operator watches (metadata only): its own credentials Secrets, and the account
//! Secrets and credential sources users label. A reconcile asks these caches before it reads:
//! a Secret at a version this process has already read (or written) is not read again, so a
//! resync with nothing changed costs no request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::cloud::Account;

/// One watch's cache of Secret metadata.
#[derive(Default)]
pub struct WatchedSecrets {
    store: OnceLock<Store<PartialObjectMeta<Secret>>>,
    listed: AtomicBool,
    /// The watch failed and has not reported since.
    failed: AtomicBool,
}

impl WatchedSecrets {
    pub fn set(&self, store: Store<PartialObjectMeta<Secret>>) {
        let _ = self.store.set(store);
    }

    /// The watch has listed every Secret (until then the cache tells nothing).
    pub fn mark_listed(&self) {
        self.listed.store(true, Ordering::Relaxed);
    }

    /// A failed watch is not trusted until it reports again (an event, or the end of a list).
    pub fn mark_failed(&self, failed: bool) {
        self.failed.store(failed, Ordering::Relaxed);
    }

    /// Secret `name` of `namespace` as the cache has it: `None` while the cache cannot tell,
    /// `Some(None)` when the watch does not see it (absent, or not labelled).
    pub fn get(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Option<Arc<PartialObjectMeta<Secret>>>> {
        let store = self.store.get()?;
        if !self.listed.load(Ordering::Relaxed) || self.failed.load(Ordering::Relaxed) {
            return None;
        }
        Some(store.get(&ObjectRef::new(name).within(namespace)))
    }

    /// The cached resourceVersion of a Secret the watch sees.
    pub fn version(&self, namespace: &str, name: &str) -> Option<String> {
        self.get(namespace, name)
            .flatten()
            .and_then(|m| m.metadata.resource_version.clone())
    }
}

/// Pure: a Secret's metadata cut to what a cache's readers use: name, namespace, uid,
/// resourceVersion, deletion, the `annotations` named and, with `finalizers`, the finalizers.
/// Labels, ownerReferences and the rest are as large as what is kept, per Secret, and every
/// Secret of every object is cached.
fn keep_only(secret: &mut PartialObjectMeta<Secret>, annotations: &[&str], finalizers: bool) {
    secret.types = None;
    let meta = &mut secret.metadata;
    meta.labels = None;
    meta.owner_references = None;
    meta.creation_timestamp = None;
    meta.generate_name = None;
    meta.generation = None;
    if !finalizers {
        meta.finalizers = None;
    }
    meta.annotations = meta
        .annotations
        .take()
        .map(|a| {
            a.into_iter()
                .filter(|(k, _)| annotations.contains(&k.as_str()))
                .collect::<std::collections::BTreeMap<_, _>>()
        })
        .filter(|a| !a.is_empty());
}

/// The operator's credentials Secrets: whose they are (owner uid and name, and the app a
/// retained one was kept for).
pub fn trim_own(secret: &mut PartialObjectMeta<Secret>) {
    use crate::api::annotations::{APP_ID, OWNER_UID};
    keep_only(
        secret,
        &[OWNER_UID, APP_ID, crate::controller::secret::OWNER_NAME],
        false,
    );
}

/// Account Secrets: their version, and whether the in-use finalizer is on.
pub fn trim_account(secret: &mut PartialObjectMeta<Secret>) {
    keep_only(secret, &[], true);
}

/// Credential sources: their version.
pub fn trim_source(secret: &mut PartialObjectMeta<Secret>) {
    keep_only(secret, &[], false);
}

/// Account Secrets as last read, by namespace/name, with the version they were read at: a
/// reconcile whose account Secret the cache shows at that version uses the account without
/// reading the Secret again. An entry holds what the cloud client holds anyway.
#[derive(Default)]
pub struct ReadAccounts {
    read: Mutex<HashMap<String, (String, Account)>>,
}

impl ReadAccounts {
    fn key(namespace: &str, name: &str) -> String {
        format!("{namespace}/{name}")
    }

    /// The account read from Secret `name` at `version`, if that is the version last read.
    pub fn at(&self, namespace: &str, name: &str, version: &str) -> Option<Account> {
        let read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.get(&Self::key(namespace, name))
            .filter(|(v, _)| v == version)
            .map(|(_, a)| a.clone())
    }

    pub fn remember(&self, namespace: &str, name: &str, version: &str, account: &Account) {
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.insert(
            Self::key(namespace, name),
            (version.to_string(), account.clone()),
        );
    }

    pub fn forget(&self, namespace: &str, name: &str) {
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.remove(&Self::key(namespace, name));
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn caches_keep_what_their_readers_use() {
        let full = || -> PartialObjectMeta<Secret> {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                "metadata": {
                    "name": "s", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                    "creationTimestamp": "2026-12-04T14:02:51Z",
                    "labels": {"app.kubernetes.io/managed-by": "appauth-operator"},
                    "finalizers": ["appauth.hwcloud.dev/in-use"],
                    "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "o"}],
                    "annotations": {
                        "appauth.hwcloud.dev/owner-uid": "o", "appauth.hwcloud.dev/owner": "app",
                        "appauth.hwcloud.dev/app-id": "a", "appauth.hwcloud.dev/content-hash": "h",
                    },
                },
            }))
            .expect("metadata")
        };
        let kept = |trim: fn(&mut PartialObjectMeta<Secret>)| {
            let mut s = full();
            trim(&mut s);
            let annotations: Vec<String> = s
                .metadata
                .annotations
                .unwrap_or_default()
                .into_keys()
                .collect();
            (annotations, s.metadata.finalizers.is_some())
        };
        type Trim = fn(&mut PartialObjectMeta<Secret>);
        let cases: [(&str, Trim, &[&str], bool); 3] = [
            (
                "own",
                trim_own,
                &[
                    "appauth.hwcloud.dev/app-id",
                    "appauth.hwcloud.dev/owner",
                    "appauth.hwcloud.dev/owner-uid",
                ],
                false,
            ),
            ("account", trim_account, &[], true),
            ("source", trim_source, &[], false),
        ];
        for (name, trim, annotations, finalizers) in cases {
            assert_eq!(
                kept(trim),
                (
                    annotations.iter().map(|a| a.to_string()).collect(),
                    finalizers
                ),
                "{name}"
            );
        }
        let mut s = full();
        trim_own(&mut s);
        let m = &s.metadata;
        assert_eq!(
            (
                m.name.as_deref(),
                m.namespace.as_deref(),
                m.uid.as_deref(),
                m.resource_version.as_deref()
            ),
            (Some("s"), Some("ns"), Some("u"), Some("7"))
        );
        assert!(m.labels.is_none() && m.owner_references.is_none() && s.types.is_none());
    }

    #[test]
    fn a_cache_tells_nothing_before_its_first_list_or_while_its_watch_fails() {
        let (store, _writer) = kube::runtime::reflector::store::<PartialObjectMeta<Secret>>();
        let watched = WatchedSecrets::default();
        assert!(watched.get("ns", "s").is_none(), "no store yet");
        watched.set(store);
        assert!(watched.get("ns", "s").is_none(), "not listed yet");
        watched.mark_listed();
        assert!(
            matches!(watched.get("ns", "s"), Some(None)),
            "listed: absent"
        );
        watched.mark_failed(true);
        assert!(watched.get("ns", "s").is_none(), "its watch failed");
        watched.mark_failed(false);
        assert!(watched.get("ns", "s").is_some(), "reporting again");
    }
}
