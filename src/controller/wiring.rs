//! The watches and the two controllers, on kube-runtime's shared reflector stores: one watch and
//! cache per kind (the GatewayApp one serves both controllers), subscribers that feed the
//! controllers, and one filter per controller that lets through only what someone else changed
//! (`writes.rs`). Cached objects carry no managedFields; the operator's own Secrets are watched
//! by label and as metadata only. The watch helpers are in `watches.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::watcher;
use tokio::sync::mpsc;

use super::rewake::rewoken;
use super::watches::*;
use super::{Context, driver, gateway_app, resync, watched_secrets};
use crate::api::{ACCOUNT_LABEL, CREDENTIALS_SOURCE_LABEL, GatewayApp, InferenceApi};

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
        gateway_app::trim_cached,
        nothing_before,
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
            Seen::Failed => {}
        },
    );
    let _ = ctx.gateway_apps.set(apps_store.clone());
    let (apis_store, apis_handles, apis_watch) = shared_watch(
        api::<InferenceApi>(&client, &ns),
        wc,
        ctx.clone(),
        1,
        keep_all,
        nothing_before,
        |ctx: &Context, seen: Seen<'_, InferenceApi>| {
            if matches!(seen, Seen::RelistDone) {
                ctx.inference_apis_listed.store(true, Ordering::Relaxed);
            }
        },
    );
    let _ = ctx.inference_apis.set(apis_store.clone());
    // Account Secrets (users label them): one watch for both controllers.
    let (_, account_handles, accounts_watch) = shared_watch(
        api::<PartialObjectMeta<Secret>>(&client, &ns),
        labelled_secrets(ACCOUNT_LABEL),
        ctx.clone(),
        2,
        watched_secrets::trim_users_secret,
        // Indexed before the subscribers see the change; an account gone is forgotten.
        |ctx: &Context,
         event: &Result<watcher::Event<PartialObjectMeta<Secret>>, watcher::Error>| {
            for (namespace, name) in ctx.account_secrets.observe(event) {
                ctx.read_accounts.forget(&namespace, &name);
            }
        },
        |_: &Context, _: Seen<'_, PartialObjectMeta<Secret>>| {},
    );
    // Credential sources (users label them), for the objects that take their key from one.
    let (_, source_handles, sources_watch) = shared_watch(
        api::<PartialObjectMeta<Secret>>(&client, &ns),
        labelled_secrets(CREDENTIALS_SOURCE_LABEL),
        ctx.clone(),
        1,
        watched_secrets::trim_users_secret,
        |ctx: &Context,
         event: &Result<watcher::Event<PartialObjectMeta<Secret>>, watcher::Error>| {
            ctx.source_secrets.observe(event);
        },
        |_: &Context, _: Seen<'_, PartialObjectMeta<Secret>>| {},
    );
    let (
        Ok([app_events, app_events_for_apis]),
        Ok([api_events]),
        Ok([accounts, api_accounts]),
        Ok([source_events]),
    ) = (
        <[_; 2]>::try_from(apps_handles),
        <[_; 1]>::try_from(apis_handles),
        <[_; 2]>::try_from(account_handles),
        <[_; 1]>::try_from(source_handles),
    )
    else {
        unreachable!("shared stores hand out the subscribers asked for");
    };

    let (accounts_store, sources_store) = (apps_store.clone(), apps_store.clone());
    let apps_listed = apps_store.clone();
    let apps = Controller::for_shared_stream(
        queued(changed_by_others(app_events, ctx.clone()), ctx.clone()),
        apps_store,
    )
    .with_config(config.clone())
    .reconcile_all_on(all_queued(apps_on, apps_listed.clone(), ctx.clone()))
    .reconcile_on(resync::sweep(
        apps_listed.clone(),
        ctx.settings.resync,
        ctx.clone(),
    ))
    // The credentials Secrets, indexed on the way (what a reconcile asks before it reads one).
    .watches_stream(
        managed_secrets(&client, &ns, ctx.clone(), "GatewayApp"),
        queued_by(ctx.clone(), |s: PartialObjectMeta<Secret>| {
            owner_of::<GatewayApp>(&s)
        }),
    )
    .watches_shared_stream(
        rewoken(accounts),
        queued_by(ctx.clone(), move |s: Arc<PartialObjectMeta<Secret>>| {
            referring(&accounts_store, s.as_ref(), uses_account::<GatewayApp>)
        }),
    )
    // Credential sources (users label them): the objects that take their key from one.
    .watches_shared_stream(
        rewoken(source_events),
        queued_by(ctx.clone(), move |s: Arc<PartialObjectMeta<Secret>>| {
            referring(&sources_store, s.as_ref(), |o: &GatewayApp, name| {
                o.spec
                    .credentials_from
                    .as_ref()
                    .is_some_and(|r| r.name == name)
            })
        }),
    );
    // InferenceApis: any GatewayApp change (Ready, being deleted, gone; our own status writes
    // included) reaches every API that refers to it, and an account Secret change every API
    // that uses it.
    let (refs_store, api_accounts_store) = (apis_store.clone(), apis_store.clone());
    let deleted_refs_store = apis_store.clone();
    let apis = Controller::for_shared_stream(
        queued(changed_by_others(api_events, ctx.clone()), ctx.clone()),
        apis_store.clone(),
    )
    .with_config(config)
    .reconcile_all_on(all_queued(apis_on, apis_store.clone(), ctx.clone()))
    .reconcile_on(resync::sweep(apis_store, ctx.settings.resync, ctx.clone()))
    .watches_stream(
        managed_secrets(&client, &ns, ctx.clone(), "InferenceApi"),
        queued_by(ctx.clone(), |s: PartialObjectMeta<Secret>| {
            owner_of::<InferenceApi>(&s)
        }),
    )
    .watches_shared_stream(
        rewoken(app_events_for_apis),
        queued_by(ctx.clone(), move |app: Arc<GatewayApp>| {
            referring(&refs_store, app.as_ref(), |a: &InferenceApi, name| {
                a.spec.app_refs.iter().any(|r| r.name == name)
            })
        }),
    )
    .watches_shared_stream(
        rewoken(api_accounts),
        queued_by(ctx.clone(), move |s: Arc<PartialObjectMeta<Secret>>| {
            referring(
                &api_accounts_store,
                s.as_ref(),
                uses_account::<InferenceApi>,
            )
        }),
    )
    .watches_stream(
        futures::stream::poll_fn(move |cx| deleted_rx.poll_recv(cx)).map(Ok),
        queued_by(ctx.clone(), move |app: GatewayApp| {
            referring(&deleted_refs_store, &app, |a: &InferenceApi, name| {
                a.spec.app_refs.iter().any(|r| r.name == name)
            })
        }),
    );

    tokio::spawn(apps_watch);
    tokio::spawn(apis_watch);
    tokio::spawn(accounts_watch);
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
    tokio::spawn(super::gauges::keep_current(ctx.clone()));
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
