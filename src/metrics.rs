//! Prometheus metrics (SPEC §5). No label carries an object name: kinds, reasons, services,
//! operations and status codes only.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::cloud::{RequestObserver, Service};
use crate::process_metrics::ProcessMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SkipLabels {
    pub kind: String,
    pub why: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloudLabels {
    pub service: String,
    pub operation: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloudLatencyLabels {
    pub service: String,
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KubeLabels {
    pub verb: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabels {
    pub kind: String,
    pub ready: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<KindLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub reconciles_skipped: Family<SkipLabels, Counter>,
    pub cloud_requests: Family<CloudLabels, Counter>,
    pub cloud_latency: Family<CloudLatencyLabels, Histogram>,
    pub managed: Family<ReadyLabels, Gauge>,
    /// 1 while this process holds the leader Lease (or runs without leader election).
    pub leader: Gauge,
    pub process: ProcessMetrics,
    pub kube_requests: Family<KubeLabels, Counter>,
    pub queue_depth: Family<KindLabels, Gauge>,
    pub queue_oldest: Family<KindLabels, Gauge<f64, AtomicU64>>,
    pub queue_wait: Family<KindLabels, Histogram>,
    pub stalled: Family<KindLabels, Gauge>,
    pub not_ready_oldest: Family<KindLabels, Gauge<f64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("appauth");
        let reconciles = Family::<KindLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        let reconciles_skipped = Family::<SkipLabels, Counter>::default();
        let cloud_requests = Family::<CloudLabels, Counter>::default();
        let cloud_latency = Family::<CloudLatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        let managed = Family::<ReadyLabels, Gauge>::default();
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        registry.register("build_info", "The operator's version (always 1)", build);
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this process is the leader that reconciles, 0 while it is a standby",
            leader.clone(),
        );
        let process = ProcessMetrics::register(&mut registry);
        let kube_requests = Family::<KubeLabels, Counter>::default();
        registry.register(
            "kube_requests",
            "Apiserver calls by verb and final HTTP status, after the client's own retries of \
             429, 503 and 504 (0: no response)",
            kube_requests.clone(),
        );
        registry.register("reconciles", "Reconciles by kind", reconciles.clone());
        let queue_depth = Family::<KindLabels, Gauge>::default();
        registry.register(
            "workqueue_depth",
            "Objects a change has queued for a reconcile that has not started yet, by kind \
             (timed re-checks and retries count from when they start)",
            queue_depth.clone(),
        );
        let queue_oldest = Family::<KindLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "workqueue_oldest_seconds",
            "How long the longest-waiting queued object has waited for its reconcile, by kind",
            queue_oldest.clone(),
        );
        let queue_wait = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 20))
        });
        registry.register(
            "workqueue_wait_seconds",
            "Time from a change queueing an object to its reconcile starting, by kind",
            queue_wait.clone(),
        );
        let stalled = Family::<KindLabels, Gauge>::default();
        registry.register(
            "stalled_objects",
            "Objects whose Stalled condition is True (they wait for a change), by kind",
            stalled.clone(),
        );
        let not_ready_oldest = Family::<KindLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "not_ready_oldest_seconds",
            "How long the object that has been not Ready the longest has been so, by kind \
             (0: all Ready)",
            not_ready_oldest.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles by kind and reason",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration by kind",
            reconcile_duration.clone(),
        );
        registry.register(
            "reconciles_skipped",
            "Reconciles that returned without work, by kind and why: stale (the cache is older \
             than our last write)",
            reconciles_skipped.clone(),
        );
        registry.register(
            "cloud_requests",
            "Cloud requests by service, operation and HTTP status (0: no response)",
            cloud_requests.clone(),
        );
        registry.register(
            "cloud_request_duration_seconds",
            "Cloud request latency by service and operation",
            cloud_latency.clone(),
        );
        registry.register(
            "managed_objects",
            "Managed objects by kind and Ready state",
            managed.clone(),
        );
        Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            reconciles_skipped,
            cloud_requests,
            cloud_latency,
            managed,
            leader,
            process,
            kube_requests,
            queue_depth,
            queue_oldest,
            queue_wait,
            stalled,
            not_ready_oldest,
        }
    }
}

impl Metrics {
    pub fn reconciled(&self, kind: &str, elapsed: Duration, error_reason: Option<&str>) {
        let labels = KindLabels {
            kind: kind.to_string(),
        };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if let Some(reason) = error_reason {
            self.reconcile_errors
                .get_or_create(&ErrorLabels {
                    kind: kind.to_string(),
                    reason: reason.to_string(),
                })
                .inc();
        }
    }

