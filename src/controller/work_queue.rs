//! What waits for a reconcile, for the work-queue metrics. kube-runtime's scheduler keeps its
//! queue to itself, so the operator notes each object it hands the controller (a change someone
//! else made, a Secret or app it depends on, a policy or account change) and forgets it when a
//! reconcile of it starts. Timed re-checks (the resync, retries after an error) are not noted:
//! they count from the moment they start, like a reconcile nobody waited for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;

/// The objects of one kind that a trigger queued and no reconcile has started on yet.
#[derive(Default)]
pub struct WorkQueue {
    /// (namespace, name) -> when it was first queued since its last reconcile started.
    waiting: Mutex<HashMap<(String, String), Instant>>,
}

/// Depth and the longest wait, as the gauges show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueSample {
    pub depth: usize,
    pub oldest: Duration,
}

impl WorkQueue {
    /// A trigger queued the object; an earlier queueing keeps its time (the scheduler runs the
    /// object once for both).
    pub fn queued(&self, namespace: &str, name: &str, now: Instant) {
        self.lock()
            .entry((namespace.to_string(), name.to_string()))
            .or_insert(now);
    }

    /// Notes every object of a trigger and hands the list on to the controller.
    pub fn queued_all<K>(&self, objects: Vec<ObjectRef<K>>) -> Vec<ObjectRef<K>>
    where
        K: kube::Resource,
        K::DynamicType: Eq + std::hash::Hash + Clone,
    {
        let now = Instant::now();
        for o in &objects {
            self.queued(o.namespace.as_deref().unwrap_or_default(), &o.name, now);
        }
        objects
    }

    /// A reconcile of the object starts: how long it waited, if a trigger queued it.
    pub fn started(&self, namespace: &str, name: &str, now: Instant) -> Option<Duration> {
        self.lock()
            .remove(&(namespace.to_string(), name.to_string()))
            .map(|queued| now.saturating_duration_since(queued))
    }

    /// Depth and the longest wait. Objects that no longer exist are forgotten: the controller
    /// drops their triggers without a reconcile.
    pub fn sample(&self, now: Instant, exists: impl Fn(&str, &str) -> bool) -> QueueSample {
        let mut waiting = self.lock();
        waiting.retain(|(namespace, name), _| exists(namespace, name));
        QueueSample {
            depth: waiting.len(),
            oldest: waiting
                .values()
                .map(|queued| now.saturating_duration_since(*queued))
                .max()
                .unwrap_or_default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Instant>> {
        // A panic while holding the lock cannot leave the map inconsistent: every change is
        // one insert, remove or retain.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_and_wait_follow_queueing_and_starts() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let q = WorkQueue::default();
        let all = |_: &str, _: &str| true;
        // (step, expected sample after it)
        q.queued("ns", "a", s(0));
        assert_eq!(
            q.sample(s(1), all),
            QueueSample {
                depth: 1,
                oldest: Duration::from_secs(1)
            }
        );
        // Queued again before it ran: one entry, the first time kept.
        q.queued("ns", "a", s(2));
        q.queued("ns", "b", s(3));
        assert_eq!(
            q.sample(s(4), all),
            QueueSample {
                depth: 2,
                oldest: Duration::from_secs(4)
            }
        );
        // Same name, another namespace: another object.
        q.queued("other", "a", s(4));
        assert_eq!(q.sample(s(4), all).depth, 3);
        assert_eq!(q.started("ns", "a", s(5)), Some(Duration::from_secs(5)));
        assert_eq!(
            q.sample(s(5), all),
            QueueSample {
                depth: 2,
                oldest: Duration::from_secs(2)
            }
        );
        // A start nobody queued (a resync, a retry) waited for nothing we know of.
        assert_eq!(q.started("ns", "a", s(6)), None);
        // Queued while it ran: waits again from then.
        q.queued("ns", "b", s(7));
        assert_eq!(q.started("ns", "b", s(8)), Some(Duration::from_secs(5)));
        assert_eq!(q.started("other", "a", s(8)), Some(Duration::from_secs(4)));
        assert_eq!(q.sample(s(9), all), QueueSample::default());
    }

    #[test]
    fn objects_gone_from_the_cache_leave_the_queue() {
        let t0 = Instant::now();
        let q = WorkQueue::default();
        q.queued("ns", "deleted", t0);
        q.queued("ns", "kept", t0 + Duration::from_secs(1));
        let sample = q.sample(t0 + Duration::from_secs(3), |_, name| name == "kept");
        assert_eq!(
            sample,
            QueueSample {
                depth: 1,
                oldest: Duration::from_secs(2)
            }
        );
        assert_eq!(q.started("ns", "deleted", t0), None, "forgotten");
    }

    #[test]
    fn a_trigger_list_is_noted_and_handed_on_unchanged() {
        let q = WorkQueue::default();
        let refs = vec![
            ObjectRef::<crate::api::GatewayApp>::new("a").within("ns"),
            ObjectRef::<crate::api::GatewayApp>::new("b").within("ns"),
        ];
        let out = q.queued_all(refs.clone());
        assert_eq!(out, refs);
        assert_eq!(q.sample(Instant::now(), |_, _| true).depth, 2);
    }
}
