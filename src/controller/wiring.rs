//! The watches and the two controllers. One GatewayApp watch and cache serves both controllers;
//! cached objects carry no managedFields; the operator's own Secrets are watched by label and as
//! metadata only; and watch events that merely report our own writes trigger no reconcile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::secret::OWNER_NAME;
use super::{Context, gateway_app, inference_api};
use crate::api::{
    ACCOUNT_LABEL, CREDENTIALS_SOURCE_LABEL, GatewayApp, InferenceApi, MANAGED_BY_LABEL,
    MANAGED_BY_VALUE, OWNER_KIND_LABEL, annotations,
};

/// Watch events buffered per consumer before the watch waits for it.
const FANOUT_BUFFER: usize = 1024;

type Trigger<K> = Result<K, watcher::Error>;

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

/// One watch and its cache, and the consumers of its events.
struct FanOut<K, D>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store: Store<K>,
    /// Every event but the echoes of our own writes: the kind's own controller.
    own: mpsc::Receiver<Trigger<K>>,
    /// Every event: another controller that maps this kind to its objects.
    others: Option<mpsc::Receiver<Trigger<K>>>,
    /// Drives the watch.
    driver: D,
}

/// What a watch reports, for the claims index: an object (and whether it was deleted), or the
/// start and the end of a full re-list.
enum Seen<'a, K> {
    Object(&'a K, bool),
    RelistStarted,
    RelistDone,
}

/// A watch into a cache (without managedFields) whose events go to each consumer.
fn fan_out<K>(
    api: Api<K>,
    config: watcher::Config,
    ctx: Arc<Context>,
    with_others: bool,
    observe: impl Fn(&Context, Seen<'_, K>) + Send + 'static,
) -> FanOut<K, impl Future<Output = ()>>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let (own_tx, own_rx) = mpsc::channel(FANOUT_BUFFER);
    let (others_tx, others_rx) = if with_others {
        let (tx, rx) = mpsc::channel(FANOUT_BUFFER);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
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
        .reflect(writer);
    let driver = async move {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            let (obj, deleted) = match event {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => (o, false),
                Ok(watcher::Event::Delete(o)) => (o, true),
                Ok(watcher::Event::Init) => {
                    observe(&ctx, Seen::RelistStarted);
                    continue;
                }
                Ok(watcher::Event::InitDone) => {
                    observe(&ctx, Seen::RelistDone);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "watch error; retrying with backoff");
                    continue;
                }
            };
            observe(&ctx, Seen::Object(&obj, deleted));
            if let Some(tx) = &others_tx {
                let _ = tx.send(Ok(obj.clone())).await;
            }
            if deleted {
                if let Some(uid) = obj.meta().uid.as_deref() {
                    ctx.forget(uid);
                }
            } else if ctx.is_echo(&obj) {
                continue;
            }
            let _ = own_tx.send(Ok(obj)).await;
        }
    };
    FanOut {
        store: reader,
        own: own_rx,
        others: others_rx,
        driver,
    }
}

fn receive<K: Send + 'static>(
    mut rx: mpsc::Receiver<Trigger<K>>,
) -> impl Stream<Item = Trigger<K>> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Our own Secrets, metadata only and by label: a hand edit or delete brings the owner back
/// promptly; the echoes of our own applies do not. `kind`: the owners' kind (GatewayApps'
/// credentials, or InferenceApis' connection Secrets).
fn managed_secrets(
    client: &Client,
    ns: &Option<String>,
    ctx: Arc<Context>,
    kind: &str,
) -> impl Stream<Item = Trigger<PartialObjectMeta<Secret>>> + Send + 'static {
    let owner_kind = if kind == "InferenceApi" {
        format!("{OWNER_KIND_LABEL}=InferenceApi")
    } else {
        format!("!{OWNER_KIND_LABEL}")
    };
    let config = watcher::Config::default().labels(&format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{owner_kind}"
    ));
    watcher(api::<PartialObjectMeta<Secret>>(client, ns), config)
        .default_backoff()
        .filter_map(move |event| {
            let out = match event {
                Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                    (!ctx.is_echo(&s)).then_some(Ok(s))
                }
                Ok(watcher::Event::Delete(s)) => {
                    if let Some(uid) = s.metadata.uid.as_deref() {
                        ctx.own_writes.forget(uid);
                    }
                    Some(Ok(s))
                }
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            };
            std::future::ready(out)
        })
}

