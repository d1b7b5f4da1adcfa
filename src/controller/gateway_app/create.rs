//! Creating an app, or finding the one an earlier attempt created, and delivering its
//! credentials: observe (the marker, the Secret, a lookup by name), plan (`plan::plan_create`),
//! execute.

use super::*;
use std::time::Instant;

use super::key_refusal::{asked_with, key_still_refused};
use crate::controller::memory::KeyRefusal;
use crate::controller::plan::{Adoption, CreateFacts, CreatePlan, Refusal};

pub(super) async fn create_or_recover(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
) -> Result<Delivered> {
    let uid = app.uid().unwrap_or_default();
    if key_still_refused(app, ctx, client).await? {
        return Err(Error::Unchanged(Reason::KeyConflict));
    }
    let mut name = cloud_name(app, ctx);
    // A marker this reconcile wrote (conflict-checked against the object it read) proves no
    // earlier attempt exists, so where the cloud refuses taken names the lookup below can be
    // skipped: one cloud call per new app. Where it does not, the lookup is what finds a taken
    // name (NameConflict, or the app to adopt).
    let (mut marker, fresh_marker) = match marker_of(app) {
        Some(m) => (m, false),
        None => (write_marker(app, ctx, &name).await?, true),
    };
    // The name changed before the app existed (a typo the cloud rejected was fixed): settle the
    // old name first, then move the marker to the new one.
    if let Some(wanted) = app.spec.app_name.clone().filter(|w| *w != marker.name) {
        let old = target
            .find_by_name(client, &marker.name)
            .await
            .map_err(Error::cloud)?;
        if !old
            .iter()
            .any(|a| ctx.fingerprint(&uid).is_mine(a.remark.as_deref()))
        {
            waits::marker_settled(ctx, &uid, &marker, "app", Reason::Creating)?;
            ctx.set_unresolved(&uid, false);
            let current = pending::current(app, ctx).await?;
            marker = write_marker(&current, ctx, &wanted).await?;
            name = wanted;
        }
    }

    // Never create an app whose credentials could not be delivered. The cache of our own
    // Secrets answers without a read; a Secret someone else made is not in it, and is found
    // when the first write of ours fails (then the new app is deleted again, and from then on
    // this object reads before creating).
    let secret_name = secret_step::secret_name(app);
    let conflict_seen = ctx
        .memory
        .get(&uid, |m| m.rare().secret_conflict)
        .unwrap_or(false);
    let existing = match known_secret::cached(app, ctx, &secret_name) {
        Some(cached) if !conflict_seen => cached.map(|m| known_secret::as_secret(&m)),
        _ => get_secret(app, ctx, &secret_name).await?,
    };
    let ours = existing
        .as_ref()
        .is_some_and(|s| s.annotations().get(annotations::OWNER_UID) == app.uid().as_ref());
    // A Secret retained for an app (an earlier object's deletionPolicy: Retain) is taken over
    // by an object that recovers or adopts that very app, and by no other.
    let retained_for = existing
        .as_ref()
        .filter(|_| !ours)
        .filter(|s| s.annotations().contains_key(annotations::OWNER_UID))
        .and_then(|s| s.annotations().get(annotations::APP_ID).cloned())
        .filter(|id| !id.is_empty());
    if !ours && existing.is_some() && retained_for.is_none() {
        return Err(secret_conflict(&secret_name));
    }

    // Look before creating: an earlier attempt (ours, or a crashed process's) may have made it.
    // A retained Secret needs the lookup too: only the app it was kept for may take it.
    let found = if fresh_marker && target.names_unique() && retained_for.is_none() {
        Vec::new()
    } else {
        target
            .find_by_name(client, &name)
            .await
            .map_err(Error::cloud)?
    };
    let me = ctx.fingerprint(&uid);
    let (ours, foreign): (Vec<CloudApp>, Vec<CloudApp>) = found
        .into_iter()
        .partition(|a| me.is_mine(a.remark.as_deref()));
    let (foreign, adopt) = restored_or_foreign(app, ctx, &marker, foreign);
    let foreign_held_by = match foreign.first() {
        Some(other) => held_elsewhere(app, ctx, other)?,
        None => None,
    };
    let facts = CreateFacts {
        foreign_held_by,
        foreign,
        adopt,
        secret_retained_for: retained_for,
        ..pending::create_facts(ctx, &uid, &marker, ours)
    };
    match plan::plan_create(facts) {
        CreatePlan::Recover { keep, twins } => {
            for twin in &twins {
                let deleted = target
                    .delete(client, &twin.id)
                    .await
                    .map_err(Error::cloud)?;
                audit::app_deleted(app, target, &twin.id, deleted);
                let note = format!("deleted duplicate cloud app {} named {name}", twin.id);
                ctx.warning(app, "DuplicateRemoved", "Recover", note).await;
            }
            ctx.set_unresolved(&uid, false);
            audit::app(app, Mutation::Recover, target, &keep.id);
            let note = format!("found app {} created by an earlier attempt", keep.id);
            ctx.normal(app, "Recovered", "Recover", note).await;
            let id = keep.id.clone();
            let delivered = deliver_new(app, ctx, client, target, keep, None, None).await;
            undone_on_conflict(app, ctx, client, target, &id, delivered).await
        }
        CreatePlan::Adopt(adopted) => {
            reserve(app, ctx, &adopted.id)?;
            if target.can_update() {
                let remark = ctx
                    .fingerprint(&uid)
                    .remark(app.spec.description.as_deref());
                target
                    .update_remark(client, &adopted, &remark)
                    .await
                    .map_err(Error::cloud)?;
            }
            audit::app(app, Mutation::Adopt, target, &adopted.id);
            let note = format!("adopted existing app {} named {name}", adopted.id);
            ctx.normal(app, "Adopted", "Adopt", note).await;
            deliver_new(app, ctx, client, target, adopted, None, None).await
        }
        CreatePlan::Wait(after) => Err(waits::in_flight(
            after,
            &format!("app {}", marker.name),
            Reason::Creating,
        )),
        CreatePlan::Refuse(refusal) => Err(refused(&refusal, &name, &secret_name)),
        CreatePlan::Create => {
            pending::restamp_marker(app, ctx, &marker, &name).await?;
            create(app, ctx, client, target, &name, existing).await
        }
    }
}

