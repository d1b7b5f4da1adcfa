//! The resync: every cached object is reconciled once per resync period, by one timer that walks
//! the cache a slice at a time, instead of a requeue kept for each object in the controller's
//! scheduler. Kept per object, that requeue cost a few hundred bytes of every object's memory (a
//! copy of its reference in the scheduler's map and in its timer queue); the sweep keeps nothing
//! per object. Objects fall into slices by uid, so their resyncs spread evenly over the period and
//! each object keeps its place in it.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use kube::runtime::reflector::{ObjectRef, Store};

use super::{Context, driver};

/// Slices of a resync period: one tick of the sweep each.
pub const SLICES: u64 = 60;

/// Pure: the slice of the period an object's resync falls in.
pub fn slice_of(uid: &str) -> u64 {
    // std's SipHash with its fixed keys: the same slice for a uid in every process.
    let mut h = std::hash::DefaultHasher::new();
    uid.hash(&mut h);
    h.finish() % SLICES
}

/// Pure: whether the sweep's tick for `slice` reconciles this object: its uid falls in the
/// slice, and it has no retry of its own scheduled (backing off after failures, or waiting for a
/// create's outcome or a deletion): kube-runtime keeps the earlier of two requests, so a visit
/// would cut a backoff short, and would move a wait's next look past the minute after which
/// the wait is told in an Event.
pub fn swept(slice: u64, uid: &str, retrying: bool) -> bool {
    !retrying && slice_of(uid) == slice
}

/// Pure: the time between two ticks of the sweep.
pub fn tick(period: Duration) -> Duration {
    (period / SLICES as u32).max(Duration::from_millis(10))
}

/// The objects of `store` whose resync is due, slice after slice, one slice per tick. Not noted
/// in the kind's work queue: like the per-object requeue before it, a timed re-check is not a
/// change waiting. The first tick comes a whole tick after the start: the watch's first list
/// has just reconciled everything.
pub fn sweep<K: driver::Managed>(
    store: Store<K>,
    period: Duration,
    ctx: Arc<Context>,
) -> impl Stream<Item = ObjectRef<K>> + Send + 'static {
    let every = tick(period);
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    // A tick missed (a busy runtime) is not made up in a rush.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let slices = futures::stream::unfold((interval, 0u64), |(mut interval, n)| async move {
        interval.tick().await;
        Some((n % SLICES, (interval, n + 1)))
    });
    futures::StreamExt::flat_map(slices, move |slice| {
        let due: Vec<ObjectRef<K>> = store
            .state()
            .iter()
            .filter(|o| {
                let uid = o.meta().uid.as_deref().unwrap_or_default();
                let retrying = ctx
                    .memory
                    .get(uid, |m| m.failures > 0 || m.rare().wait.is_some())
                    == Some(true);
                swept(slice, uid, retrying)
            })
            .map(|o| ObjectRef::from(o.as_ref()))
            .collect();
        futures::stream::iter(due)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_spread_evenly_over_the_slices_and_keep_their_place() {
        let mut per_slice = [0u32; SLICES as usize];
        for i in 0..60_000u32 {
            let uid = format!("4f6e1c2a-{:04x}-4b7d-9a1e-{:012x}", i % 65_536, i);
            let slice = slice_of(&uid);
            assert_eq!(slice, slice_of(&uid), "the same slice every time");
            per_slice[slice as usize] += 1;
        }
        // 1,000 expected per slice.
        let (min, max) = (
            per_slice.iter().min().copied().unwrap_or_default(),
            per_slice.iter().max().copied().unwrap_or_default(),
        );
        assert!(min > 850 && max < 1150, "{min}..{max}");
    }

    #[test]
    fn an_object_backing_off_is_left_to_its_own_retry() {
        let uid = "4f6e1c2a-0001-4b7d-9a1e-000000000001";
        let mine = slice_of(uid);
        let cases = [
            ("its slice", mine, false, true),
            ("another slice", (mine + 1) % SLICES, false, false),
            ("its slice, retrying on its own", mine, true, false),
        ];
        for (name, slice, retrying, want) in cases {
            assert_eq!(swept(slice, uid, retrying), want, "{name}");
        }
    }

    #[test]
    fn a_tick_is_a_slice_of_the_period_and_never_a_spin() {
        let cases = [
            (Duration::from_secs(600), Duration::from_secs(10)),
            (Duration::from_secs(60), Duration::from_secs(1)),
            (Duration::from_millis(100), Duration::from_millis(10)),
            (Duration::ZERO, Duration::from_millis(10)),
        ];
        for (period, want) in cases {
            assert_eq!(tick(period), want, "{period:?}");
        }
    }
}
