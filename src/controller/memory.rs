//! What the operator remembers about each object between reconciles, in one record per object
//! uid: forgetting an object (it is gone from the apiserver) is one removal, so create-and-delete
//! churn does not grow the process.
//!
//! Everything here is a cache of facts that a restart may lose: after a restart every object
//! reads its app once, backoff starts over, and a create of unknown outcome is covered by the
//! pending marker written before it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::status::Reason;

/// An id as a map key: the apiserver's uids are UUIDs and most cloud ids 32 hex digits, 16
/// bytes without a heap copy per entry (these maps hold every object). Only lowercase hex, as
/// 32 digits or a UUID's 8-4-4-4-12, is read as a number (a UUID and its 32 digits without
/// dashes are one key); anything else is hashed.
pub(crate) type IdKey = u128;

pub(crate) fn id_key(id: &str) -> IdKey {
    let uuid = id.len() == 36
        && id
            .char_indices()
            .all(|(i, c)| (c == '-') == matches!(i, 8 | 13 | 18 | 23));
    let digits = if uuid { 32 } else { id.len() };
    let mut value: u128 = 0;
    let mut hex = digits == 32;
    for c in id.chars().filter(|c| !(uuid && *c == '-')) {
        match c {
            '0'..='9' | 'a'..='f' if hex => {
                value = (value << 4) | u128::from(c.to_digit(16).unwrap_or(0));
            }
            _ => {
                hex = false;
                break;
            }
        }
    }
    if hex {
        return value;
    }
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let h = |salt: u8| BuildHasherDefault::<DefaultHasher>::default().hash_one((salt, id)) as u128;
    (h(0) << 64) | h(1)
}

/// How many recent writes per object are remembered: a create costs three or four, and echoes
/// arrive within milliseconds of the write's response.
const REMEMBERED: usize = 4;

/// One object's record: what every object has, and what few have (behind one box, absent while
/// empty: the map holds a record for every object, so each byte here is paid per object).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Memory {
    /// The resourceVersions our latest writes left the object at (0: none).
    pub writes: [u64; REMEMBERED],
    /// When the cloud resource was last read (the drift check's clock).
    pub last_read: Option<Instant>,
    /// The generation whose spec last reached the cloud.
    pub pushed: Option<i64>,
    /// A hash of the app key in the credentials Secret as this process last wrote or read it:
    /// with the Secret at a version it knows, drift is checked without reading it.
    pub delivered_key: Option<u64>,
    /// Consecutive failures, for exponential backoff.
    pub failures: u32,
    rare: Option<Box<Rare>>,
}

/// What few objects have at a time.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rare {
    /// Since when a create of ours has had no answer (timeout, dropped connection).
    pub unresolved: Option<Instant>,
    /// The generation the cloud rejected as invalid: no cloud call until it changes.
    pub rejected: Option<i64>,
    /// Waiting (Creating, Deleting): for what, since when, and whether an Event said so.
    pub wait: Option<(Reason, Instant, bool)>,
    /// The rotation a Warning already said cannot happen (a service without a reset).
    pub rotation_warned: Option<String>,
    /// A Secret the operator did not write holds the credentials Secret's name: until a create
    /// succeeds, look before creating (the cache of our own Secrets cannot see it).
    pub secret_conflict: bool,
    /// With FromSecret: a hash of the source Secret's version whose values were last found
    /// delivered (an unchanged source is not read again).
    pub source_compared: Option<u64>,
}

const NOTHING_RARE: Rare = Rare {
    unresolved: None,
    rejected: None,
    wait: None,
    rotation_warned: None,
    secret_conflict: false,
    source_compared: None,
};

impl Memory {
    /// What few objects have.
    pub fn rare(&self) -> &Rare {
        self.rare.as_deref().unwrap_or(&NOTHING_RARE)
    }

    /// Changes what few objects have; the box goes once it is empty again.
    pub fn rare_mut<R>(&mut self, f: impl FnOnce(&mut Rare) -> R) -> R {
        match &mut self.rare {
            Some(rare) => {
                let out = f(rare);
                if **rare == NOTHING_RARE {
                    self.rare = None;
                }
                out
            }
            // Boxed only if something was set: clearing (every successful reconcile clears
            // its wait) allocates nothing.
            None => {
                let mut rare = NOTHING_RARE;
                let out = f(&mut rare);
                if rare != NOTHING_RARE {
                    self.rare = Some(Box::new(rare));
                }
                out
            }
        }
    }

    /// Records that our write left the object at `rv`, replacing the oldest remembered one.
    pub fn wrote(&mut self, rv: u64) {
        if rv == 0 || self.writes.contains(&rv) {
            return;
        }
        if let Some(slot) = self.writes.iter_mut().min_by_key(|v| **v) {
            *slot = rv;
        }
    }

    /// Whether `rv` is exactly a version one of our writes produced.
    pub fn is_own_write(&self, rv: u64) -> bool {
        rv != 0 && self.writes.contains(&rv)
    }