/// The GatewayApps in the Secret's namespace that `refers` to it, unsettled so that their next
/// reconcile reads it again.
fn referring_apps(
    store: &Store<GatewayApp>,
    ctx: &Context,
    secret: &PartialObjectMeta<Secret>,
    refers: fn(&GatewayApp, &str) -> bool,
) -> Vec<ObjectRef<GatewayApp>> {
    referring(store, secret, refers)
        .into_iter()
        .inspect(|app| ctx.settled.unsettle(&app.uid().unwrap_or_default()))
        .map(|app| ObjectRef::from(app.as_ref()))
        .collect()
}

/// The cached objects in the namespace of `other` that `refers` to it by name.
fn referring<K, O>(store: &Store<K>, other: &O, refers: fn(&K, &str) -> bool) -> Vec<Arc<K>>
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
        .collect()
}

/// `referring`, as the references a controller's watch mapping returns.
fn referring_refs<K, O>(
    store: &Store<K>,
    other: &O,
    refers: fn(&K, &str) -> bool,
) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
    O: Resource,
{
    referring(store, other, refers)
        .iter()
        .map(|o| ObjectRef::from(o.as_ref()))
        .collect()
}

/// Users' Secrets the operator watches by label (metadata only): accounts and credential sources.
fn labelled_secrets(label: &str) -> watcher::Config {
    watcher::Config::default().labels(&format!("{label}=true"))
}

