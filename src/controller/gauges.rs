//! The gauges kept from the watch caches: managed objects by Ready state, Stalled objects, the
//! longest time an object has been not Ready, and the work queues' depth and longest wait.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use kube::runtime::reflector::Store;

use super::Context;
use super::driver::Managed;
use crate::api::{Condition, GatewayApp, InferenceApi};

/// How often the gauges are brought up to date.
const PERIOD: Duration = Duration::from_secs(5);

/// What the gauges show for one kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Health {
    pub ready: usize,
    pub not_ready: usize,
    pub stalled: usize,
    /// The longest an object has been not Ready (0 when all are).
    pub not_ready_oldest: Duration,
}

/// One object as the gauges see it: its conditions and when it was created.
pub struct Seen<'a> {
    pub conditions: &'a [Condition],
    pub created: Option<DateTime<Utc>>,
}

fn condition_is<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Counts and ages at `now`. A not-Ready object counts from its Ready condition's last
/// transition, or from its creation when it has none yet (a new object no reconcile reached).
pub fn health<'a>(objects: impl Iterator<Item = Seen<'a>>, now: DateTime<Utc>) -> Health {
    let mut h = Health::default();
    for o in objects {
        if condition_is(o.conditions, "Stalled").is_some_and(|c| c.status == "True") {
            h.stalled += 1;
        }
        let ready = condition_is(o.conditions, "Ready");
        if ready.is_some_and(|c| c.status == "True") {
            h.ready += 1;
            continue;
        }
        h.not_ready += 1;
        let since = ready
            .and_then(|c| DateTime::parse_from_rfc3339(&c.last_transition_time).ok())
            .map(|t| t.with_timezone(&Utc))
            .or(o.created);
        if let Some(age) = since.and_then(|t| (now - t).to_std().ok()) {
            h.not_ready_oldest = h.not_ready_oldest.max(age);
        }
    }
    h
}

fn update<K: Managed>(ctx: &Context, store: &Store<K>) {
    let kind = K::kind(&());
    let all = store.state();
    let h = health(
        all.iter().map(|o| Seen {
            conditions: o.status_ref().map(K::conditions).unwrap_or(&[]),
            created: o
                .creation_timestamp()
                .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0)),
        }),
        Utc::now(),
    );
    let queue = K::work_queue(ctx).sample(Instant::now(), |namespace, name| {
        store
            .get(&kube::runtime::reflector::ObjectRef::new(name).within(namespace))
            .is_some()
    });
    let (ready, not_ready) = (h.ready as i64, h.not_ready as i64);
    ctx.metrics.set_managed(&kind, ready, not_ready);
    ctx.metrics.set_health(&kind, h.stalled, h.not_ready_oldest);
    ctx.metrics.set_queue(&kind, queue.depth, queue.oldest);
}

/// Keeps the gauges current from the caches.
pub(super) async fn keep_current(ctx: Arc<Context>) {
    loop {
        if let Some(store) = ctx.gateway_apps.get() {
            update::<GatewayApp>(&ctx, store);
        }
        if let Some(store) = ctx.inference_apis.get() {
            update::<InferenceApi>(&ctx, store);
        }
        tokio::time::sleep(PERIOD).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(type_: &str, status: &str, at: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            last_transition_time: at.into(),
            ..Default::default()
        }
    }

    #[test]
    fn counts_and_the_longest_not_ready() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T01:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let created = Some(now - chrono::Duration::hours(5));
        let ready = [cond("Ready", "True", "2026-01-01T00:00:00Z")];
        let failing = [cond("Ready", "False", "2026-01-01T00:30:00Z")];
        let stalled = [
            cond("Ready", "False", "2026-01-01T00:50:00Z"),
            cond("Stalled", "True", "2026-01-01T00:50:00Z"),
        ];
        let no_time = [cond("Ready", "Unknown", "not a time")];
        // (objects, expected)
        let cases: Vec<(Vec<Seen>, Health)> = vec![
            (vec![], Health::default()),
            (
                vec![Seen {
                    conditions: &ready,
                    created,
                }],
                Health {
                    ready: 1,
                    ..Default::default()
                },
            ),
            (
                vec![
                    Seen {
                        conditions: &ready,
                        created,
                    },
                    Seen {
                        conditions: &failing,
                        created,
                    },
                    Seen {
                        conditions: &stalled,
                        created,
                    },
                ],
                Health {
                    ready: 1,
                    not_ready: 2,
                    stalled: 1,
                    not_ready_oldest: Duration::from_secs(1800),
                },
            ),
            // No Ready condition yet, or no usable time: counted from creation.
            (
                vec![
                    Seen {
                        conditions: &[],
                        created,
                    },
                    Seen {
                        conditions: &no_time,
                        created,
                    },
                ],
                Health {
                    not_ready: 2,
                    not_ready_oldest: Duration::from_secs(5 * 3600),
                    ..Default::default()
                },
            ),
            // Nothing to count from: not Ready, with no age.
            (
                vec![Seen {
                    conditions: &[],
                    created: None,
                }],
                Health {
                    not_ready: 1,
                    ..Default::default()
                },
            ),
            // A clock behind the condition gives no negative age.
            (
                vec![Seen {
                    conditions: &failing,
                    created: Some(now + chrono::Duration::hours(1)),
                }],
                Health {
                    not_ready: 1,
                    not_ready_oldest: Duration::from_secs(1800),
                    ..Default::default()
                },
            ),
        ];
        for (objects, expected) in cases {
            assert_eq!(health(objects.into_iter(), now), expected);
        }
    }
}
