//! The resourceVersions our own writes produced, per object uid. A watch event carrying one of
//! them is the echo of a write whose reconcile already finished, so it triggers nothing; every
//! other event (a user's edit, a deletion, a change by another controller) does. The newest one
//! also tells a stale cached object from a current one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An object uid as a map key: the apiserver's uids are UUIDs, 16 bytes without a heap copy
/// per map (these maps hold every object). Anything else is hashed.
type UidKey = u128;

fn uid_key(uid: &str) -> UidKey {
    let mut value: u128 = 0;
    let mut digits = 0;
    for c in uid.chars().filter(|c| *c != '-') {
        match c.to_digit(16) {
            Some(d) if digits < 32 => {
                value = (value << 4) | u128::from(d);
                digits += 1;
            }
            _ => {
                digits = 0;
                break;
            }
        }
    }
    match digits {
        32 => value,
        _ => {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            let h = |salt: u8| {
                BuildHasherDefault::<DefaultHasher>::default().hash_one((salt, uid)) as u128
            };
            (h(0) << 64) | h(1)
        }
    }
}

/// How many recent writes per object are remembered: a create costs three or four, and echoes
/// arrive within milliseconds of the write's response.
const REMEMBERED: usize = 4;

#[derive(Debug, Default)]
pub struct OwnWrites {
    by_uid: Mutex<HashMap<UidKey, [u64; REMEMBERED]>>,
}

impl OwnWrites {
    /// Records that our write left the object at `rv`.
    pub fn record(&self, uid: &str, rv: u64) {
        let mut map = self.by_uid.lock().unwrap_or_else(|e| e.into_inner());
        let ring = map.entry(uid_key(uid)).or_insert([0; REMEMBERED]);
        if ring.contains(&rv) {
            return;
        }
        // Replace the oldest entry (smallest version).
        if let Some(slot) = ring.iter_mut().min_by_key(|v| **v) {
            *slot = rv;
        }
    }

    /// Whether `rv` is exactly a version one of our writes produced.
    pub fn is_echo(&self, uid: &str, rv: u64) -> bool {
        rv != 0
            && self
                .by_uid
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&uid_key(uid))
                .is_some_and(|ring| ring.contains(&rv))
    }

    /// The newest version our writes produced, if any.
    pub fn latest(&self, uid: &str) -> Option<u64> {
        self.by_uid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&uid_key(uid))
            .and_then(|ring| ring.iter().copied().max())
            .filter(|v| *v != 0)
    }

    /// The object is gone: nothing more to remember.
    pub fn forget(&self, uid: &str) {
        self.by_uid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uid_key(uid));
    }

    pub fn len(&self) -> usize {
        self.by_uid.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Objects whose last reconcile left nothing to do: the version it left them at, and when work
/// is next due (resync, rotation). A reconcile that finds an object at that version before then
/// (a late echo of our own write) has nothing to do and makes no request, unless its Secret has
/// a newer version than the one the operator last wrote or read (a hand edit, a deletion), or
/// its account changed.
#[derive(Debug)]
struct SecretVersions {
    name: String,
    known: u64,
    seen: u64,
}

#[derive(Debug, Default)]
pub struct Settled {
    by_uid: Mutex<HashMap<UidKey, (u64, Instant)>>,
    /// Per owner uid, per Secret name: the version we last wrote or read, and the newest
    /// watched. Keyed by uid first so that forgetting an object is one removal.
    secrets: Mutex<HashMap<UidKey, Vec<SecretVersions>>>,
    /// Unsettled while a reconcile ran (an account change): that reconcile must not settle it.
    dirty: Mutex<std::collections::HashSet<UidKey>>,
}

impl Settled {
    /// A reconcile starts: whatever it settles reflects changes signalled before now.
    pub fn begin(&self, uid: &str) {
        self.unsettle_only(uid);
        self.dirty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uid_key(uid));
    }

    pub fn record(&self, uid: &str, rv: u64, due: Instant) {
        if self
            .dirty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&uid_key(uid))
        {
            return;
        }
        self.by_uid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid_key(uid), (rv, due));
    }

    /// How long until work is due, if the object (at `rv`, delivering into Secret `secret`) is
    /// still as its last reconcile left it.
    pub fn remaining(&self, uid: &str, rv: u64, secret: &str, now: Instant) -> Option<Duration> {
        let secret_changed = self
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&uid_key(uid))
            .and_then(|all| all.iter().find(|s| s.name == secret))
            .is_some_and(|s| s.seen > s.known);
        if secret_changed {
            return None;
        }
        let map = self.by_uid.lock().unwrap_or_else(|e| e.into_inner());
        let (settled_rv, due) = map.get(&uid_key(uid))?;
        (*settled_rv == rv && rv != 0 && now < *due).then(|| *due - now)
    }

    /// Something the object depends on changed (its account): the next reconcile does the work,
    /// even if one running now finishes after this.
    pub fn unsettle(&self, uid: &str) {
        self.unsettle_only(uid);
        self.dirty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid_key(uid));
    }

    fn unsettle_only(&self, uid: &str) {
        self.by_uid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uid_key(uid));
    }

    /// The object's Secret `secret` is at `rv` as we wrote or read it.
    pub fn secret_known(&self, uid: &str, secret: &str, rv: u64) {
        self.with_secret(uid, secret, |s| s.known = s.known.max(rv));
    }

    /// A watch event showed the object's Secret `secret` at `rv`.
    pub fn secret_seen(&self, uid: &str, secret: &str, rv: u64) {
        self.with_secret(uid, secret, |s| s.seen = s.seen.max(rv));
    }

    fn with_secret(&self, uid: &str, secret: &str, f: impl FnOnce(&mut SecretVersions)) {
        let mut map = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        let all = map.entry(uid_key(uid)).or_default();
        let i = match all.iter().position(|s| s.name == secret) {
            Some(i) => i,
            None => {
                all.push(SecretVersions {
                    name: secret.to_string(),
                    known: 0,
                    seen: 0,
                });
                all.len() - 1
            }
        };
        f(&mut all[i]);
    }

    /// The object is gone.
    pub fn forget(&self, uid: &str) {
        self.begin(uid);
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uid_key(uid));
    }
}

