//! The controllers: shared context, wiring and the per-kind reconcilers.

pub mod account;
pub mod claims;
pub mod common;
pub mod echo;
pub mod gateway_app;
mod gauges;
pub mod inference_api;
pub mod marker;
pub mod secret;
pub mod status;
pub mod waits;
pub mod wiring;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;

use crate::api::{GatewayApp, InferenceApi};
use crate::cloud::{Account, Cloud};
use crate::metrics::Metrics;

/// Operator settings that the reconcilers need.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cluster_name: String,
    pub allow_adoption: bool,
    /// Mirror new app ids into the app-id annotation (a fourth write per new app).
    pub mirror_app_id: bool,
    /// Period of the drift check (jittered).
    pub resync: Duration,
    /// Request timeout plus lease duration: how long a foreign pending marker must age before a
    /// create may run again.
    pub marker_grace: Duration,
    /// This process: written into pending markers.
    pub instance: String,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub concurrency: u16,
    /// First wait after QuotaExceeded.
    pub quota_backoff: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cluster_name: "default".into(),
            allow_adoption: true,
            mirror_app_id: true,
            resync: Duration::from_secs(600),
            marker_grace: Duration::from_secs(30),
            instance: format!("appauth-operator/{}", std::process::id()),
            namespace: None,
            label_selector: None,
            concurrency: 16,
            quota_backoff: Duration::from_secs(60),
        }
    }
}

pub struct Context {
    pub client: Client,
    pub cloud: Arc<Cloud>,
    pub default_account: Option<Account>,
    pub settings: Settings,
    pub recorder: Recorder,
    pub gateway_apps: OnceLock<Store<GatewayApp>>,
    pub inference_apis: OnceLock<Store<InferenceApi>>,
    /// Our own creates whose outcome is unknown (timeout, dropped connection), by object uid.
    pub unresolved: Mutex<HashMap<String, Instant>>,
    /// Consecutive failures per object, for exponential backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// When each object was last read from the cloud (drift check), by uid.
    pub last_read: echo::Reads,
    pub metrics: Arc<Metrics>,
    /// The resourceVersions our own writes produced, by uid: their watch events trigger
    /// nothing, and an older cached object is stale (its newer version is on the way).
    pub own_writes: echo::OwnWrites,
    /// GatewayApps whose last reconcile left nothing to do (see `echo::Settled`).
    pub settled: echo::Settled,
    /// Events go out from a background task, so that a reconcile never waits on one.
    events: tokio::sync::mpsc::Sender<(Event, ObjectReference)>,
    /// Events queued and not yet taken by the publisher.
    events_queued: Arc<std::sync::atomic::AtomicUsize>,
    /// The generation the cloud rejected as invalid, by uid: no cloud call until it changes.
    pub rejected: Mutex<HashMap<String, i64>>,
    /// Objects waiting (Creating, Deleting): since when, and whether that was told in an Event.
    pub waits: Mutex<HashMap<String, (status::Reason, Instant, bool)>>,
    /// Which GatewayApp claims which app id (from the watch).
    pub claims: claims::Claims,
    /// The generation whose spec each object last pushed to the cloud.
    pub pushed: Pushed,
}

/// Per object, the metadata.generation whose spec reached the cloud (in memory: after a
/// restart every object reads its app anyway).
#[derive(Default)]
pub struct Pushed(Mutex<HashMap<String, i64>>);

impl Pushed {
    pub fn is(&self, uid: &str, generation: Option<i64>) -> bool {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        generation.is_some() && map.get(uid).copied() == generation
    }

    pub fn record(&self, uid: &str, generation: Option<i64>) {
        if let Some(g) = generation {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            map.insert(uid.to_string(), g);
        }
    }

    pub fn forget(&self, uid: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
    }
}

impl Context {
    pub fn new(
        client: Client,
        cloud: Arc<Cloud>,
        default_account: Option<Account>,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let reporter = Reporter {
            controller: "appauth-operator".into(),
            instance: Some(settings.instance.clone()),
        };
        let recorder = Recorder::new(client.clone(), reporter.clone());
        let (events, queue) = tokio::sync::mpsc::channel(EVENT_QUEUE);
        let events_queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        tokio::spawn(publish_events(
            recorder.clone(),
            client.clone(),
            reporter.clone(),
            queue,
            events_queued.clone(),
        ));
        Arc::new(Self {
            recorder,
            events,
            events_queued,
            client,
            cloud,
            default_account,
            settings,
            gateway_apps: OnceLock::new(),
            inference_apis: OnceLock::new(),
            unresolved: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            last_read: echo::Reads::default(),
            metrics,
            rejected: Mutex::new(HashMap::new()),
            waits: Mutex::new(HashMap::new()),
            claims: claims::Claims::default(),
            pushed: Pushed::default(),
            own_writes: echo::OwnWrites::default(),
            settled: echo::Settled::default(),
        })
    }