/// A restored object (its marker was written on another object: a backup's copy comes back with
/// a new uid) binds the app made for that object, as an adoption the tenancy check has already
/// permitted; whether another live object or cluster holds it is still asked. Otherwise the
/// foreign apps stand as found, adopted only when the object asks.
fn restored_or_foreign(
    app: &GatewayApp,
    ctx: &Context,
    marker: &crate::controller::marker::PendingMarker,
    foreign: Vec<CloudApp>,
) -> (Vec<CloudApp>, Adoption) {
    let uid = app.uid().unwrap_or_default();
    if let Some(earlier) = marker.written_on_other(&uid) {
        let made_for_it = ctx.fingerprint(earlier);
        let restored: Vec<CloudApp> = foreign
            .iter()
            .filter(|a| made_for_it.is_mine(a.remark.as_deref()))
            .cloned()
            .collect();
        if !restored.is_empty() {
            return (restored, Adoption::Allowed);
        }
    }
    (foreign, adoption(app))
}

/// Whether the object asks to adopt a foreign app. Asking is enough here: an object that asks
/// without being permitted (by a policy, or the operator's flag while no policy exists) was
/// refused before any cloud call.
fn adoption(app: &GatewayApp) -> Adoption {
    let asked = app
        .annotations()
        .get(annotations::ADOPT)
        .is_some_and(|v| v == "true");
    if asked {
        Adoption::Allowed
    } else {
        Adoption::NotAsked
    }
}

fn refused(refusal: &Refusal, name: &str, secret_name: &str) -> Error {
    match refusal {
        Refusal::NameTaken { id, .. } => Error::failed(
            refusal.reason(),
            format!(
                "a cloud app named {name} already exists ({id}) and was not created for this object; set annotation {}: \"true\" to adopt it",
                annotations::ADOPT
            ),
        ),
        Refusal::HeldBy { id, owner } => Error::failed(
            refusal.reason(),
            format!("app {id} is already managed by {owner}"),
        ),
        Refusal::SecretTaken => secret_conflict(secret_name),
    }
}

