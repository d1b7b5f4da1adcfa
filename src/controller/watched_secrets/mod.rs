//! Secrets the operator watches (metadata only): its own credentials Secrets, and the account
//! Secrets and credential sources users label. A reconcile asks these caches before it reads:
//! a Secret at a version this process has already read (or written) is not read again, so a
//! resync with nothing changed costs no request.
//!
//! Not kube-runtime's reflector store: every GatewayApp has a credentials Secret, and a cached
//! Secret's metadata (maps of labels and annotations, ownerReferences) cost about 2.5 KB of
//! resident memory each, measured, as much as the GatewayApp itself. This index keeps, per
//! Secret, what the readers use: its uid and version, whose it is, and whether the in-use
//! finalizer is on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use compact_str::CompactString;
use k8s_openapi::api::core::v1::Secret;
use kube::core::{ObjectMeta, PartialObjectMeta};
use kube::runtime::watcher;

use crate::api::IN_USE_FINALIZER;
use crate::api::annotations::{APP_ID, OWNER_UID};
use crate::cloud::Account;
use crate::controller::ids::ExactId;
use crate::controller::recent_writes::RecentWrites;
use crate::controller::secret::OWNER_NAME;

/// `namespace/name` (neither can hold a slash): one allocation per Secret, not two.
type Key = Box<str>;

fn key(namespace: &str, name: &str) -> Key {
    format!("{namespace}/{name}").into()
}

fn namespace_and_name(key: &str) -> (String, String) {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    (namespace.to_string(), name.to_string())
}

/// What the index keeps of one Secret: its uids and app id as 16-byte numbers where they are
/// UUIDs or hex (they are, nearly always), its version inline (up to 24 digits).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Kept {
    uid: ExactId,
    version: CompactString,
    owner_uid: Option<ExactId>,
    owner_name: Option<Box<str>>,
    app_id: Option<ExactId>,
    in_use: bool,
}

impl Kept {
    fn of(secret: &PartialObjectMeta<Secret>) -> Self {
        let meta = &secret.metadata;
        let annotation = |k: &str| meta.annotations.as_ref().and_then(|a| a.get(k));
        Self {
            uid: ExactId::new(meta.uid.as_deref().unwrap_or_default()),
            version: meta.resource_version.as_deref().unwrap_or_default().into(),
            owner_uid: annotation(OWNER_UID).map(|v| ExactId::new(v)),
            owner_name: annotation(OWNER_NAME).map(|v| v.as_str().into()),
            app_id: annotation(APP_ID).map(|v| ExactId::new(v)),
            in_use: meta
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == IN_USE_FINALIZER),
        }
    }

    /// The Secret's metadata as far as it was kept.
    fn metadata(&self, namespace: &str, name: &str) -> PartialObjectMeta<Secret> {
        let annotations: BTreeMap<String, String> = [
            (OWNER_UID, self.owner_uid.as_ref().map(ExactId::to_string)),
            (OWNER_NAME, self.owner_name.as_deref().map(str::to_string)),
            (APP_ID, self.app_id.as_ref().map(ExactId::to_string)),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
        let metadata = ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            uid: Some(self.uid.to_string()),
            resource_version: Some(self.version.to_string()),
            annotations: (!annotations.is_empty()).then_some(annotations),
            finalizers: self.in_use.then(|| vec![IN_USE_FINALIZER.to_string()]),
            ..Default::default()
        };
        PartialObjectMeta {
            types: None,
            metadata,
            _phantom: Default::default(),
        }
    }
}

#[derive(Default)]
struct Index {
    secrets: HashMap<Key, Kept>,
    /// During a re-list: the Secrets it has shown so far (the others are gone at its end).
    relisted: Option<HashSet<Key>>,
    /// When the watch last failed, if it has not reported since.
    failed: Option<Instant>,
}

/// How long a failed watch that has not reported since is not trusted. kube's watcher retries
/// within its backoff (at most about 30 s) and fails again if it cannot; one that resumed where
/// it left off (no re-list) reports nothing until a Secret changes.
const FAILED_HOLD: Duration = Duration::from_secs(120);