    /// Queues an Event for publishing; failures are logged, never fatal. Notes never carry secret
    /// material. Waits only when the queue is full.
    pub async fn event(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        self.events_queued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.events.send((ev, reference.clone())).await.is_err() {
            tracing::warn!(reason, "the Event publisher has stopped; Event dropped");
        }
    }

    pub fn backoff(&self, uid: &str, long: bool) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(uid.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        let base = if long {
            self.settings.quota_backoff
        } else {
            Duration::from_millis(500)
        };
        let cap = if long {
            Duration::from_secs(1800)
        } else {
            Duration::from_secs(300)
        };
        let d = base.saturating_mul(1u32 << (*n - 1).min(12)).min(cap);
        d / 2 + Duration::from_millis(rand::random_range(0..=(d / 2).as_millis().max(1) as u64))
    }

    /// The object is gone from the apiserver: drop everything remembered about it, so that
    /// create-and-delete churn does not grow the operator.
    pub fn forget(&self, uid: &str) {
        self.own_writes.forget(uid);
        self.settled.forget(uid);
        self.last_read.forget(uid);
        self.unresolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
        self.rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
        self.waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
        self.pushed.forget(uid);
    }

    /// Records the resourceVersion one of our writes produced.
    /// Records the version our write left one of our objects at (its watch event is an echo),
    /// unless the answer shows a change by someone else since the version we read: then that
    /// event must bring a reconcile like any other change.
    pub fn note_written<K: kube::Resource>(&self, written: &K, read: &K) {
        if !echo::changed_by_others(read.meta(), written.meta()) {
            self.note_secret_written(written);
        }
    }

    /// Records the version our apply left a Secret at. A concurrent edit needs no reconcile:
    /// the apply reasserted our keys and others' keys survive it.
    pub fn note_secret_written<K: kube::Resource>(&self, obj: &K) {
        let rv = echo::version_of(obj.meta());
        if let (Some(uid), true) = (obj.meta().uid.as_deref(), rv != 0) {
            self.own_writes.record(uid, rv);
        }
    }

    /// Whether this watch event only reports one of our own writes.
    pub fn is_echo<K: kube::Resource>(&self, obj: &K) -> bool {
        obj.meta()
            .uid
            .as_deref()
            .is_some_and(|uid| self.own_writes.is_echo(uid, echo::version_of(obj.meta())))
    }

    /// Whether the cached object is older than our own last write to it.
    pub fn is_stale<K: kube::Resource>(&self, obj: &K) -> bool {
        let rv = echo::version_of(obj.meta());
        obj.meta()
            .uid
            .as_deref()
            .and_then(|uid| self.own_writes.latest(uid))
            .is_some_and(|latest| rv < latest)
    }

    pub fn succeeded(&self, uid: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
        self.waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
    }

    /// The resync period with ±10% jitter.
    pub fn resync(&self) -> Duration {
        let base = self.settings.resync.as_millis() as u64;
        let jitter = base / 10;
        Duration::from_millis(base - jitter + rand::random_range(0..=2 * jitter.max(1)))
    }
}

/// Events waiting to be published; beyond this a reconcile waits for room. During a burst the
/// writes users wait for (the Secret, the status) go first and Events trail behind; about 2 MB
/// at most.
const EVENT_QUEUE: usize = 4096;
/// Events published at once while few wait, so that a burst's writes go first...
const EVENT_CONCURRENCY: usize = 2;
/// ...and at most, once this many wait: Events must keep up, or reconciles would wait for room.
const EVENT_CONCURRENCY_BEHIND: usize = 8;
const EVENT_BEHIND: usize = 512;

/// Warnings go through the shared recorder, which folds repeats into a series. Normal Events
/// (created, adopted, rotated, deleted) happen once per action: a throwaway recorder publishes
/// them, because the shared one keeps every Event it sent for six minutes, which is tens of MB
/// after a burst of 10,000 creates.
async fn publish_events(
    shared: Recorder,
    client: Client,
    reporter: Reporter,
    mut queue: tokio::sync::mpsc::Receiver<(Event, ObjectReference)>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
) {
    use futures::StreamExt;
    let relaxed = Arc::new(tokio::sync::Semaphore::new(EVENT_CONCURRENCY));
    futures::stream::poll_fn(move |cx| queue.poll_recv(cx))
        .for_each_concurrent(EVENT_CONCURRENCY_BEHIND, |(ev, reference)| {
            let recorder = match ev.type_ {
                EventType::Normal => Recorder::new(client.clone(), reporter.clone()),
                EventType::Warning => shared.clone(),
            };
            let behind = queued.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) > EVENT_BEHIND;
            let relaxed = relaxed.clone();
            async move {
                let _permit = if behind {
                    None
                } else {
                    relaxed.acquire_owned().await.ok()
                };
                if let Err(e) = recorder.publish(&ev, &reference).await {
                    tracing::warn!(reason = %ev.reason, error = %e, "publishing an Event failed");
                }
            }
        })
        .await;
}
