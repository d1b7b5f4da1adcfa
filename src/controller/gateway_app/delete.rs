//! Deleting the app (with `deletionPolicy: Delete`): observe (the known id, or a lookup by name
//! for an open marker), plan (`plan::plan_delete`), execute. The driver releases the account
//! Secrets and removes the finalizer afterwards.

use super::*;

pub(super) async fn delete_in_cloud(app: &GatewayApp, ctx: &Context) -> Result<()> {
    let target = Target::from_spec(&app.spec)
        .ok_or_else(|| Error::failed(Reason::InvalidSpec, "no service block"))?;
    let account = account_use::resolve(app, ctx).await?;
    account_use::check_unchanged(app, &account, Some(target.instance()))?;
    let client = ctx.cloud.client(&account);
    let uid = app.uid().unwrap_or_default();
    // Only the app status binds: an id in the annotation alone was never checked (a copied,
    // restored or hand-written object that was refused) and must not delete anything.
    let known = bound_app_id(app).map(str::to_string);
    let marker = marker_of(app);
    let mut found: Vec<String> = known.clone().into_iter().collect();
    let mut marker_wait = None;
    if plan::delete_needs_lookup(known.as_deref(), marker.is_some()) {
        // Resolve the open marker: a create may have happened before we saw its answer.
        let name = cloud_name(app, ctx);
        found.extend(
            target
                .find_by_name(&client, &name)
                .await
                .map_err(Error::cloud)?
                .into_iter()
                .filter(|a| ctx.fingerprint(&uid).is_mine(a.remark.as_deref()))
                .map(|a| a.id),
        );
        // Nothing found: a create sent by a process that died (or by this one, not answered
        // yet) may still land. Look again once the marker is older than such a create can be.
        marker_wait = marker
            .as_ref()
            .and_then(|m| waits::marker_wait(ctx, &uid, m));
    }
    // An app another live object binds is left to it (a refused copy is deleted without
    // touching its owner's app); a mere annotation naming it holds nothing.
    let held = |id: &str| {
        ctx.claims
            .others(&uid, id)
            .iter()
            .any(|c| c.bound && !c.deleting)
    };
    let planned = plan::plan_delete(found, held, marker_wait).map_err(|after| {
        let name = marker.map(|m| m.name).unwrap_or_default();
        waits::in_flight(after, &format!("app {name}"), Reason::Deleting)
    })?;
    for id in &planned.held {
        ctx.normal(
            app,
            "Detached",
            "Delete",
            format!("app {id} is held by another object; it was left untouched"),
        )
        .await;
    }
    for id in &planned.delete {
        unbind_all(app, ctx, &client, &target, id).await?;
        let deleted = target.delete(&client, id).await.map_err(Error::cloud)?;
        audit::app_deleted(app, &target, id, deleted);
        let note = format!("deleted {} app {id}", target.service());
        ctx.normal(app, "Deleted", "Delete", note).await;
    }
    Ok(())
}

/// ModelArts refuses to delete a bound app: remove its API authorizations first.
pub(super) async fn unbind_all(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
) -> Result<()> {
    let mut released = Vec::new();
    target
        .release_bindings(client, app_id, |api| {
            // Logged as each takes effect: a later failure must not lose it.
            audit::record(
                app,
                Mutation::Unbind,
                target.service(),
                "app",
                app_id,
                Some(&api.api_id),
            );
            released.push(api);
        })
        .await
        .map_err(Error::cloud)?;
    let names: Vec<&str> = released.iter().map(|a| a.name.as_str()).collect();
    if names.is_empty() {
        return Ok(());
    }
    ctx.normal(
        app,
        "Unbound",
        "Delete",
        format!(
            "removed the app's authorization to APIs: {}",
            names.join(", ")
        ),
    )
    .await;
    Ok(())
}