/// The create itself, with the credentials chosen (and staged) first, and what follows its
/// answer: delivery, a wait when the outcome is unknown, or the failure.
async fn create(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    name: &str,
    existing: Option<Secret>,
) -> Result<Delivered> {
    let uid = app.uid().unwrap_or_default();
    let remark = ctx
        .fingerprint(&uid)
        .remark(app.spec.description.as_deref());
    let chosen = chosen_credentials(app, ctx).await?;
    ctx.set_unresolved(&uid, true);
    crate::failpoint("before-create");
    let result = target
        .create(
            client,
            name,
            &remark,
            chosen.as_ref().map(|c| ChosenCredentials {
                key: &c.key,
                secret: &c.secret,
            }),
        )
        .await;
    match result {
        Ok(created) => {
            ctx.set_unresolved(&uid, false);
            ctx.memory
                .update(&uid, |m| m.rare_mut(|r| r.key_refused = None));
            audit::app(app, Mutation::Create, target, &created.id);
            crate::failpoint("after-create");
            let note = format!(
                "created {} app {} named {name}",
                target.service(),
                created.id
            );
            ctx.normal(app, "Created", "Create", note).await;
            // The Secret was seen just before the create; a staged (Generated) one changed since.
            let read_before = chosen.is_none().then_some(existing);
            let secret = chosen.map(|c| c.secret);
            let id = created.id.clone();
            let delivered =
                deliver_new(app, ctx, client, target, created, secret, read_before).await;
            undone_on_conflict(app, ctx, client, target, &id, delivered).await
        }
        Err(e) if e.outcome_unknown() => Err(waits::create_unanswered(&format!("app {name}"))),
        Err(e) => {
            ctx.set_unresolved(&uid, false);
            if e.category() == ErrorCategory::AlreadyExists {
                // With a marker set, "already exists" means "look again", never a conflict.
                return Err(Error::Requeue(Duration::from_millis(200)));
            }
            // Only a key read from a source is refused again as it stands: a Generated one is
            // cleared below, and the next attempt chooses another.
            if e.category() == ErrorCategory::KeyTaken
                && let Some(source) = chosen.as_ref().and_then(|c| c.source)
            {
                let refusal = KeyRefusal {
                    asked: asked_with(app, client, source),
                    at: Instant::now(),
                };
                ctx.memory
                    .with(&uid, |m| m.rare_mut(|r| r.key_refused = Some(refusal)));
            }
            let failure = Error::cloud(e);
            let terminal = matches!(&failure, Error::Failed { reason, .. } if reason.is_terminal());
            if terminal && app.spec.credentials == CredentialsMode::Generated {
                // The staged values will never be used: clear them (the next attempt, after
                // the spec changes, chooses new ones).
                let name = secret_step::secret_name(app);
                if let Some(s) = get_secret(app, ctx, &name).await?
                    && s.annotations().get(annotations::OWNER_UID) == app.uid().as_ref()
                {
                    ctx.delete_secret(&app.namespace().unwrap_or_default(), &name)
                        .await?;
                }
            }
            Err(failure)
        }
    }
}

/// A delivery of an app this object made (just now, or an attempt that crashed before the
/// delivery) that found the Secret's name taken by a Secret the operator did not write (the
/// cache of our own Secrets could not show it): the app is deleted again, so that the refused
/// object leaves nothing behind, and this object reads before its next create. If the delete
/// fails (an outage, no delete permission), the pending marker finds the app at the next
/// attempt, which tries again.
async fn undone_on_conflict(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
    delivered: Result<Delivered>,
) -> Result<Delivered> {
    if let Err(Error::Failed {
        reason: Reason::SecretConflict,
        ..
    }) = &delivered
    {
        undo_create(app, ctx, client, target, app_id).await;
    }
    delivered
}

async fn undo_create(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
) {
    let uid = app.uid().unwrap_or_default();
    ctx.memory
        .with(&uid, |m| m.rare_mut(|r| r.secret_conflict = true));
    match target.delete(client, app_id).await {
        Ok(deleted) => {
            audit::app_deleted(app, target, app_id, deleted);
            let note = format!(
                "deleted app {app_id} again: Secret {} is not managed by this GatewayApp",
                secret_step::secret_name(app)
            );
            ctx.warning(app, "SecretConflict", "Create", note).await;
        }
        Err(e) => {
            tracing::warn!(app_id, error = %e, "could not delete the app of a refused Secret; the marker finds it again");
        }
    }
}