/// When each object was last read from the cloud (the drift check's clock), by uid.
#[derive(Debug, Default)]
pub struct Reads {
    at: Mutex<HashMap<UidKey, Instant>>,
}

impl Reads {
    /// Records a read now; whether `key` had none before.
    pub fn mark(&self, key: &str) -> bool {
        self.at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid_key(key), Instant::now())
            .is_none()
    }

    /// Whether the last read is at least `period` ago, or there was none.
    pub fn due(&self, key: &str, period: Duration) -> bool {
        self.at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&uid_key(key))
            .is_none_or(|t| t.elapsed() >= period)
    }

    pub fn forget(&self, key: &str) {
        self.at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uid_key(key));
    }
}

/// Annotations the operator itself writes on its objects, and kubectl's copy of the applied
/// object (stripped from the cache).
const OURS: [&str; 5] = [
    crate::api::annotations::PENDING,
    crate::api::annotations::APP_ID,
    crate::api::annotations::API_ID,
    crate::api::annotations::ROTATING,
    super::wiring::LAST_APPLIED,
];

/// Whether the object our write returned (`written`) carries a change someone else made since
/// the version we read (`read`): a merge patch or a status apply lands on the newest version,
/// so its answer can include a user's edit whose own watch event then finds nothing new.
pub fn changed_by_others(
    read: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    written: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> bool {
    read.generation != written.generation
        || read.deletion_timestamp != written.deletion_timestamp
        || read.labels.as_ref().filter(|l| !l.is_empty())
            != written.labels.as_ref().filter(|l| !l.is_empty())
        || theirs(read) != theirs(written)
}

/// The annotations and finalizers of `m` that are not the operator's.
fn theirs(
    m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> (Vec<(&String, &String)>, Vec<&String>) {
    let annotations = m
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !OURS.contains(&k.as_str()))
        .collect();
    let finalizers = m
        .finalizers
        .iter()
        .flatten()
        .filter(|f| f.as_str() != crate::api::CLEANUP_FINALIZER)
        .collect();
    (annotations, finalizers)
}

/// A resourceVersion as a number (the apiserver's are etcd revisions); anything else is never an
/// echo.
pub fn version_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_carries_someone_elses_change_is_not_an_echo() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let annotations = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let read = ObjectMeta {
            generation: Some(2),
            annotations: annotations(&[("note", "a")]),
            ..Default::default()
        };
        // Our own annotations and finalizer, and kubectl's copy, are not someone else's change.
        let ours = ObjectMeta {
            annotations: annotations(&[
                ("note", "a"),
                (crate::api::annotations::APP_ID, "x"),
                (crate::api::annotations::PENDING, "p"),
                ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
            ]),
            finalizers: Some(vec![crate::api::CLEANUP_FINALIZER.to_string()]),
            ..read.clone()
        };
        assert!(!changed_by_others(&read, &ours));
        let paused = ObjectMeta {
            annotations: annotations(&[("note", "a"), (crate::api::annotations::PAUSED, "true")]),
            ..read.clone()
        };
        let spec = ObjectMeta {
            generation: Some(3),
            ..read.clone()
        };
        let labelled = ObjectMeta {
            labels: annotations(&[("team", "b")]),
            ..read.clone()
        };
        let finalized = ObjectMeta {
            finalizers: Some(vec!["other/keep".to_string()]),
            ..read.clone()
        };
        for (what, written) in [
            ("annotation", paused),
            ("spec", spec),
            ("label", labelled),
            ("finalizer", finalized),
        ] {
            assert!(changed_by_others(&read, &written), "{what}");
        }
    }

    #[test]
    fn only_exact_versions_of_our_writes_are_echoes() {
        let w = OwnWrites::default();
        w.record("u", 10);
        w.record("u", 12);
        assert!(w.is_echo("u", 10));
        assert!(w.is_echo("u", 12));
        // A user's edit between our two writes is not ours.
        assert!(!w.is_echo("u", 11));
        assert!(!w.is_echo("other", 10));
        assert!(!w.is_echo("u", 0));
        assert_eq!(w.latest("u"), Some(12));
    }

    #[test]
    fn settled_only_at_the_same_version_and_before_work_is_due() {
        let s = Settled::default();
        let now = Instant::now();
        s.record("u", 7, now + Duration::from_secs(10));
        assert_eq!(s.remaining("u", 7, "s", now), Some(Duration::from_secs(10)));
        assert_eq!(s.remaining("u", 8, "s", now), None, "the object changed");
        let later = now + Duration::from_secs(11);
        assert_eq!(s.remaining("u", 7, "s", later), None, "due");
        // The echo of our own Secret write keeps it settled; a newer version does not.
        s.secret_known("u", "s", 20);
        s.secret_seen("u", "s", 20);
        assert!(s.remaining("u", 7, "s", now).is_some());
        // Another Secret of the object (an old name being deleted) is not this one.
        s.secret_seen("u", "old", 30);
        assert!(s.remaining("u", 7, "s", now).is_some());
        s.secret_seen("u", "s", 21);
        assert_eq!(s.remaining("u", 7, "s", now), None, "its Secret changed");
        s.secret_known("u", "s", 21);
        assert!(
            s.remaining("u", 7, "s", now).is_some(),
            "read back: nothing to do"
        );
        s.unsettle("u");
        assert_eq!(s.remaining("u", 7, "s", now), None, "its account changed");
        // A reconcile that was running when the account changed does not settle it again.
        s.record("u", 7, now + Duration::from_secs(10));
        assert_eq!(s.remaining("u", 7, "s", now), None);
        s.begin("u");
        s.record("u", 7, now + Duration::from_secs(10));
        assert!(s.remaining("u", 7, "s", now).is_some());
    }

    #[test]
    fn uuid_keys_are_exact_and_other_uids_still_distinct() {
        let a = "0b9f2c1e-4d3a-4f6b-9e2d-1a2b3c4d5e6f";
        assert_eq!(uid_key(a), 0x0b9f2c1e4d3a4f6b9e2d1a2b3c4d5e6f);
        assert_ne!(uid_key(a), uid_key("0b9f2c1e-4d3a-4f6b-9e2d-1a2b3c4d5e60"));
        assert_ne!(uid_key("u"), uid_key("v"));
        assert_ne!(uid_key("u"), 0);
        // Too long, or not hex: hashed, not truncated.
        assert_ne!(uid_key(&format!("{a}0")), uid_key(a));
    }

    #[test]
    fn the_oldest_write_is_forgotten_first() {
        let w = OwnWrites::default();
        for rv in [5, 6, 7, 8, 9] {
            w.record("u", rv);
        }
        assert!(!w.is_echo("u", 5));
        assert!((6..=9).all(|rv| w.is_echo("u", rv)));
        assert_eq!(w.latest("u"), Some(9));
        w.forget("u");
        assert_eq!(w.latest("u"), None);
        assert!(w.is_empty());
    }
}
