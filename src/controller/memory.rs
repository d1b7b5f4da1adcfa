//! What the operator remembers about each object between reconciles, in one record per object
//! uid: forgetting an object (it is gone from the apiserver) is one removal, so create-and-delete
//! churn does not grow the process.
//!
//! Everything here is a cache of facts that a restart may lose: after a restart every object
//! reads its app once, backoff starts over, and a create of unknown outcome is covered by the
//! pending marker written before it.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::ids::{IdKey, id_key};
use super::status::Reason;

/// How many recent writes per object are remembered: a create costs three or four, and echoes
/// arrive within milliseconds of the write's response.
pub(crate) const REMEMBERED: usize = 4;

/// The resourceVersions our latest `N` writes left an object at (0: none): a watch event at one
/// of them is the echo of our own write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Writes<const N: usize>([u64; N]);

impl<const N: usize> Default for Writes<N> {
    fn default() -> Self {
        Self([0; N])
    }
}

impl<const N: usize> Writes<N> {
    /// Records that our write left the object at `rv`, replacing the oldest remembered one.
    pub fn wrote(&mut self, rv: u64) {
        if rv == 0 || self.0.contains(&rv) {
            return;
        }
        if let Some(slot) = self.0.iter_mut().min_by_key(|v| **v) {
            *slot = rv;
        }
    }

    /// Whether `rv` is exactly a version one of our writes produced.
    pub fn is_own_write(&self, rv: u64) -> bool {
        rv != 0 && self.0.contains(&rv)
    }

    /// The newest version our writes produced, if any.
    pub fn latest_write(&self) -> Option<u64> {
        self.0.iter().copied().max().filter(|v| *v != 0)
    }

    /// The versions remembered.
    pub fn versions(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().copied().filter(|v| *v != 0)
    }
}

/// What is remembered of one of the operator's Secrets: its versions our latest two writes (or
/// reads that found it up to date) left it at. A Secret gets one write per reconcile of its
/// owner; a second remembered one covers an echo that arrives after the next write.
pub type SecretWrites = Writes<2>;

/// One object's record: what every object has, and what few have (behind one box, absent while
/// empty: the map holds a record for every object, so each byte here is paid per object).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Memory {
    /// The resourceVersions our latest writes left the object at.
    pub writes: Writes<REMEMBERED>,
    /// The generation whose spec last reached the cloud (0: none; generations start at 1).
    pushed: i64,
    /// A hash of the app key in the credentials Secret as this process last wrote or read it:
    /// with the Secret at a version it knows, drift is checked without reading it.
    delivered_key: Option<NonZeroU64>,
    /// When the cloud resource was last read (the drift check's clock), in tenths of a second
    /// since the process's first record ([`Tick`]); 0: never.
    last_read: Tick,
    /// Consecutive failures, for exponential backoff.
    pub failures: u32,
    rare: Option<Box<Rare>>,
}

/// Tenths of a second since the process's first record: 32 bits last 13 years, and save 12
/// bytes a record against an `Instant`.
type Tick = u32;

fn now_tick() -> Tick {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let elapsed = EPOCH.get_or_init(Instant::now).elapsed();
    // 1 at least: 0 means never.
    Tick::try_from(elapsed.as_millis() / 100 + 1).unwrap_or(Tick::MAX)
}

/// Whether a read at `last` (0: never) is due at `now` with `period`: never later than the
/// period, at most a tenth of a second earlier.
fn due(last: Tick, now: Tick, period: Duration) -> bool {
    last == 0 || u128::from(now.saturating_sub(last)) * 100 >= period.as_millis()
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
    /// With FromSecret: the create the cloud refused because another app holds the key.
    pub key_refused: Option<KeyRefusal>,
}

/// A create refused for its app key: what it was asked with, and when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyRefusal {
    pub asked: AskedWith,
    pub at: Instant,
}

/// What a FromSecret create depends on besides the cloud: the object's generation, and hashes
/// of the source Secret's version and of the account (project, region, credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AskedWith {
    pub generation: i64,
    pub source: u64,
    pub account: u64,
}

