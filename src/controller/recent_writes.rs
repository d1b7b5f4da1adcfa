//! Secrets this process created moments ago that its watch has not shown yet. Under load the
//! Secrets watch can lag the objects' own by some milliseconds: a reconcile that follows a create
//! (the status write's echo) would find the new Secret absent from the cache and read it back.
//! A write is noted just before it is sent and trusted for [`WATCH_LAG`] while the watch has not
//! shown that Secret; the watch's own event for it (applied or deleted), a failed write or a
//! re-list ends the trust at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a create of ours stands in for the watch's echo. Watches deliver in milliseconds;
/// past this the cache is believed again (an absent Secret is read, and made again if gone).
pub const WATCH_LAG: Duration = Duration::from_secs(10);

/// A Secret's namespace and name.
type Key = (Box<str>, Box<str>);

/// The Secrets created and not yet seen, with when.
#[derive(Default)]
pub struct RecentWrites(Mutex<HashMap<Key, Instant>>);

impl RecentWrites {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Instant>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This process just wrote the Secret.
    pub fn wrote(&self, namespace: &str, name: &str, now: Instant) {
        let mut map = self.map();
        // Echoes that never came (a Secret deleted before its watch saw it) do not pile up.
        map.retain(|_, at| now.saturating_duration_since(*at) < WATCH_LAG);
        map.insert((namespace.into(), name.into()), now);
    }

    /// The watch showed the Secret (created, changed or deleted): it speaks for it again.
    pub fn seen(&self, namespace: &str, name: &str) {
        let mut map = self.map();
        if !map.is_empty() {
            map.remove(&(Box::<str>::from(namespace), Box::<str>::from(name)));
        }
    }

    /// Whether this process wrote the Secret within [`WATCH_LAG`] and the watch has not shown it.
    /// Asked on every drift check: with nothing waiting (at rest), no key is built.
    pub fn unseen_write(&self, namespace: &str, name: &str, now: Instant) -> bool {
        let map = self.map();
        !map.is_empty()
            && map
                .get(&(Box::<str>::from(namespace), Box::<str>::from(name)))
                .is_some_and(|at| now.saturating_duration_since(*at) < WATCH_LAG)
    }

    /// The watch starts over: its list shows what exists, so nothing written stands in for it.
    pub fn clear(&self) {
        self.map().clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_trusted_until_the_watch_shows_it_or_the_lag_has_passed() {
        let t0 = Instant::now();
        let later = |s: u64| t0 + Duration::from_secs(s);
        let recent = RecentWrites::default();
        assert!(!recent.unseen_write("ns", "a", t0), "nothing written");
        recent.wrote("ns", "a", t0);
        assert!(
            recent.unseen_write("ns", "a", later(1)),
            "written, not seen"
        );
        assert!(!recent.unseen_write("ns", "b", later(1)), "another name");
        assert!(
            !recent.unseen_write("other", "a", later(1)),
            "another namespace"
        );
        assert!(
            !recent.unseen_write("ns", "a", later(10)),
            "past the lag: the cache is believed"
        );
        recent.seen("ns", "a");
        assert!(
            !recent.unseen_write("ns", "a", later(1)),
            "the watch showed it"
        );
    }

    #[test]
    fn writes_whose_echo_never_came_are_dropped_on_the_next_write() {
        let t0 = Instant::now();
        let recent = RecentWrites::default();
        recent.wrote("ns", "a", t0);
        recent.wrote("ns", "b", t0 + Duration::from_secs(11));
        assert_eq!(recent.len(), 1);
        assert!(recent.unseen_write("ns", "b", t0 + Duration::from_secs(12)));
    }
}
