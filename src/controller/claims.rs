//! Which GatewayApp holds which cloud app id: an index kept up to date from the GatewayApp watch
//! (so a reconcile asks it instead of scanning every cached object), and the rule for who owns
//! an id that two objects claim (a copied or restored manifest carrying another object's id).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use kube::Resource;
use kube::runtime::reflector::Store;

use super::ids::{ExactId, IdKey, id_key};

/// One object's claim on an app id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub uid: ExactId,
    /// namespace/name, for messages.
    pub object: Box<str>,
    /// Creation time (seconds since the epoch), when known.
    pub created: Option<i64>,
    /// Being deleted: it lets go of the app.
    pub deleting: bool,
    /// Its status records the id (the operator bound it); otherwise only an annotation asks
    /// for it, which proves nothing until checked.
    pub bound: bool,
}

/// Keyed by 128-bit ids (uids, app ids) rather than strings: the index holds every object, and
/// almost every app id has one claim, kept without slack.
#[derive(Default)]
struct Index {
    by_id: HashMap<IdKey, Vec<Claim>>,
    id_of: HashMap<IdKey, IdKey>,
    /// During a re-list of the watch: the objects it has listed so far.
    relisted: Option<HashSet<IdKey>>,
    /// Apps an object is taking over (adoption, a restore) before its status binds them: the
    /// first to ask keeps it for a while, so two objects never adopt one app at once. After
    /// that the status it wrote holds the app; if it failed, another may try.
    taking: HashMap<String, (Claim, std::time::Instant)>,
    /// The watch's first list is complete: an object not seen now does not exist.
    listed: bool,
}

/// How long a takeover holds its app against others.
const TAKING: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Default)]
pub struct Claims {
    index: Mutex<Index>,
}

impl Claims {
    /// What the watch says of an object now: the id it claims (None: none, or deleted).
    pub fn observe(&self, claim: Claim, id: Option<&str>) {
        let uid = claim.uid.key();
        let id = id.map(id_key);
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(seen) = index.relisted.as_mut() {
            seen.insert(uid);
        }
        let previous = index.id_of.get(&uid).copied();
        if previous == id {
            if let Some(id) = id
                && let Some(c) = index
                    .by_id
                    .get_mut(&id)
                    .and_then(|v| v.iter_mut().find(|c| c.uid == claim.uid))
            {
                *c = claim;
            }
            return;
        }
        if let Some(old) = previous {
            index.id_of.remove(&uid);
            index.unclaim(old, uid);
        }
        if let Some(id) = id {
            index.id_of.insert(uid, id);
            let claims = index.by_id.entry(id).or_default();
            // Nearly always the only one: no room kept for more.
            claims.reserve_exact(1);
            claims.push(claim);
        }
    }

    /// The watch starts listing every object again (after a restart or a lost watch).
    pub fn relist_started(&self) {
        self.index
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .relisted = Some(HashSet::new());
    }

    /// The re-list is complete: objects it did not list were deleted meanwhile.
    pub fn relist_done(&self) {
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        index.listed = true;
        let Some(seen) = index.relisted.take() else {
            return;
        };
        let gone: Vec<IdKey> = index
            .id_of
            .iter()
            .filter(|(uid, _)| !seen.contains(*uid))
            .map(|(uid, _)| *uid)
            .collect();
        for uid in gone {
            if let Some(id) = index.id_of.remove(&uid) {
                index.unclaim(id, uid);
            }
        }
    }

    /// Reserves `id` for the object about to take it over; `Err` names the object that already
    /// is. Held for `TAKING` (a reconcile binds or fails well within it), or until that object
    /// is deleted.
    pub fn take(&self, id: &str, claim: &Claim) -> Result<(), String> {
        self.take_at(id, claim, std::time::Instant::now())
    }

    fn take_at(&self, id: &str, claim: &Claim, now: std::time::Instant) -> Result<(), String> {
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        match index.taking.get(id) {
            Some((other, since)) if other.uid != claim.uid && now - *since < TAKING => {
                Err(other.object.to_string())
            }
            _ => {
                index.taking.insert(id.to_string(), (claim.clone(), now));
                Ok(())
            }
        }
    }

    /// The object is gone: what it was taking over is free.
    pub fn release(&self, uid: &str) {
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        index.taking.retain(|_, (c, _)| !c.uid.is(uid));
    }

    /// Whether the watch has listed every object once.
    pub fn listed(&self) -> bool {
        self.index.lock().unwrap_or_else(|e| e.into_inner()).listed
    }

    /// The other objects that claim `id`.
    pub fn others(&self, uid: &str, id: &str) -> Vec<Claim> {
        let index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        index
            .by_id
            .get(&id_key(id))
            .map(|v| v.iter().filter(|c| !c.uid.is(uid)).cloned().collect())
            .unwrap_or_default()
    }
}

impl Index {
    /// The object `uid` no longer claims `id`.
    fn unclaim(&mut self, id: IdKey, uid: IdKey) {
        if let Some(v) = self.by_id.get_mut(&id) {
            v.retain(|c| c.uid.key() != uid);
            if v.is_empty() {
                self.by_id.remove(&id);
            }
        }
    }
}

impl Claim {
    /// An object's claim; `bound`: its status records the id it claims.
    pub fn of<K: Resource>(obj: &K, bound: bool) -> Claim {
        let meta = obj.meta();
        Claim {
            uid: ExactId::new(meta.uid.as_deref().unwrap_or_default()),
            object: format!(
                "{}/{}",
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default()
            )
            .into(),
            created: meta.creation_timestamp.as_ref().map(|t| t.0.as_second()),
            deleting: meta.deletion_timestamp.is_some(),
            bound,
        }
    }
}