const NOTHING_RARE: Rare = Rare {
    unresolved: None,
    rejected: None,
    wait: None,
    rotation_warned: None,
    secret_conflict: false,
    source_compared: None,
    key_refused: None,
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

    /// Whether the last cloud read is at least `period` ago, or there was none.
    pub fn read_due(&self, period: Duration) -> bool {
        due(self.last_read, now_tick(), period)
    }

    /// The cloud resource was read (or made) just now.
    pub fn mark_read(&mut self) {
        self.last_read = now_tick();
    }

    /// The generation whose spec last reached the cloud.
    pub fn pushed(&self) -> Option<i64> {
        (self.pushed != 0).then_some(self.pushed)
    }

    pub fn set_pushed(&mut self, generation: Option<i64>) {
        self.pushed = generation.unwrap_or(0);
    }

    /// The hash of the app key last delivered (see the field).
    pub fn delivered_key(&self) -> Option<u64> {
        self.delivered_key.map(NonZeroU64::get)
    }

    pub fn set_delivered_key(&mut self, hash: u64) {
        // A hash of 0 (one in 2^64) is kept as 1: a false match then needs another such hash.
        self.delivered_key = NonZeroU64::new(hash.max(1));
    }
}

/// Every object's record, by uid: one map for the GatewayApps and InferenceApis, another, of
/// smaller records, for their Secrets.
#[derive(Debug)]
pub struct Records<T>(Mutex<HashMap<IdKey, T>>);

pub type Memories = Records<Memory>;

impl<T> Default for Records<T> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<T: Default> Records<T> {
    /// Reads or changes one object's record (created empty on first use).
    pub fn with<R>(&self, uid: &str, f: impl FnOnce(&mut T) -> R) -> R {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(id_key(uid)).or_default())
    }

    /// Changes one object's record if it has one (nothing to reset is not worth an entry).
    pub fn update(&self, uid: &str, f: impl FnOnce(&mut T)) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = map.get_mut(&id_key(uid)) {
            f(m);
        }
    }

    /// Reads one object's record without creating it.
    pub fn get<R>(&self, uid: &str, f: impl FnOnce(&T) -> R) -> Option<R> {
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
            r.writes.wrote(10);
            r.writes.wrote(12);
        });
        let ours = |uid: &str, rv| m.get(uid, |r| r.writes.is_own_write(rv)).unwrap_or(false);
        assert!(ours("u", 10));
        assert!(ours("u", 12));
        // A user's edit between our two writes is not ours.
        assert!(!ours("u", 11));
        assert!(!ours("other", 10));
        assert!(!ours("u", 0));
        assert_eq!(m.get("u", |r| r.writes.latest_write()), Some(Some(12)));
    }

    #[test]
    fn the_oldest_write_is_forgotten_first() {
        let mut r = Memory::default();
        for rv in [5, 6, 7, 8, 9] {
            r.writes.wrote(rv);
        }
        assert!(!r.writes.is_own_write(5));
        assert!((6..=9).all(|rv| r.writes.is_own_write(rv)));
        assert_eq!(r.writes.latest_write(), Some(9));
    }

    #[test]
    fn forgetting_an_object_is_one_removal_of_everything() {
        let m = Memories::default();
        m.with("u", |r| {
            r.writes.wrote(3);
            r.failures = 2;
            r.set_pushed(Some(1));
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
        r.mark_read();
        assert!(!r.read_due(Duration::from_secs(60)));
        assert!(r.read_due(Duration::ZERO));
    }

    #[test]
    fn a_read_is_due_a_period_after_the_last_to_the_tenth_of_a_second() {
        let minute = Duration::from_secs(60);
        let cases = [
            ("never read", 0, 5, minute, true),
            ("a minute later", 100, 700, minute, true),
            ("a tenth short of a minute", 100, 699, minute, false),
            (
                "4 s period, 3.9 s later",
                100,
                139,
                Duration::from_secs(4),
                false,
            ),
            (
                "4 s period, 4 s later",
                100,
                140,
                Duration::from_secs(4),
                true,
            ),
            ("a clock that went back", 100, 50, minute, false),
            ("no period", 100, 100, Duration::ZERO, true),
        ];
        for (name, last, now, period, want) in cases {
            assert_eq!(due(last, now, period), want, "{name}");
        }
    }

    #[test]
    fn records_are_64_and_16_bytes() {
        // The maps hold one per object (and one per Secret), with a 16-byte key, in tables
        // that double.
        assert_eq!(std::mem::size_of::<Memory>(), 64);
        assert_eq!(std::mem::size_of::<SecretWrites>(), 16);
    }

    #[test]
    fn a_secret_remembers_its_last_two_versions() {
        let mut w = SecretWrites::default();
        assert_eq!(w.latest_write(), None);
        for rv in [3, 5, 4] {
            w.wrote(rv);
        }
        assert!(!w.is_own_write(3), "the oldest of three is forgotten");
        assert!(w.is_own_write(4) && w.is_own_write(5));
        assert_eq!(w.latest_write(), Some(5));
        assert_eq!(w.versions().collect::<Vec<_>>().len(), 2);
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
    }
}
