//! The watches and the two controllers, on kube-runtime's shared reflector stores: one watch and
//! cache per kind (the GatewayApp one serves both controllers), subscribers that feed the
//! controllers, and one filter per controller that lets through only what someone else changed
//! (`writes.rs`). Cached objects carry no managedFields; the operator's own Secrets are watched
//! by label and as metadata only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, ReflectHandle, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::rewake::rewoken;
use super::secret::OWNER_NAME;
use super::{Context, driver, gateway_app};
use crate::api::{
    ACCOUNT_LABEL, CREDENTIALS_SOURCE_LABEL, GatewayApp, InferenceApi, MANAGED_BY_LABEL,
    MANAGED_BY_VALUE, OWNER_KIND_LABEL,
};

/// Watch events buffered per subscriber before the watch waits for it.
const SUBSCRIBER_BUFFER: usize = 1024;

fn api<K>(client: &Client, ns: &Option<String>) -> Api<K>
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
enum Seen<'a, K> {
    Object(&'a K, bool),
    RelistStarted,
    RelistDone,
}

/// One watch into a shared cache (without managedFields or kubectl's copy), `subscribers`
/// handles on its events, and the future that drives it. `observe` sees every event; a deleted
/// object is forgotten.
#[allow(clippy::type_complexity)]
fn shared_watch<K>(
    api: Api<K>,
    config: watcher::Config,
    ctx: Arc<Context>,
    subscribers: usize,
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
        .modify(|o: &mut K| {
            // Never read, and together as large as the rest of the object: not cached.
            let meta = o.meta_mut();
            meta.managed_fields = None;
            if let Some(a) = meta.annotations.as_mut() {
                a.remove(LAST_APPLIED);
            }
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
                    continue;
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
fn changed_by_others<K>(
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
/// Secrets.
fn managed_secrets_config(owners: &str) -> watcher::Config {
    let owner_kind = if owners == "InferenceApi" {
        format!("{OWNER_KIND_LABEL}=InferenceApi")
    } else {
        format!("!{OWNER_KIND_LABEL}")
    };
    watcher::Config::default().labels(&format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{owner_kind}"
    ))
}

/// Our own Secrets, metadata only and by label: a hand edit or delete brings the owner back
/// promptly; the echoes of our own applies do not.
fn managed_secrets(
    client: &Client,
    ns: &Option<String>,
    ctx: Arc<Context>,
    owners: &str,
) -> impl Stream<Item = Result<PartialObjectMeta<Secret>, watcher::Error>> + Send + 'static {
    let config = managed_secrets_config(owners);
    watcher(api::<PartialObjectMeta<Secret>>(client, ns), config)
        .default_backoff()
        .filter_map(move |event| {
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
fn owner_of<K>(s: &PartialObjectMeta<Secret>) -> Option<ObjectRef<K>>
where
    K: Resource<DynamicType = ()>,
{
    let owner = s.annotations().get(OWNER_NAME).cloned();
    owner
        .zip(s.namespace())
        .map(|(owner, ns)| ObjectRef::<K>::new(&owner).within(&ns))
}

/// The cached objects in the namespace of `other` that `refers` to it by name.
fn referring<K, O>(store: &Store<K>, other: &O, refers: fn(&K, &str) -> bool) -> Vec<ObjectRef<K>>
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
fn labelled_secrets(label: &str) -> watcher::Config {
    watcher::Config::default().labels(&format!("{label}=true"))
}

fn uses_account<K: driver::Managed>(o: &K, name: &str) -> bool {
    o.account_ref().is_some_and(|r| r.name == name)
}

/// Runs the controllers until a shutdown signal.
pub async fn run_controllers(client: Client, ctx: Arc<Context>, ready: Arc<AtomicBool>) {
    let ns = ctx.settings.namespace.clone();
    let mut wc = watcher::Config::default().any_semantic();
    if let Some(selector) = &ctx.settings.label_selector {
        wc = wc.labels(selector);
    }
    let config = controller::Config::default().concurrency(ctx.settings.concurrency);
    // Policies and namespaces: a change checks every object again (each controller gets a
    // signal), and the publisher brings the grant set and the policies' status up to date.
    let (tenancy, mut tenancy_changed, tenancy_watch) = super::tenancy::watch(&client, &ctx, 3);
    let _ = ctx.tenancy.set(tenancy.clone());
    let (Some(publish_on), Some(apis_on), Some(apps_on)) = (
        tenancy_changed.pop(),
        tenancy_changed.pop(),
        tenancy_changed.pop(),
    ) else {
        unreachable!("three tenancy signals were asked for");
    };
    // A changed default-account file checks every object again, as a policy change does.
    let (account_changed, account_poll) = ctx
        .default_account
        .watch(2, crate::default_account::FILES_POLL);
    let Ok([apps_account_changed, apis_account_changed]) = <[_; 2]>::try_from(account_changed)
    else {
        unreachable!("two default-account signals were asked for");
    };
    let apps_on = futures::stream::select(apps_on, apps_account_changed);
    let apis_on = futures::stream::select(apis_on, apis_account_changed);

    // GatewayApps: their own controller, and the InferenceApis that refer to them. Subscribers
    // see no deletions: those reach the InferenceApis through a channel of their own.
    let (deleted_tx, mut deleted_rx) = mpsc::unbounded_channel::<GatewayApp>();
    let (apps_store, apps_handles, apps_watch) = shared_watch(
        api::<GatewayApp>(&client, &ns),
        wc.clone(),
        ctx.clone(),
        2,
        move |ctx: &Context, seen: Seen<'_, GatewayApp>| match seen {
            Seen::Object(app, deleted) => {
                let (claim, id) = gateway_app::claim_of(app);
                ctx.claims.observe(claim, id.filter(|_| !deleted));
                if deleted {
                    let _ = deleted_tx.send(app.clone());
                }
            }
            Seen::RelistStarted => ctx.claims.relist_started(),
            Seen::RelistDone => ctx.claims.relist_done(),
        },
    );
    let _ = ctx.gateway_apps.set(apps_store.clone());
    let (apis_store, apis_handles, apis_watch) = shared_watch(
        api::<InferenceApi>(&client, &ns),
        wc,
        ctx.clone(),
        1,
        |ctx: &Context, seen: Seen<'_, InferenceApi>| {
            if matches!(seen, Seen::RelistDone) {
                ctx.inference_apis_listed.store(true, Ordering::Relaxed);
            }
        },
    );
    let _ = ctx.inference_apis.set(apis_store.clone());
    // Account Secrets (users label them): one watch for both controllers.
    let (accounts_cache, account_handles, accounts_watch) = shared_watch(
        api::<PartialObjectMeta<Secret>>(&client, &ns),
        labelled_secrets(ACCOUNT_LABEL),
        ctx.clone(),
        2,
        |ctx: &Context, seen: Seen<'_, PartialObjectMeta<Secret>>| match seen {
            Seen::Object(s, true) => ctx
                .read_accounts
                .forget(&s.namespace().unwrap_or_default(), &s.name_any()),
            Seen::RelistDone => ctx.account_secrets.mark_listed(),
            _ => {}
        },
    );
    ctx.account_secrets.set(accounts_cache);
    // Credential sources (users label them), for the objects that take their key from one.
    let (sources_cache, source_handles, sources_watch) = shared_watch(
        api::<PartialObjectMeta<Secret>>(&client, &ns),
        labelled_secrets(CREDENTIALS_SOURCE_LABEL),
        ctx.clone(),
        1,
        |ctx: &Context, seen: Seen<'_, PartialObjectMeta<Secret>>| {
            if matches!(seen, Seen::RelistDone) {
                ctx.source_secrets.mark_listed();
            }
        },
    );
    ctx.source_secrets.set(sources_cache);
    // The GatewayApps' credentials Secrets (metadata only): a cache that answers "is there a
    // Secret of ours by that name, at a version we know" without a read, and the subscriber
    // that brings an owner back when someone else changes or deletes its Secret.
    let (secret_deleted_tx, mut secret_deleted_rx) =
        mpsc::unbounded_channel::<PartialObjectMeta<Secret>>();
    let (app_secrets_store, app_secret_handles, app_secrets_watch) = shared_watch(
        api::<PartialObjectMeta<Secret>>(&client, &ns),
        managed_secrets_config("GatewayApp"),
        ctx.clone(),
        1,
        move |ctx: &Context, seen: Seen<'_, PartialObjectMeta<Secret>>| match seen {
            Seen::Object(s, true) => {
                let _ = secret_deleted_tx.send(s.clone());
            }
            Seen::RelistDone => ctx.app_secrets.mark_listed(),
            _ => {}
        },
    );
    ctx.app_secrets.set(app_secrets_store);
    let (
        Ok([app_events, app_events_for_apis]),
        Ok([api_events]),
        Ok([accounts, api_accounts]),
        Ok([app_secret_events]),
        Ok([source_events]),
    ) = (
        <[_; 2]>::try_from(apps_handles),
        <[_; 1]>::try_from(apis_handles),
        <[_; 2]>::try_from(account_handles),
        <[_; 1]>::try_from(app_secret_handles),
        <[_; 1]>::try_from(source_handles),
    )
    else {
        unreachable!("shared stores hand out the subscribers asked for");
    };

    let (accounts_store, sources_store) = (apps_store.clone(), apps_store.clone());
    let apps_listed = apps_store.clone();
    let apps =
        Controller::for_shared_stream(changed_by_others(app_events, ctx.clone()), apps_store)
            .with_config(config.clone())
            .reconcile_all_on(apps_on)
            .watches_shared_stream(
                changed_by_others(app_secret_events, ctx.clone()),
                |s: Arc<PartialObjectMeta<Secret>>| owner_of::<GatewayApp>(&s),
            )
            .watches_stream(
                futures::stream::poll_fn(move |cx| secret_deleted_rx.poll_recv(cx)).map(Ok),
                |s: PartialObjectMeta<Secret>| owner_of::<GatewayApp>(&s),
            )
            .watches_shared_stream(
                rewoken(accounts),
                move |s: Arc<PartialObjectMeta<Secret>>| {
                    referring(&accounts_store, s.as_ref(), uses_account::<GatewayApp>)
                },
            )
            // Credential sources (users label them): the objects that take their key from one.
            .watches_shared_stream(
                rewoken(source_events),
                move |s: Arc<PartialObjectMeta<Secret>>| {
                    referring(&sources_store, s.as_ref(), |o: &GatewayApp, name| {
                        o.spec
                            .credentials_from
                            .as_ref()
                            .is_some_and(|r| r.name == name)
                    })
                },
            );
    // InferenceApis: any GatewayApp change (Ready, being deleted, gone; our own status writes
    // included) reaches every API that refers to it, and an account Secret change every API
    // that uses it.
    let (refs_store, api_accounts_store) = (apis_store.clone(), apis_store.clone());
    let deleted_refs_store = apis_store.clone();
    let apis =
        Controller::for_shared_stream(changed_by_others(api_events, ctx.clone()), apis_store)
            .with_config(config)
            .reconcile_all_on(apis_on)
            .watches_stream(
                managed_secrets(&client, &ns, ctx.clone(), "InferenceApi"),
                |s: PartialObjectMeta<Secret>| owner_of::<InferenceApi>(&s),
            )
            .watches_shared_stream(rewoken(app_events_for_apis), move |app: Arc<GatewayApp>| {
                referring(&refs_store, app.as_ref(), |a: &InferenceApi, name| {
                    a.spec.app_refs.iter().any(|r| r.name == name)
                })
            })
            .watches_shared_stream(
                rewoken(api_accounts),
                move |s: Arc<PartialObjectMeta<Secret>>| {
                    referring(
                        &api_accounts_store,
                        s.as_ref(),
                        uses_account::<InferenceApi>,
                    )
                },
            )
            .watches_stream(
                futures::stream::poll_fn(move |cx| deleted_rx.poll_recv(cx)).map(Ok),
                move |app: GatewayApp| {
                    referring(&deleted_refs_store, &app, |a: &InferenceApi, name| {
                        a.spec.app_refs.iter().any(|r| r.name == name)
                    })
                },
            );

    tokio::spawn(apps_watch);
    tokio::spawn(apis_watch);
    tokio::spawn(accounts_watch);
    tokio::spawn(app_secrets_watch);
    tokio::spawn(sources_watch);
    tokio::spawn(tenancy_watch);
    tokio::spawn(account_poll);
    // Ready once the policies and namespaces are listed: until then every reconcile waits, and
    // a missing CRD or RBAC rule for them should show as a Pod that never gets ready.
    tokio::spawn({
        let tenancy = tenancy.clone();
        async move {
            if tenancy.wait_listed().await {
                ready.store(true, Ordering::Relaxed);
            }
        }
    });
    tokio::spawn(super::tenancy::publish(ctx.clone(), tenancy, publish_on));
    tokio::spawn(super::gauges::count_managed(ctx.clone()));
    let apps = driver::run(apps, ctx.clone());
    let apis = driver::run(apis, ctx);
    // InferenceApis read their apps from the GatewayApp cache: before its first list is in,
    // an app would look deleted and its binding be removed.
    let apis = async move {
        if apps_listed.wait_until_ready().await.is_ok() {
            apis.await;
        }
    };
    futures::join!(apps, apis);
}
