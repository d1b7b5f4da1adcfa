//! The watches the controllers are built from: shared caches (without managedFields or
//! kubectl's copy) and their subscribers, the filter that drops the echoes of the operator's own
//! writes, and the label selections of the Secrets it watches.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::{ObjectMeta, PartialObjectMeta};
use kube::runtime::reflector::{self, ObjectRef, ReflectHandle, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::rewake::rewoken;
use super::secret::OWNER_NAME;
use super::{Context, driver};
use crate::api::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_KIND_LABEL};

/// Watch events buffered per subscriber before the watch waits for it.
const SUBSCRIBER_BUFFER: usize = 1024;

pub(super) fn api<K>(client: &Client, ns: &Option<String>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// `kubectl apply`'s copy of the whole applied object.
pub(super) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What a watch reports besides the objects its subscribers get: deletions, and the start and
/// end of a full re-list (the claims index needs both).
pub(super) enum Seen<'a, K> {
    Object(&'a K, bool),
    RelistStarted,
    RelistDone,
    /// The watch failed (it retries with backoff): until it reports again, its cache may miss
    /// changes.
    Failed,
}

/// What no reader of a cache looks at, and together as large as the rest of the object.
fn strip(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
}

/// A BTreeMap emptied by removals keeps its node (544 bytes for one of strings, more than the
/// rest of the metadata): a map left empty by the trims goes.
fn drop_emptied_maps(meta: &mut ObjectMeta) {
    if meta.annotations.as_ref().is_some_and(|a| a.is_empty()) {
        meta.annotations = None;
    }
}

/// Keeps all of it.
pub(super) fn keep_all<K>(_: &mut K) {}

/// Nothing to do before the cache.
pub(super) fn nothing_before<K>(_: &Context, _: &Result<watcher::Event<K>, watcher::Error>) {}

/// One watch into a shared cache (without managedFields or kubectl's copy, and what `trim`
/// takes away), `subscribers` handles on its events, and the future that drives it. `before`
/// sees each event before the cache and the subscribers do. `observe` sees every event; a deleted
/// object is forgotten.
#[allow(clippy::type_complexity)]
pub(super) fn shared_watch<K>(
    api: Api<K>,
    config: watcher::Config,
    ctx: Arc<Context>,
    subscribers: usize,
    trim: fn(&mut K),
    before: fn(&Context, &Result<watcher::Event<K>, watcher::Error>),
    observe: impl Fn(&Context, Seen<'_, K>) + Send + 'static,
) -> (
    Store<K>,
    Vec<ReflectHandle<K>>,
    impl Future<Output = ()> + Send + 'static,
)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store_shared(SUBSCRIBER_BUFFER);
    let handles = (0..subscribers)
        .filter_map(|_| writer.subscribe())
        .collect();
    let events = watcher(api, config)
        .default_backoff()
        // Before the cache and its subscribers (and before the trim): a reconcile an event
        // triggers sees what `before` made of it.
        .inspect({
            let ctx = ctx.clone();
            move |event| before(&ctx, event)
        })
        .modify(move |o: &mut K| {
            strip(o.meta_mut());
            // And what this cache's readers never look at.
            trim(o);
            drop_emptied_maps(o.meta_mut());
        })
        .reflect_shared(writer);
    let driver = async move {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            let seen = match &event {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    Seen::Object(o, false)
                }
                Ok(watcher::Event::Delete(o)) => {
                    if let Some(uid) = o.meta().uid.as_deref() {
                        ctx.forget(uid);
                    }
                    Seen::Object(o, true)
                }
                Ok(watcher::Event::Init) => Seen::RelistStarted,
                Ok(watcher::Event::InitDone) => Seen::RelistDone,
                Err(e) => {
                    tracing::warn!(error = %e, "watch error; retrying with backoff");
                    Seen::Failed
                }
            };
            observe(&ctx, seen);
        }
    };
    (store, handles, driver)
}

/// A subscriber's objects that someone else changed: the echoes of our own writes are dropped.
/// Not kube-runtime's `predicate_filter`: that compares a hash of each object with the one
/// before it, and the question here is who wrote this version, not what changed (a user's status
/// edit and our own status write differ in the same fields).
pub(super) fn changed_by_others<K>(
    handle: ReflectHandle<K>,
    ctx: Arc<Context>,
) -> impl Stream<Item = Arc<K>> + Send + 'static
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    rewoken(handle).filter(move |o| std::future::ready(ctx.changed_by_others(o.as_ref())))
}

/// Our own Secrets, by label: `owners` GatewayApps' credentials, or InferenceApis' connection
/// Secrets; with a selector, only those of the objects it selects (they carry its keys).
pub(super) fn managed_secrets_config(owners: &str, selector: Option<&str>) -> watcher::Config {
    let owner_kind = if owners == "InferenceApi" {
        format!("{OWNER_KIND_LABEL}=InferenceApi")
    } else {
        format!("!{OWNER_KIND_LABEL}")
    };
    let shard = selector
        .filter(|s| !s.trim().is_empty())
        .map(|s| format!(",{s}"))
        .unwrap_or_default();
    watcher::Config::default().labels(&format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{owner_kind}{shard}"
    ))
}

