//! The controllers: shared context, wiring and the per-kind reconcilers.

pub mod account;
pub mod account_use;
pub mod audit;
pub mod claims;
pub mod common;
pub mod driver;
pub mod gateway_app;
mod gauges;
pub mod ids;
pub mod inference_api;
pub mod inventory;
pub mod marker;
pub mod memory;
mod own_writes;
pub mod pending;
pub mod plan;
pub mod recent_writes;
pub mod resync;
mod rewake;
pub mod secret;
pub mod secret_template;
pub mod service_account_token;
pub mod shard;
pub mod status;
pub mod tenancy;
pub mod waits;
pub mod watched_secrets;
mod watches;
pub mod wiring;
pub mod work_queue;
pub mod writes;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;

use crate::api::{GatewayApp, InferenceApi};
use crate::cloud::Cloud;
use crate::default_account::DefaultAccount;
use crate::metrics::Metrics;

/// Operator settings that the reconcilers need.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cluster_name: String,
    /// Adoption while no AppAuthPolicy exists (policies decide it once one does).
    pub allow_adoption: bool,
    /// Only the AppAuthPolicies with these labels count (several installs in one cluster).
    pub policy_selector: Option<String>,
    /// The AppAuthGrantSet this operator writes for the admission policy.
    pub grants_name: String,
    /// Mirror new app ids into the app-id annotation (a fourth write per new app).
    pub mirror_app_id: bool,
    /// Period of the drift check and resync (`resync.rs` spreads the objects over it).
    pub resync: Duration,
    /// Request timeout plus lease duration: how long a foreign pending marker must age before a
    /// create may run again.
    pub marker_grace: Duration,
    /// This process: written into pending markers.
    pub instance: String,
    pub namespace: Option<String>,
    /// Only objects matching it (objects split between deployments); their Secrets carry the
    /// owners' values of its keys (`shard.rs`).
    pub label_selector: Option<String>,
    pub concurrency: u16,
    /// First wait after QuotaExceeded.
    pub quota_backoff: Duration,
    /// Audience of the tokens requested for namespaces' ServiceAccounts.
    pub token_audience: String,
    /// Lifetime asked for federated temporary credentials.
    pub credential_duration: Duration,
}

impl Settings {
    /// The label keys of `label_selector` an owned Secret carries.
    pub fn shard_keys(&self) -> Vec<String> {
        self.label_selector
            .as_deref()
            .map(shard::selector_keys)
            .unwrap_or_default()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cluster_name: "default".into(),
            allow_adoption: false,
            policy_selector: None,
            grants_name: "appauth-operator".into(),
            mirror_app_id: false,
            resync: Duration::from_secs(600),
            marker_grace: Duration::from_secs(30),
            instance: format!("appauth-operator/{}", std::process::id()),
            namespace: None,
            label_selector: None,
            concurrency: 16,
            quota_backoff: Duration::from_secs(60),
            token_audience: "appauth-operator".into(),
            credential_duration: Duration::from_secs(3600),
        }
    }
}

pub struct Context {
    pub client: Client,
    pub cloud: Arc<Cloud>,
    /// Read again at each use: its files or Secret may change.
    pub default_account: Arc<DefaultAccount>,
    /// The operator's own ServiceAccounts (`namespace`, `name`): the one it runs as and the
    /// one its token file federates, which no namespace may borrow.
    pub own_service_accounts: Vec<(String, String)>,
    pub settings: Settings,
    pub recorder: Recorder,
    pub gateway_apps: OnceLock<Store<GatewayApp>>,
    /// Listings of every app per account and instance, for drift (`inventory.rs`).
    pub inventory: inventory::Inventory,
    /// The GatewayApps' credentials Secrets, metadata only (`wiring.rs`).
    pub app_secrets: watched_secrets::WatchedSecrets,
    /// Labelled account Secrets and credential sources, metadata only.
    pub account_secrets: watched_secrets::WatchedSecrets,
    pub source_secrets: watched_secrets::WatchedSecrets,
    /// Accounts as last read from their Secrets, reused while the Secret is unchanged.
    pub read_accounts: watched_secrets::ReadAccounts,
    pub inference_apis: OnceLock<Store<InferenceApi>>,
    /// The InferenceApi cache has listed every object (an API's holder can be told then).
    pub inference_apis_listed: std::sync::atomic::AtomicBool,
    pub metrics: Arc<Metrics>,
    /// What is remembered about each object between reconciles (`memory.rs`).
    pub memory: memory::Memories,
    /// What is remembered of the operator's Secrets (the versions it wrote or checked).
    pub secret_writes: memory::Records<memory::SecretWrites>,
    /// Events go out from a background task, so that a reconcile never waits on one.
    events: tokio::sync::mpsc::Sender<(Event, ObjectReference)>,
    /// Events queued and not yet taken by the publisher.
    events_queued: Arc<std::sync::atomic::AtomicUsize>,
    /// Which GatewayApp claims which app id (from the watch).
    pub claims: claims::Claims,
    /// The AppAuthPolicies and namespaces, once their watches run.
    pub tenancy: OnceLock<tenancy::Tenancy>,
    /// What each controller was handed and has not started on yet, for the metrics.
    pub work_queues: WorkQueues,
}

