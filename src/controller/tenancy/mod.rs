//! Tenancy: the AppAuthPolicies and the namespaces' labels (two watches), the check every
//! reconcile makes before any cloud call, and the re-evaluation of every object when either
//! changes. The decision itself is pure (`crate::policy`); `publish.rs` writes the grant set
//! the admission policy reads and the policies' status.

mod publish;

pub use publish::publish;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

use super::Context;
use super::common::{Error, Result};
use super::driver::Managed;
use super::status::Reason;
use crate::api::{AppAuthPolicy, GatewayApp, InferenceApi, ServiceGrant, annotations};
use crate::policy::{self, Decision, Request};

/// The caches the check reads.
#[derive(Clone)]
pub struct Tenancy {
    pub policies: Store<AppAuthPolicy>,
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
}

impl Tenancy {
    /// The policies in force, in name order.
    pub fn policies(&self) -> Vec<Arc<AppAuthPolicy>> {
        let mut all = self.policies.state();
        all.sort_by_key(|p| p.name_any());
        all
    }

    pub fn labels(&self, namespace: &str) -> BTreeMap<String, String> {
        self.namespaces
            .get(&reflector::ObjectRef::new(namespace))
            .map(|n| n.labels().clone())
            .unwrap_or_default()
    }

    /// Whether both caches hold their first list, waiting at most `wait` for it. Never an
    /// unbounded wait: kube-runtime's `Store::wait_until_ready` keeps a single waker (a oneshot
    /// receiver behind a mutex), so of several tasks waiting at once (reconciles, the
    /// publisher) only the last to poll is woken and the others sleep until something else
    /// wakes them, which for a reconcile may be never; polled again, a ready store answers at
    /// once.
    pub async fn ready_within(&self, wait: Duration) -> Readiness {
        let both = async {
            futures::join!(
                self.policies.wait_until_ready(),
                self.namespaces.wait_until_ready()
            )
        };
        match tokio::time::timeout(wait, both).await {
            Ok((Ok(()), Ok(()))) => Readiness::Ready,
            Ok(_) => Readiness::Gone,
            Err(_) => Readiness::NotYet,
        }
    }
}

/// Whether the caches can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The first list is not in yet.
    NotYet,
    /// A watch ended (the process is stopping).
    Gone,
}

/// How long a reconcile waits for the caches' first list before it requeues.
const READY_WAIT: Duration = Duration::from_secs(1);

/// What a kind asks of the cloud, in the terms policies grant.
pub trait Governed {
    fn request(&self) -> Option<Request>;
}

impl Governed for GatewayApp {
    fn request(&self) -> Option<Request> {
        let spec = &self.spec;
        let (service, instance) = if let Some(t) = &spec.apig {
            (ServiceGrant::Apig, t.instance_id.clone())
        } else if let Some(t) = &spec.roma {
            (ServiceGrant::Roma, t.instance_id.clone())
        } else if let Some(t) = &spec.modelarts {
            (ServiceGrant::Modelarts, t.workspace_id.clone())
        } else {
            (
                ServiceGrant::Dataarts,
                spec.dataarts.as_ref()?.workspace_id.clone(),
            )
        };
        let annots = self.annotations();
        let asks_adoption = annots.get(annotations::ADOPT).is_some_and(|v| v == "true");
        // An id in the annotation that status does not bind yet: a request to bind to an app
        // that exists (a restore, a copy, or a hand-written id).
        let bound = self.status.as_ref().and_then(|s| s.app_id.as_deref());
        let names_unbound_id = annots
            .get(annotations::APP_ID)
            .is_some_and(|id| !id.is_empty() && Some(id.as_str()) != bound);
        Some(Request {
            namespace: self.namespace().unwrap_or_default(),
            own_account: spec.account_ref.is_some(),
            service,
            instance,
            adoption: asks_adoption || names_unbound_id,
            deletion_policy: spec.deletion_policy,
        })
    }
}

impl Governed for InferenceApi {
    fn request(&self) -> Option<Request> {
        Some(Request {
            namespace: self.namespace().unwrap_or_default(),
            own_account: self.spec.account_ref.is_some(),
            service: ServiceGrant::Modelarts,
            instance: self.spec.workspace_id.clone(),
            adoption: false,
            deletion_policy: self.spec.deletion_policy,
        })
    }
}