fn key_of(secret: &PartialObjectMeta<Secret>) -> Key {
    let meta = &secret.metadata;
    key(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// One watch's index of Secrets.
#[derive(Default)]
pub struct WatchedSecrets {
    index: Mutex<Index>,
    listed: AtomicBool,
    /// Secrets this process created that the watch has not shown yet.
    pub recent: RecentWrites,
}

impl WatchedSecrets {
    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A Secret created or changed (or shown by a re-list).
    pub fn applied(&self, secret: &PartialObjectMeta<Secret>) {
        let key = key_of(secret);
        self.seen(secret);
        let mut index = self.index();
        if let Some(relisted) = index.relisted.as_mut() {
            relisted.insert(key.clone());
        }
        index.secrets.insert(key, Kept::of(secret));
        index.failed = None;
    }

    pub fn deleted(&self, secret: &PartialObjectMeta<Secret>) {
        let key = key_of(secret);
        self.seen(secret);
        let mut index = self.index();
        index.secrets.remove(&key);
        index.failed = None;
    }

    /// The watch has shown the Secret: no longer one of the recent writes it has not shown.
    fn seen(&self, secret: &PartialObjectMeta<Secret>) {
        let meta = &secret.metadata;
        self.recent.seen(
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        );
    }

    /// A (re-)list begins: until it ends, the index tells nothing (what it holds may be gone).
    pub fn relist_started(&self) {
        // Writes the broken watch never showed: a delete during the outage would not show
        // either, so the list speaks for them.
        self.recent.clear();
        self.index().relisted = Some(HashSet::new());
    }

    /// The end of a (re-)list: the Secrets it did not show are gone (and returned, as
    /// namespace and name); the index can tell from now.
    pub fn relist_done(&self) -> Vec<(String, String)> {
        let mut index = self.index();
        let mut gone = Vec::new();
        if let Some(seen) = index.relisted.take() {
            let keys: Vec<Key> = index
                .secrets
                .keys()
                .filter(|k| !seen.contains(*k))
                .cloned()
                .collect();
            for k in keys {
                index.secrets.remove(&k);
                gone.push(namespace_and_name(&k));
            }
        }
        index.failed = None;
        self.listed.store(true, Ordering::Relaxed);
        gone
    }

    /// A failed watch is not trusted until it reports again, or for [`FAILED_HOLD`].
    pub fn mark_failed(&self) {
        self.index().failed = Some(Instant::now());
    }

    /// Feeds one event of a watch of these Secrets; answers the Secrets it says are gone
    /// (deleted, or not shown by a re-list), as namespace and name.
    pub fn observe(
        &self,
        event: &Result<watcher::Event<PartialObjectMeta<Secret>>, watcher::Error>,
    ) -> Vec<(String, String)> {
        match event {
            Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => self.applied(s),
            Ok(watcher::Event::Delete(s)) => {
                self.deleted(s);
                let meta = &s.metadata;
                return vec![(
                    meta.namespace.clone().unwrap_or_default(),
                    meta.name.clone().unwrap_or_default(),
                )];
            }
            Ok(watcher::Event::Init) => self.relist_started(),
            Ok(watcher::Event::InitDone) => return self.relist_done(),
            Err(_) => self.mark_failed(),
        }
        Vec::new()
    }

    /// Secret `name` of `namespace` as the index has it: `None` while the index cannot tell
    /// (before its first list, or while its watch fails), `Some(None)` when the watch does not
    /// see it (absent, or not labelled).
    pub fn get(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Option<Arc<PartialObjectMeta<Secret>>>> {
        if !self.listed.load(Ordering::Relaxed) {
            return None;
        }
        let index = self.index();
        let failed = index.failed.is_some_and(|t| t.elapsed() < FAILED_HOLD);
        if failed || index.relisted.is_some() {
            return None;
        }
        Some(
            index
                .secrets
                .get(key(namespace, name).as_ref())
                .map(|kept| Arc::new(kept.metadata(namespace, name))),
        )
    }

    /// The resourceVersion of a Secret the watch sees.
    pub fn version(&self, namespace: &str, name: &str) -> Option<String> {
        self.get(namespace, name)
            .flatten()
            .and_then(|m| m.metadata.resource_version.clone())
    }
}

/// Users' Secrets (accounts, credential sources) as their shared caches keep them: the
/// subscribers need the name and namespace, the index (fed before the cache) the rest.
pub fn trim_users_secret(secret: &mut PartialObjectMeta<Secret>) {
    secret.types = None;
    let meta = &mut secret.metadata;
    meta.labels = None;
    meta.annotations = None;
    meta.owner_references = None;
    meta.finalizers = None;
    meta.creation_timestamp = None;
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
mod tests;
