//! Tenancy: the AppAuthPolicies and the namespaces' labels (two watches), the check every
//! reconcile makes before any cloud call, and the re-evaluation of every object when either
//! changes. The decision itself is pure (`crate::policy`); `publish.rs` writes the grant set
//! the admission policy reads and the policies' status.

mod publish;

pub use publish::publish;

use std::collections::BTreeMap;
use std::sync::Arc;

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
use crate::api::{
    AppAuthPolicy, DeletionPolicy, GatewayApp, InferenceApi, ServiceGrant, annotations,
};
use crate::backend::Target;
use crate::cloud::Service;
use crate::policy::{self, Decision, Request};

/// The caches the check reads.
#[derive(Clone)]
pub struct Tenancy {
    pub policies: Store<AppAuthPolicy>,
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    /// True once both caches have their first list. Not `Store::wait_until_ready`: in
    /// kube-runtime 5 only the last of several tasks waiting on it is woken.
    listed: tokio::sync::watch::Receiver<bool>,
}

impl Tenancy {
    /// Waits for both caches' first list.
    pub async fn wait_listed(&self) -> bool {
        self.listed.clone().wait_for(|l| *l).await.is_ok()
    }

    /// The policies in force, in no particular order (the decision and the grant set order
    /// what they report themselves; every reconcile asks, so nothing is sorted here).
    pub fn policies(&self) -> Vec<Arc<AppAuthPolicy>> {
        self.policies.state()
    }

    /// A namespace's labels; `None` while the cache has not seen it (a selector must not be
    /// judged on labels it has not read).
    pub fn labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces
            .get(&reflector::ObjectRef::new(namespace))
            .map(|n| n.labels().clone())
    }

    /// The policies in force and the namespace's labels (`None`: not cached yet, or no
    /// policy to judge them), once both caches are listed.
    async fn view(
        &self,
        namespace: &str,
    ) -> Result<(Vec<Arc<AppAuthPolicy>>, Option<BTreeMap<String, String>>)> {
        if !self.wait_listed().await {
            return Err(Error::Requeue(std::time::Duration::from_secs(1)));
        }
        let policies = self.policies();
        let labels = self.labels(namespace);
        Ok((policies, labels))
    }
}

/// What a kind asks of the cloud, in the terms policies grant.
pub trait Governed {
    fn request(&self) -> Option<Request>;
}

/// An id in annotation `key` while status binds none (`bound`): a request to bind a resource
/// that exists (a restore, a copy, a hand-written id). Once status binds one, the annotation is
/// only its mirror (rewritten from status).
fn names_unbound_id<K: kube::Resource>(obj: &K, key: &str, bound: Option<&str>) -> bool {
    bound.is_none_or(str::is_empty)
        && obj
            .meta()
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .is_some_and(|id| !id.is_empty())
}

impl Governed for GatewayApp {
    fn request(&self) -> Option<Request> {
        let spec = &self.spec;
        // The service block the reconciler acts on (the CRD allows only one).
        let target = Target::from_spec(spec)?;
        let service = match target.service() {
            Service::Apig => ServiceGrant::Apig,
            Service::ModelArts => ServiceGrant::Modelarts,
            Service::DataArts => ServiceGrant::Dataarts,
            _ => ServiceGrant::Roma,
        };
        let instance = target.instance().to_string();
        let annots = self.annotations();
        let asks_adoption = annots.get(annotations::ADOPT).is_some_and(|v| v == "true");
        let bound = self.status.as_ref().and_then(|s| s.app_id.as_deref());
        let names_unbound_id = names_unbound_id(self, annotations::APP_ID, bound);
        // A pending marker written on another object while status binds nothing: a restore (or
        // a copy) looking for the app made for that object, which binds an existing app.
        let restored = bound.is_none_or(str::is_empty)
            && crate::controller::pending::marker_of(self).is_some_and(|m| {
                m.written_on_other(self.uid().as_deref().unwrap_or_default())
                    .is_some()
            });
        Some(Request {
            namespace: self.namespace().unwrap_or_default(),
            own_account: spec.account_ref.is_some(),
            service,
            instance,
            adoption: asks_adoption || names_unbound_id || restored,
            deletion_policy: spec.deletion_policy,
        })
    }
}

