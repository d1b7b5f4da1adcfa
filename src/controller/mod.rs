//! The controllers: shared context, wiring and the per-kind reconcilers.

pub mod account;
pub mod common;
pub mod gateway_app;
pub mod inference_api;
pub mod marker;
pub mod secret;
pub mod status;

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
    pub last_read: Mutex<HashMap<String, Instant>>,
    pub metrics: Arc<Metrics>,
    /// The newest resourceVersion our own writes produced, by uid: an older cached object is
    /// stale and is not acted on (its newer version is on the way).
    pub written: Mutex<HashMap<String, u64>>,
    /// The generation the cloud rejected as invalid, by uid: no cloud call until it changes.
    pub rejected: Mutex<HashMap<String, i64>>,
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
        Arc::new(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            cloud,
            default_account,
            settings,
            gateway_apps: OnceLock::new(),
            inference_apis: OnceLock::new(),
            unresolved: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            last_read: Mutex::new(HashMap::new()),
            metrics,
            rejected: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
        })
    }

    /// Publishes an Event; failures are logged, never fatal. Notes never carry secret material.
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
        if let Err(e) = self.recorder.publish(&ev, reference).await {
            tracing::warn!(reason, error = %e, "publishing an Event failed");
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

    /// Records the resourceVersion one of our writes produced.
    pub fn note_written<K: kube::Resource>(&self, obj: &K) {
        let uid = obj.meta().uid.clone().unwrap_or_default();
        if let Some(rv) = obj
            .meta()
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
        {
            let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
            let entry = written.entry(uid).or_insert(0);
            *entry = (*entry).max(rv);
        }
    }

    /// Whether the cached object is older than our own last write to it.
    pub fn is_stale<K: kube::Resource>(&self, obj: &K) -> bool {
        let uid = obj.meta().uid.clone().unwrap_or_default();
        let rv = obj
            .meta()
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok());
        let written = self
            .written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&uid)
            .copied();
        matches!((rv, written), (Some(rv), Some(w)) if rv < w)
    }

    pub fn succeeded(&self, uid: &str) {
        self.failures
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