    /// Every series of the kinds' own families at zero, so a dashboard shows them and
    /// `rate`/`increase` see a counter's first step (a series born at 1 shows no increase: the
    /// first QuotaExceeded would not raise the alert). `failure_reasons` are the reasons a failed
    /// reconcile is counted under. The cloud families begin with the first cloud request.
    pub fn start_series(&self, kinds: &[&str], failure_reasons: &[&str]) {
        for kind in kinds {
            let labels = KindLabels {
                kind: kind.to_string(),
            };
            let _ = self.reconciles.get_or_create(&labels);
            let _ = self.reconcile_duration.get_or_create(&labels);
            let _ = self.queue_wait.get_or_create(&labels);
            let _ = self.reconciles_skipped.get_or_create(&SkipLabels {
                kind: kind.to_string(),
                why: "stale".into(),
            });
            for reason in failure_reasons {
                let _ = self.reconcile_errors.get_or_create(&ErrorLabels {
                    kind: kind.to_string(),
                    reason: reason.to_string(),
                });
            }
            self.set_queue(kind, 0, Duration::ZERO);
            self.set_health(kind, 0, Duration::ZERO);
            self.set_managed(kind, 0, 0);
        }
    }

    /// A reconcile that returned early; it is counted in `reconciles` too.
    pub fn skipped(&self, kind: &str, why: &str) {
        self.reconciles_skipped
            .get_or_create(&SkipLabels {
                kind: kind.to_string(),
                why: why.to_string(),
            })
            .inc();
    }

    /// One apiserver request answered with `code` (0: no answer).
    pub fn kube_request(&self, verb: &str, code: u16) {
        self.kube_requests
            .get_or_create(&KubeLabels {
                verb: verb.to_string(),
                code: code.to_string(),
            })
            .inc();
    }

    /// A reconcile started after its object waited `waited` in the queue.
    pub fn queue_waited(&self, kind: &str, waited: Duration) {
        self.queue_wait
            .get_or_create(&KindLabels { kind: kind.into() })
            .observe(waited.as_secs_f64());
    }

    pub fn set_queue(&self, kind: &str, depth: usize, oldest: Duration) {
        let labels = KindLabels { kind: kind.into() };
        self.queue_depth
            .get_or_create(&labels)
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        self.queue_oldest
            .get_or_create(&labels)
            .set(oldest.as_secs_f64());
    }

    pub fn set_health(&self, kind: &str, stalled: usize, not_ready_oldest: Duration) {
        let labels = KindLabels { kind: kind.into() };
        self.stalled
            .get_or_create(&labels)
            .set(i64::try_from(stalled).unwrap_or(i64::MAX));
        self.not_ready_oldest
            .get_or_create(&labels)
            .set(not_ready_oldest.as_secs_f64());
    }

    pub fn set_managed(&self, kind: &str, ready: i64, not_ready: i64) {
        self.managed
            .get_or_create(&ReadyLabels {
                kind: kind.into(),
                ready: "true".into(),
            })
            .set(ready);
        self.managed
            .get_or_create(&ReadyLabels {
                kind: kind.into(),
                ready: "false".into(),
            })
            .set(not_ready);
    }

    pub fn encode(&self) -> String {
        self.process.refresh();
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Feeds cloud request records into the metrics.
pub struct CloudObserver(pub Arc<Metrics>);

impl RequestObserver for CloudObserver {
    fn observe(&self, service: Service, op: &'static str, status: u16, elapsed: Duration) {
        let m = &self.0;
        m.cloud_requests
            .get_or_create(&CloudLabels {
                service: service.as_str().into(),
                operation: op.into(),
                code: status.to_string(),
            })
            .inc();
        m.cloud_latency
            .get_or_create(&CloudLatencyLabels {
                service: service.as_str().into(),
                operation: op.into(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_series_are_exposed_at_zero_before_anything_happens() {
        let m = Metrics::default();
        assert!(!m.encode().contains("appauth_reconcile_errors_total"));
        m.start_series(
            &["GatewayApp", "InferenceApi"],
            &["QuotaExceeded", "KubernetesApi"],
        );
        let page = m.encode();
        for series in [
            "appauth_reconciles_total{kind=\"GatewayApp\"} 0",
            "appauth_reconcile_errors_total{kind=\"InferenceApi\",reason=\"QuotaExceeded\"} 0",
            "appauth_reconcile_errors_total{kind=\"GatewayApp\",reason=\"KubernetesApi\"} 0",
            "appauth_reconcile_duration_seconds_count{kind=\"GatewayApp\"} 0",
            "appauth_workqueue_wait_seconds_count{kind=\"InferenceApi\"} 0",
            "appauth_reconciles_skipped_total{kind=\"GatewayApp\",why=\"stale\"} 0",
            "appauth_stalled_objects{kind=\"InferenceApi\"} 0",
            "appauth_managed_objects{kind=\"GatewayApp\",ready=\"false\"} 0",
        ] {
            assert!(page.lines().any(|l| l == series), "no {series} in:\n{page}");
        }
        // The first failure is a step of the started series, not a new one.
        m.reconciled(
            "GatewayApp",
            Duration::from_millis(5),
            Some("QuotaExceeded"),
        );
        assert!(m.encode().lines().any(|l| l
            == "appauth_reconcile_errors_total{kind=\"GatewayApp\",reason=\"QuotaExceeded\"} 1"));
    }
}