impl Governed for InferenceApi {
    fn request(&self) -> Option<Request> {
        let bound = self.status.as_ref().and_then(|s| s.api_id.as_deref());
        let names_unbound_id = names_unbound_id(self, annotations::API_ID, bound);
        Some(Request {
            namespace: self.namespace().unwrap_or_default(),
            own_account: self.spec.account_ref.is_some(),
            service: ServiceGrant::Modelarts,
            instance: self.spec.workspace_id.clone(),
            adoption: names_unbound_id,
            deletion_policy: self.spec.deletion_policy,
        })
    }
}

/// Before any cloud call: refused (`NotPermitted`, naming the policies and rules) unless some
/// policy allows all the object asks for. Waits for both caches' first list, so that a
/// restart never serves a namespace before its policies are known.
pub async fn check<K: Managed + Governed>(obj: &K, ctx: &Context) -> Result<()> {
    let Some(request) = obj.request() else {
        return Ok(());
    };
    let Some(tenancy) = ctx.tenancy.get() else {
        return Err(Error::Requeue(std::time::Duration::from_secs(1)));
    };
    let (policies, labels) = tenancy.view(&request.namespace).await?;
    // A selector is never judged on labels not read yet: the namespace's watch event comes.
    let labels = match labels {
        Some(labels) => labels,
        None if policies.is_empty() => BTreeMap::new(),
        None => return Err(Error::Requeue(std::time::Duration::from_secs(1))),
    };
    let refs: Vec<&AppAuthPolicy> = policies.iter().map(|p| p.as_ref()).collect();
    let decision = policy::decide(&refs, &request, &labels, ctx.settings.allow_adoption);
    match decision.message(&request) {
        None => Ok(()),
        Some(message) => {
            debug_assert!(decision != Decision::Allowed);
            Err(Error::failed(Reason::NotPermitted, message))
        }
    }
}