/// Our own Secrets, metadata only and by label: a hand edit or delete brings the owner back
/// promptly; the echoes of our own applies do not. The GatewayApps' are indexed on the way.
pub(super) fn managed_secrets(
    client: &Client,
    ns: &Option<String>,
    ctx: Arc<Context>,
    owners: &str,
) -> impl Stream<Item = Result<PartialObjectMeta<Secret>, watcher::Error>> + Send + 'static {
    let config = managed_secrets_config(owners, ctx.settings.label_selector.as_deref());
    let indexed = owners == "GatewayApp";
    watcher(api::<PartialObjectMeta<Secret>>(client, ns), config)
        .default_backoff()
        .then(|event| async move {
            if let Some(lag) = crate::secret_watch_lag() {
                tokio::time::sleep(lag).await;
            }
            event
        })
        .filter_map(move |event| {
            // The GatewayApps' credentials Secrets are indexed as they pass (`watched_secrets`).
            if indexed {
                ctx.app_secrets.observe(&event);
            }
            let out = match event {
                Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                    ctx.changed_by_others(&s).then_some(Ok(s))
                }
                Ok(watcher::Event::Delete(s)) => {
                    if let Some(uid) = s.metadata.uid.as_deref() {
                        ctx.forget(uid);
                    }
                    Some(Ok(s))
                }
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            };
            std::future::ready(out)
        })
}

/// The owner a managed Secret names.
pub(super) fn owner_of<K>(s: &PartialObjectMeta<Secret>) -> Option<ObjectRef<K>>
where
    K: Resource<DynamicType = ()>,
{
    let owner = s.annotations().get(OWNER_NAME).cloned();
    owner
        .zip(s.namespace())
        .map(|(owner, ns)| ObjectRef::<K>::new(&owner).within(&ns))
}

/// The cached objects in the namespace of `other` that `refers` to it by name.
pub(super) fn referring<K, O>(
    store: &Store<K>,
    other: &O,
    refers: fn(&K, &str) -> bool,
) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
    O: Resource,
{
    let ns = other.namespace().unwrap_or_default();
    let name = other.name_any();
    store
        .state()
        .into_iter()
        .filter(|o| o.namespace().as_deref() == Some(ns.as_str()) && refers(o, &name))
        .map(|o| ObjectRef::from(o.as_ref()))
        .collect()
}

/// Users' Secrets the operator watches by label (metadata only): accounts and credential sources.
pub(super) fn labelled_secrets(label: &str) -> watcher::Config {
    watcher::Config::default().labels(&format!("{label}=true"))
}

pub(super) fn uses_account<K: driver::Managed>(o: &K, name: &str) -> bool {
    o.account_ref().is_some_and(|r| r.name == name)
}

/// Each object a controller's own stream hands it is noted in the kind's work queue.
pub(super) fn queued<K: driver::Managed>(
    objects: impl Stream<Item = Arc<K>> + Send + 'static,
    ctx: Arc<Context>,
) -> impl Stream<Item = Arc<K>> + Send + 'static {
    objects.inspect(move |o| {
        let namespace = o.namespace().unwrap_or_default();
        K::work_queue(&ctx).queued(&namespace, &o.name_any(), std::time::Instant::now());
    })
}

/// A mapper whose objects are noted in the kind's work queue on their way to the controller.
pub(super) fn queued_by<K, T, I>(
    ctx: Arc<Context>,
    mapper: impl Fn(T) -> I + Send + Sync + 'static,
) -> impl Fn(T) -> Vec<ObjectRef<K>> + Send + Sync + 'static
where
    K: driver::Managed,
    I: IntoIterator<Item = ObjectRef<K>>,
{
    move |trigger| K::work_queue(&ctx).queued_all(mapper(trigger).into_iter().collect())
}

/// A signal that reconciles every object: all of them are noted in the kind's work queue.
pub(super) fn all_queued<K: driver::Managed, S: Stream<Item = ()> + Send + 'static>(
    signals: S,
    store: Store<K>,
    ctx: Arc<Context>,
) -> impl Stream<Item = ()> + Send + 'static {
    signals.inspect(move |()| {
        let all = store
            .state()
            .iter()
            .map(|o| ObjectRef::from(o.as_ref()))
            .collect();
        K::work_queue(&ctx).queued_all(all);
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn annotations_the_trims_empty_are_dropped_and_the_rest_kept() {
        let annotations = |keys: &[&str]| -> Option<BTreeMap<String, String>> {
            Some(keys.iter().map(|k| (k.to_string(), "v".into())).collect())
        };
        let cases = [
            ("only kubectl's copy", annotations(&[LAST_APPLIED]), None),
            (
                "kubectl's copy and a user's",
                annotations(&[LAST_APPLIED, "team"]),
                annotations(&["team"]),
            ),
            (
                "a user's only",
                annotations(&["team"]),
                annotations(&["team"]),
            ),
            ("none", None, None),
        ];
        for (name, before, after) in cases {
            let mut meta = ObjectMeta {
                annotations: before,
                ..Default::default()
            };
            strip(&mut meta);
            drop_emptied_maps(&mut meta);
            assert_eq!(meta.annotations, after, "{name}");
        }
    }
}