/// Who holds a cloud resource by the fingerprint in its remark: `None` for this object or for
/// nobody (made by hand, or its object is gone, so it may be taken over where adoption is
/// permitted); another cluster; or another object of this cluster while it exists in `live` (a
/// cache that has listed every object), found by the fingerprint's uid prefix.
pub fn held_by_fingerprint<K>(holder: crate::naming::Holder, live: &Store<K>) -> Option<String>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    use crate::naming::Holder;
    match holder {
        Holder::Me { .. } | Holder::Nobody => None,
        Holder::OtherCluster => {
            Some("another cluster (its fingerprint names a different --cluster-name)".into())
        }
        Holder::OtherObject(object) => live
            .state()
            .iter()
            .map(|o| Claim::of(o.as_ref(), false))
            .find(|c| crate::naming::names_object(&object, &c.uid.to_string()))
            .map(|c| c.object.into()),
    }
}

/// The rightful owner among the objects claiming one app: the one whose uid the app's
/// fingerprint names, else one whose status binds it, else the oldest (by creation time, then
/// uid, so every process agrees).
pub fn owner(claims: &[Claim], fingerprinted: impl Fn(&str) -> bool) -> Option<&Claim> {
    claims
        .iter()
        .find(|c| fingerprinted(&c.uid.to_string()))
        .or_else(|| {
            claims.iter().min_by(|a, b| {
                (!a.bound, a.created.unwrap_or(i64::MAX))
                    .cmp(&(!b.bound, b.created.unwrap_or(i64::MAX)))
                    // The uids' text, as every process compares them.
                    .then_with(|| a.uid.to_string().cmp(&b.uid.to_string()))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(uid: &str, created: Option<i64>) -> Claim {
        Claim {
            uid: ExactId::new(uid),
            object: format!("ns/{uid}").into(),
            created,
            deleting: false,
            bound: false,
        }
    }

    #[test]
    fn the_owner_is_the_fingerprinted_object_else_the_oldest() {
        let cases: [(&str, Vec<Claim>, Option<&str>, &str); 5] = [
            (
                "fingerprint wins over age",
                vec![claim("old", Some(1)), claim("new", Some(9))],
                Some("new"),
                "new",
            ),
            (
                "no fingerprint: the oldest",
                vec![claim("new", Some(9)), claim("old", Some(1))],
                None,
                "old",
            ),
            (
                "same age: by uid",
                vec![claim("b", Some(5)), claim("a", Some(5))],
                None,
                "a",
            ),
            (
                "unknown age loses",
                vec![claim("a", None), claim("b", Some(5))],
                None,
                "b",
            ),
            (
                "bound by status wins over an older annotation",
                vec![
                    claim("old", Some(1)),
                    Claim {
                        bound: true,
                        ..claim("new", Some(9))
                    },
                ],
                None,
                "new",
            ),
        ];
        for (name, claims, fingerprinted, want) in cases {
            let got = owner(&claims, |uid| Some(uid) == fingerprinted).map(|c| c.uid.to_string());
            assert_eq!(got.as_deref(), Some(want), "{name}");
        }
    }

    #[test]
    fn the_index_follows_objects_as_they_change() {
        let claims = Claims::default();
        claims.observe(claim("a", Some(1)), Some("app1"));
        claims.observe(claim("b", Some(2)), Some("app1"));
        assert_eq!(claims.others("a", "app1"), vec![claim("b", Some(2))]);
        claims.observe(claim("b", Some(2)), Some("app2"));
        assert!(claims.others("a", "app1").is_empty(), "b moved to app2");
        assert_eq!(claims.others("x", "app2"), vec![claim("b", Some(2))]);
        claims.observe(claim("b", Some(2)), None);
        assert!(claims.others("x", "app2").is_empty(), "b deleted");
        claims.observe(claim("a", Some(1)), Some("app1"));
        assert_eq!(claims.others("x", "app1").len(), 1, "no duplicate entry");
    }

    #[test]
    fn the_first_object_to_take_an_app_over_keeps_it_until_deleted() {
        let claims = Claims::default();
        assert_eq!(claims.take("app1", &claim("a", Some(1))), Ok(()));
        assert_eq!(claims.take("app1", &claim("a", Some(1))), Ok(()), "again");
        assert_eq!(
            claims.take("app1", &claim("b", Some(2))),
            Err("ns/a".into())
        );
        assert_eq!(claims.take("app2", &claim("b", Some(2))), Ok(()));
        claims.release("a");
        assert_eq!(claims.take("app1", &claim("b", Some(2))), Ok(()));
        // A takeover that neither bound nor went (it failed) lets go after a while.
        let later = std::time::Instant::now() + TAKING;
        assert_eq!(claims.take_at("app1", &claim("c", Some(3)), later), Ok(()));
    }

    #[test]
    fn a_relist_drops_objects_deleted_while_the_watch_was_down() {
        let claims = Claims::default();
        claims.observe(claim("a", Some(1)), Some("app1"));
        claims.observe(claim("b", Some(2)), Some("app1"));
        claims.relist_started();
        claims.observe(claim("a", Some(1)), Some("app1"));
        claims.relist_done();
        assert!(
            claims.others("a", "app1").is_empty(),
            "b was not listed again"
        );
        assert_eq!(claims.others("x", "app1").len(), 1);
    }
}