/// The deletion policy a deletion follows (`policy::deletion_policy`): the spec's, unless the
/// grants allow only the other.
pub async fn deletion_policy<K: Managed + Governed>(
    obj: &K,
    ctx: &Context,
) -> Result<DeletionPolicy> {
    let asked = obj.deletion_policy();
    let (Some(request), Some(tenancy)) = (obj.request(), ctx.tenancy.get()) else {
        return Ok(asked);
    };
    let (policies, labels) = tenancy.view(&request.namespace).await?;
    let refs: Vec<&AppAuthPolicy> = policies.iter().map(|p| p.as_ref()).collect();
    // A deletion never waits on a namespace's labels: unread, they grant nothing more.
    Ok(policy::deletion_policy(
        &refs,
        &request,
        &labels.unwrap_or_default(),
    ))
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
    // What matters of an event: whether it changes what policies decide (a policy's spec or
    // labels, not the status the publisher writes; a namespace's labels). A (re-)list ending
    // counts too: something may have changed while the watch was down.
    let mut policy_seen = Decisive::default();
    let policy_events = watcher(Api::<AppAuthPolicy>::all(client.clone()), policy_config)
        .default_backoff()
        .reflect(policy_writer)
        .map(move |e| {
            let changed = policy_seen.changed(&e, |p| (p.metadata.generation, p.labels().clone()));
            (changed, listed(&e), true)
        });
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
    .map({
        let mut namespace_seen = Decisive::default();
        move |e| {
            let changed = namespace_seen.changed(&e, |n| (None, n.labels().clone()));
            (changed, listed(&e), false)
        }
    });
    let (listed_tx, listed_rx) = tokio::sync::watch::channel(false);
    let tenancy = Tenancy {
        policies,
        namespaces,
        listed: listed_rx,
    };
    let policies_now = tenancy.policies.clone();
    let driver = async move {
        let mut events = std::pin::pin!(futures::stream::select(policy_events, namespace_events));
        let (mut policies_listed, mut namespaces_listed) = (false, false);
        while let Some((changed, done, is_policy)) = events.next().await {
            if done {
                if is_policy {
                    policies_listed = true;
                } else {
                    namespaces_listed = true;
                }
                if policies_listed && namespaces_listed {
                    listed_tx.send_replace(true);
                }
            }
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

/// Whether a watch event ends a (re-)list: the cache it fed is complete.
fn listed<K>(event: &Result<watcher::Event<K>, watcher::Error>) -> bool {
    matches!(event, Ok(watcher::Event::InitDone))
}

/// What of each watched object bears on decisions (a generation and labels), to tell a change
/// that does from one that does not (a status write, a namespace's finalizers).
#[derive(Default)]
struct Decisive {
    seen: std::collections::HashMap<String, (Option<i64>, BTreeMap<String, String>)>,
}

impl Decisive {
    fn changed<K: kube::Resource>(
        &mut self,
        event: &Result<watcher::Event<K>, watcher::Error>,
        decisive: impl Fn(&K) -> (Option<i64>, BTreeMap<String, String>),
    ) -> bool {
        let key = |o: &K| o.meta().uid.clone().unwrap_or_default();
        match event {
            Ok(watcher::Event::Apply(o)) => {
                let now = decisive(o);
                self.seen.insert(key(o), now.clone()) != Some(now)
            }
            Ok(watcher::Event::InitApply(o)) => {
                self.seen.insert(key(o), decisive(o));
                false
            }
            Ok(watcher::Event::Delete(o)) => {
                self.seen.remove(&key(o));
                true
            }
            Ok(watcher::Event::InitDone) => true,
            Ok(watcher::Event::Init) => false,
            Err(e) => {
                tracing::warn!(error = %e, "tenancy watch error; retrying with backoff");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Governed;
    use crate::api::GatewayApp;

    #[test]
    fn binding_an_existing_app_counts_as_adoption() {
        let marker = |object: &str| {
            format!(
                r#"{{"name":"a","time":"2026-01-01T00:00:00Z","instance":"i","object":"{object}"}}"#
            )
        };
        let app = |annots: serde_json::Value, app_id: Option<&str>| -> GatewayApp {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
                "metadata": {"name": "a", "namespace": "n", "uid": "u-1", "annotations": annots},
                "spec": {"apig": {"instanceId": "gw1"}},
                "status": {"appId": app_id},
            }))
            .expect("GatewayApp")
        };
        let own = marker("u-1");
        let other = marker("u-0");
        let cases = [
            ("nothing asked", app(serde_json::json!({}), None), false),
            (
                "adopt annotation",
                app(
                    serde_json::json!({"appauth.hwcloud.dev/adopt": "true"}),
                    None,
                ),
                true,
            ),
            (
                "an id status does not bind",
                app(serde_json::json!({"appauth.hwcloud.dev/app-id": "x"}), None),
                true,
            ),
            (
                "the id status binds",
                app(
                    serde_json::json!({"appauth.hwcloud.dev/app-id": "x"}),
                    Some("x"),
                ),
                false,
            ),
            (
                "its own marker",
                app(
                    serde_json::json!({"appauth.hwcloud.dev/pending": own}),
                    None,
                ),
                false,
            ),
            (
                "another object's marker (a restore), unbound",
                app(
                    serde_json::json!({"appauth.hwcloud.dev/pending": other}),
                    None,
                ),
                true,
            ),
            (
                "another object's marker, bound",
                app(
                    serde_json::json!({"appauth.hwcloud.dev/pending": other}),
                    Some("x"),
                ),
                false,
            ),
        ];
        for (name, obj, want) in cases {
            let request = obj.request().expect("a request");
            assert_eq!(request.adoption, want, "{name}");
        }
    }

    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    /// Why the check waits on a watch channel and not on `Store::wait_until_ready`: with two
    /// tasks waiting on the latter, only one is woken when the first list completes (kube-runtime
    /// 5 keeps a single waker). If this starts passing with both woken, the workaround can go.
    #[tokio::test]
    async fn a_store_wakes_only_one_of_two_waiters() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let first = tokio::spawn({
            let store = store.clone();
            async move { store.wait_until_ready().await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = tokio::spawn({
            let store = store.clone();
            async move { store.wait_until_ready().await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitDone);
        let woken = |task: tokio::task::JoinHandle<bool>| async move {
            tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_ok()
        };
        let (a, b) = (woken(first).await, woken(second).await);
        assert!(a != b, "first woken: {a}, second woken: {b}");
        // A late waiter finds it ready at once.
        assert!(store.wait_until_ready().await.is_ok());
    }
}