#[derive(Default)]
pub struct WorkQueues {
    pub gateway_apps: work_queue::WorkQueue,
    pub inference_apis: work_queue::WorkQueue,
}

impl Context {
    pub fn new(
        client: Client,
        cloud: Arc<Cloud>,
        default_account: Arc<DefaultAccount>,
        own_service_accounts: Vec<(String, String)>,
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
            own_service_accounts,
            settings,
            gateway_apps: OnceLock::new(),
            app_secrets: Default::default(),
            account_secrets: Default::default(),
            source_secrets: Default::default(),
            read_accounts: Default::default(),
            inventory: Default::default(),
            inference_apis: OnceLock::new(),
            metrics,
            memory: memory::Memories::default(),
            secret_writes: memory::Records::default(),
            claims: claims::Claims::default(),
            tenancy: OnceLock::new(),
            inference_apis_listed: Default::default(),
            work_queues: Default::default(),
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

    /// A Normal Event about `obj` (once-per-action news: created, adopted, rotated, deleted).
    pub async fn normal<K: kube::Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.event(
            &obj.object_ref(&()),
            EventType::Normal,
            reason,
            action,
            note,
        )
        .await;
    }

    /// A Warning Event about `obj`.
    pub async fn warning<K: kube::Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.event(
            &obj.object_ref(&()),
            EventType::Warning,
            reason,
            action,
            note,
        )
        .await;
    }

    pub fn backoff(&self, uid: &str, long: bool) -> Duration {
        let n = self.memory.with(uid, |m| {
            m.failures = m.failures.saturating_add(1);
            m.failures
        });
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
        let d = base.saturating_mul(1u32 << (n - 1).min(12)).min(cap);
        d / 2 + Duration::from_millis(rand::random_range(0..=(d / 2).as_millis().max(1) as u64))
    }

    /// The object is gone from the apiserver: drop everything remembered about it.
    pub fn forget(&self, uid: &str) {
        self.memory.forget(uid);
        self.secret_writes.forget(uid);
        self.claims.release(uid);
    }

    /// The object's cloud resource was read (or made) just now: the drift check's clock.
    pub fn mark_read(&self, uid: &str) {
        self.memory.with(uid, memory::Memory::mark_read);
    }

    /// Whether the object's drift check is due: a resync period since its last read, less one
    /// tick of the resync sweep (which comes back a period after the tick that brought the read,
    /// a moment less than a period after the read itself).
    pub fn read_due(&self, uid: &str) -> bool {
        let period = self.settings.resync;
        self.memory
            .get(uid, |m| {
                m.read_due(period.saturating_sub(resync::tick(period)))
            })
            .unwrap_or(true)
    }

    /// How long a create of ours for the object has gone unanswered, if one has.
    pub fn unresolved_for(&self, uid: &str) -> Option<Duration> {
        self.memory
            .get(uid, |m| m.rare().unresolved.map(|t| t.elapsed()))
            .flatten()
    }

    /// A create of ours is about to be sent (`true`), or its outcome is known (`false`).
    pub fn set_unresolved(&self, uid: &str, unresolved: bool) {
        let since = unresolved.then(std::time::Instant::now);
        self.memory
            .with(uid, |m| m.rare_mut(|r| r.unresolved = since));
    }

    pub fn succeeded(&self, uid: &str) {
        self.memory.update(uid, |m| {
            m.failures = 0;
            m.rare_mut(|r| r.wait = None);
        });
    }

    /// The fingerprint of the object with this uid, in this cluster.
    pub fn fingerprint(&self, uid: &str) -> crate::naming::Fingerprint {
        crate::naming::Fingerprint::new(&self.settings.cluster_name, uid)
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