    /// The newest version our writes produced, if any.
    pub fn latest_write(&self) -> Option<u64> {
        self.writes.iter().copied().max().filter(|v| *v != 0)
    }

    /// Whether the last cloud read is at least `period` ago, or there was none.
    pub fn read_due(&self, period: Duration) -> bool {
        self.last_read.is_none_or(|t| t.elapsed() >= period)
    }
}

/// Every object's record, by uid.
#[derive(Debug, Default)]
pub struct Memories(Mutex<HashMap<IdKey, Memory>>);

impl Memories {
    /// Reads or changes one object's record (created empty on first use).
    pub fn with<R>(&self, uid: &str, f: impl FnOnce(&mut Memory) -> R) -> R {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(id_key(uid)).or_default())
    }

    /// Changes one object's record if it has one (nothing to reset is not worth an entry).
    pub fn update(&self, uid: &str, f: impl FnOnce(&mut Memory)) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = map.get_mut(&id_key(uid)) {
            f(m);
        }
    }

    /// Reads one object's record without creating it.
    pub fn get<R>(&self, uid: &str, f: impl FnOnce(&Memory) -> R) -> Option<R> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&id_key(uid)).map(f)
    }

    /// The object is gone: nothing more to remember.
    pub fn forget(&self, uid: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id_key(uid));
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_versions_of_our_writes_are_ours() {
        let m = Memories::default();
        m.with("u", |r| {
            r.wrote(10);
            r.wrote(12);
        });
        let ours = |uid: &str, rv| m.get(uid, |r| r.is_own_write(rv)).unwrap_or(false);
        assert!(ours("u", 10));
        assert!(ours("u", 12));
        // A user's edit between our two writes is not ours.
        assert!(!ours("u", 11));
        assert!(!ours("other", 10));
        assert!(!ours("u", 0));
        assert_eq!(m.get("u", Memory::latest_write), Some(Some(12)));
    }

    #[test]
    fn the_oldest_write_is_forgotten_first() {
        let mut r = Memory::default();
        for rv in [5, 6, 7, 8, 9] {
            r.wrote(rv);
        }
        assert!(!r.is_own_write(5));
        assert!((6..=9).all(|rv| r.is_own_write(rv)));
        assert_eq!(r.latest_write(), Some(9));
    }

    #[test]
    fn forgetting_an_object_is_one_removal_of_everything() {
        let m = Memories::default();
        m.with("u", |r| {
            r.wrote(3);
            r.failures = 2;
            r.pushed = Some(1);
            r.rare_mut(|r| {
                r.unresolved = Some(Instant::now());
                r.rotation_warned = Some("token:a".into());
            });
        });
        m.with("v", |r| r.failures = 1);
        assert_eq!(m.len(), 2);
        m.forget("u");
        assert_eq!(m.len(), 1);
        assert_eq!(m.get("u", |r| r.clone()), None);
        // Resetting what an object without a record does not have makes no record.
        m.update("u", |r| r.failures = 0);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn a_read_is_due_after_the_period_or_when_there_was_none() {
        let mut r = Memory::default();
        assert!(r.read_due(Duration::from_secs(60)));
        r.last_read = Some(Instant::now());
        assert!(!r.read_due(Duration::from_secs(60)));
        assert!(r.read_due(Duration::ZERO));
    }

    #[test]
    fn uuid_keys_are_exact_and_other_uids_still_distinct() {
        let a = "0b9f2c1e-4d3a-4f6b-9e2d-1a2b3c4d5e6f";
        assert_eq!(id_key(a), 0x0b9f2c1e4d3a4f6b9e2d1a2b3c4d5e6f);
        assert_ne!(id_key(a), id_key("0b9f2c1e-4d3a-4f6b-9e2d-1a2b3c4d5e60"));
        assert_ne!(id_key("u"), id_key("v"));
        assert_ne!(id_key("u"), 0);
        // Too long, or not hex: hashed, not truncated.
        assert_ne!(id_key(&format!("{a}0")), id_key(a));
        // Exact: another case or dashes elsewhere are other ids.
        assert_ne!(id_key(&a.to_uppercase()), id_key(a));
        assert_ne!(id_key("0b9f2c1e4-d3a-4f6b-9e2d-1a2b3c4d5e6f"), id_key(a));
        assert_eq!(id_key("0b9f2c1e4d3a4f6b9e2d1a2b3c4d5e6f"), id_key(a));
    }

    #[test]
    fn what_few_objects_have_costs_nothing_once_it_is_gone() {
        let mut r = Memory::default();
        r.rare_mut(|r| r.unresolved = Some(Instant::now()));
        assert!(r.rare.is_some());
        assert!(r.rare().unresolved.is_some());
        r.rare_mut(|r| r.unresolved = None);
        assert_eq!(r.rare, None, "an empty box is dropped");
        // Clearing what was never set makes no box.
        r.rare_mut(|r| r.wait = None);
        assert_eq!(r.rare, None);
        // Every object has a record: it stays within a cache line and a half.
        assert!(std::mem::size_of::<Memory>() <= 96);
    }
}