/// Runs the controllers until a shutdown signal.
pub async fn run_controllers(client: Client, ctx: Arc<Context>, ready: Arc<AtomicBool>) {
    let ns = ctx.settings.namespace.clone();
    let mut wc = watcher::Config::default().any_semantic();
    if let Some(selector) = &ctx.settings.label_selector {
        wc = wc.labels(selector);
    }
    let config = controller::Config::default().concurrency(ctx.settings.concurrency);

    let FanOut {
        store: apps_store,
        own: apps_own,
        others: apps_for_apis,
        driver: apps_watch,
    } = fan_out(
        api::<GatewayApp>(&client, &ns),
        wc.clone(),
        ctx.clone(),
        true,
        |ctx: &Context, seen: Seen<'_, GatewayApp>| match seen {
            Seen::Object(app, deleted) => {
                let (claim, id) = gateway_app::claim_of(app);
                ctx.claims.observe(claim, id.filter(|_| !deleted));
            }
            Seen::RelistStarted => ctx.claims.relist_started(),
            Seen::RelistDone => ctx.claims.relist_done(),
        },
    );
    let _ = ctx.gateway_apps.set(apps_store.clone());
    let FanOut {
        store: apis_store,
        own: apis_own,
        driver: apis_watch,
        ..
    } = fan_out(
        api::<InferenceApi>(&client, &ns),
        wc,
        ctx.clone(),
        false,
        |_: &Context, _: Seen<'_, InferenceApi>| {},
    );
    let _ = ctx.inference_apis.set(apis_store.clone());

    let (account_store, source_store) = (apps_store.clone(), apps_store.clone());
    let apps_listed = apps_store.clone();
    let (secrets_ctx, accounts_ctx, sources_ctx) = (ctx.clone(), ctx.clone(), ctx.clone());
    let apps = Controller::for_stream(receive(apps_own), apps_store)
        .with_config(config.clone())
        .watches_stream(
            managed_secrets(&client, &ns, ctx.clone(), "GatewayApp"),
            move |s: PartialObjectMeta<Secret>| {
                // Newer than what the owner last wrote or read: it must look even if settled.
                if let Some(uid) = s.annotations().get(annotations::OWNER_UID) {
                    secrets_ctx.settled.secret_seen(
                        uid,
                        &s.name_any(),
                        super::echo::version_of(&s.metadata),
                    );
                }
                let owner = s.annotations().get(OWNER_NAME).cloned();
                owner
                    .zip(s.namespace())
                    .map(|(owner, ns)| ObjectRef::<GatewayApp>::new(&owner).within(&ns))
            },
        )
        // Account Secrets (users label them): every object that refers to one.
        .watches(
            api::<PartialObjectMeta<Secret>>(&client, &ns),
            labelled_secrets(ACCOUNT_LABEL),
            move |s: PartialObjectMeta<Secret>| {
                referring_apps(&account_store, &accounts_ctx, &s, |o, name| {
                    o.spec.account_ref.as_ref().is_some_and(|r| r.name == name)
                })
            },
        )
        // Credential sources (users label them): the objects that take their key from one.
        .watches(
            api::<PartialObjectMeta<Secret>>(&client, &ns),
            labelled_secrets(CREDENTIALS_SOURCE_LABEL),
            move |s: PartialObjectMeta<Secret>| {
                referring_apps(&source_store, &sources_ctx, &s, |o, name| {
                    o.spec
                        .credentials_from
                        .as_ref()
                        .is_some_and(|r| r.name == name)
                })
            },
        );
    // InferenceApis: a GatewayApp change (Ready, deleted) reaches every API that refers to it,
    // and an account Secret change every API that uses it.
    let refs_store = apis_store.clone();
    let api_accounts_store = apis_store.clone();
    let apis = Controller::for_stream(receive(apis_own), apis_store)
        .with_config(config)
        // Connection Secrets: an edit or delete brings their InferenceApi back.
        .watches_stream(
            managed_secrets(&client, &ns, ctx.clone(), "InferenceApi"),
            |s: PartialObjectMeta<Secret>| {
                let owner = s.annotations().get(OWNER_NAME).cloned();
                owner
                    .zip(s.namespace())
                    .map(|(owner, ns)| ObjectRef::<InferenceApi>::new(&owner).within(&ns))
            },
        )
        .watches_stream(
            receive(apps_for_apis.expect("requested")),
            move |app: GatewayApp| {
                referring_refs(&refs_store, &app, |a: &InferenceApi, name| {
                    a.spec.app_refs.iter().any(|r| r.name == name)
                })
            },
        )
        .watches(
            api::<PartialObjectMeta<Secret>>(&client, &ns),
            labelled_secrets(ACCOUNT_LABEL),
            move |s: PartialObjectMeta<Secret>| {
                referring_refs(&api_accounts_store, &s, |a: &InferenceApi, name| {
                    a.spec.account_ref.as_ref().is_some_and(|r| r.name == name)
                })
            },
        );

    tokio::spawn(apps_watch);
    tokio::spawn(apis_watch);
    tokio::spawn(super::gauges::count_managed(ctx.clone()));
    ready.store(true, Ordering::Relaxed);
    let apps = apps
        .shutdown_on_signal()
        .run(
            gateway_app::reconcile,
            gateway_app::error_policy,
            ctx.clone(),
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::warn!(kind = "GatewayApp", error = %e, "controller error");
            }
        });
    let apis = apis
        .shutdown_on_signal()
        .run(inference_api::reconcile, inference_api::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::warn!(kind = "InferenceApi", error = %e, "controller error");
            }
        });
    // InferenceApis read their apps from the GatewayApp cache: before its first list is in,
    // an app would look deleted and its binding be removed.
    let apis = async move {
        if apps_listed.wait_until_ready().await.is_ok() {
            apis.await;
        }
    };
    futures::join!(apps, apis);
}