/// Before any cloud call: refused (`NotPermitted`, naming the policies and rules) unless some
/// policy allows all the object asks for. Requeued until both caches have their first list, so
/// that a restart never serves a namespace before its policies are known.
pub async fn check<K: Managed + Governed>(obj: &K, ctx: &Context) -> Result<()> {
    let Some(request) = obj.request() else {
        return Ok(());
    };
    let Some(tenancy) = ctx.tenancy.get() else {
        return Err(Error::Requeue(Duration::from_secs(1)));
    };
    if tenancy.ready_within(READY_WAIT).await != Readiness::Ready {
        return Err(Error::Requeue(Duration::from_secs(1)));
    }
    let policies = tenancy.policies();
    let refs: Vec<&AppAuthPolicy> = policies.iter().map(|p| p.as_ref()).collect();
    let labels = tenancy.labels(&request.namespace);
    let decision = policy::decide(&refs, &request, &labels, ctx.settings.allow_adoption);
    match decision.message(&request) {
        None => Ok(()),
        Some(message) => {
            debug_assert!(decision != Decision::Allowed);
            Err(Error::failed(Reason::NotPermitted, message))
        }
    }
}

/// The policy and namespace watches, their caches, and a signal for each controller whenever
/// either changes after its first list (every object is then checked again).
pub fn watch(
    client: &Client,
    ctx: &Context,
    controllers: usize,
) -> (
    Tenancy,
    Vec<mpsc::UnboundedReceiver<()>>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..controllers).map(|_| mpsc::unbounded()).unzip();
    let mut policy_config = watcher::Config::default();
    if let Some(selector) = &ctx.settings.policy_selector {
        policy_config = policy_config.labels(selector);
    }
    let (policies, policy_writer) = reflector::store();
    let (namespaces, namespace_writer) = reflector::store();
    // What matters of an event: whether it changes what policies decide. A policy's (re-)list
    // ending counts too: a policy may have gone while the watch was down.
    let policy_events = watcher(Api::<AppAuthPolicy>::all(client.clone()), policy_config)
        .default_backoff()
        .reflect(policy_writer)
        .map(|e| (relevant(&e, true), true));
    let mut namespace_config = watcher::Config::default();
    if let Some(ns) = &ctx.settings.namespace {
        namespace_config = namespace_config.fields(&format!("metadata.name={ns}"));
    }
    let namespace_events = watcher(
        Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
        namespace_config,
    )
    .default_backoff()
    .reflect(namespace_writer)
    .map(|e| (relevant(&e, false), false));
    let tenancy = Tenancy {
        policies,
        namespaces,
    };
    let policies_now = tenancy.policies.clone();
    let driver = async move {
        let mut events = std::pin::pin!(futures::stream::select(policy_events, namespace_events));
        while let Some((changed, is_policy)) = events.next().await {
            // A namespace's labels matter only while some policy exists.
            if changed && (is_policy || !policies_now.state().is_empty()) {
                for tx in &senders {
                    let _ = tx.unbounded_send(());
                }
            }
        }
    };
    (tenancy, receivers, driver)
}

/// Whether a watch event may change a decision.
fn relevant<K>(event: &Result<watcher::Event<K>, watcher::Error>, is_policy: bool) -> bool {
    match event {
        Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => true,
        Ok(watcher::Event::InitDone) => is_policy,
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(error = %e, "tenancy watch error; retrying with backoff");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;

    /// Two tasks wait for the caches at once, as reconciles and the publisher do at start:
    /// both see them ready soon after the first list, although kube-runtime wakes only one.
    #[tokio::test]
    async fn every_waiter_sees_the_caches_ready() {
        let (policies, mut policy_writer) = reflector::store::<AppAuthPolicy>();
        let (namespaces, mut namespace_writer) = reflector::store::<PartialObjectMeta<Namespace>>();
        let tenancy = Tenancy {
            policies,
            namespaces,
        };
        let waiter = |t: Tenancy| {
            tokio::spawn(async move {
                while t.ready_within(Duration::from_millis(50)).await != Readiness::Ready {}
            })
        };
        let (a, b) = (waiter(tenancy.clone()), waiter(tenancy.clone()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        policy_writer.apply_watcher_event(&Event::InitDone);
        namespace_writer.apply_watcher_event(&Event::InitDone);
        let both = async { futures::join!(a, b) };
        let (a, b) = tokio::time::timeout(Duration::from_secs(5), both)
            .await
            .expect("both waiters see the caches ready");
        a.expect("first waiter");
        b.expect("second waiter");
    }
}
