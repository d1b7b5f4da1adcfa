//! Pause, detach and deletion (SPEC §3.7, §3.8).

use super::*;

pub(super) async fn pause(app: &GatewayApp, ctx: &Context) -> Result<Action> {
    if app.metadata.deletion_timestamp.is_some() {
        // Detached: no cloud call, but the account Secret is no longer needed by this object.
        release_account(app, ctx).await?;
        remove_finalizer(app, ctx).await?;
        ctx.event(
            &app.object_ref(&()),
            EventType::Normal,
            "Detached",
            "Delete",
            "paused object deleted: the cloud app was left untouched".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let outcome = Outcome {
        paused: true,
        ..Outcome::available(format!("{}: \"true\": no cloud calls", annotations::PAUSED))
    };
    write_status(app, ctx, None, &outcome).await?;
    Ok(Action::await_change())
}

pub(super) async fn remove_finalizer(app: &GatewayApp, ctx: &Context) -> Result<()> {
    if !app.finalizers().iter().any(|f| f == CLEANUP_FINALIZER) {
        return Ok(());
    }
    let finalizers: Vec<&String> = app
        .finalizers()
        .iter()
        .filter(|f| *f != CLEANUP_FINALIZER)
        .collect();
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": app.resource_version()}});
    api(app, ctx)
        .patch(
            &app.name_any(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
    Ok(())
}

pub(super) async fn cleanup(app: &GatewayApp, ctx: &Context) -> Result<Action> {
    if !app.finalizers().iter().any(|f| f == CLEANUP_FINALIZER) {
        return Ok(Action::await_change());
    }
    if app.spec.deletion_policy == DeletionPolicy::Delete {
        let target = Target::from_spec(&app.spec)
            .ok_or_else(|| Error::failed(Reason::InvalidSpec, "no service block"))?;
        let account = resolve_account(app, ctx).await?;
        check_account_unchanged(app, &account, &target)?;
        let client = ctx.cloud.client(&account);
        let uid = app.uid().unwrap_or_default();
        let mut ids: Vec<String> = known_app_id(app).into_iter().collect();
        if ids.is_empty() && marker_of(app).is_some() {
            // Resolve the open marker: a create may have happened before we saw its answer.
            let name = cloud_name(app, ctx);
            let found = target
                .find_by_name(&client, &name)
                .await
                .map_err(Error::cloud)?;
            ids.extend(
                found
                    .into_iter()
                    .filter(|a| naming::has_fingerprint(a.remark.as_deref(), &uid))
                    .map(|a| a.id),
            );
            if ids.is_empty() {
                wait_for_marker(app, ctx, &uid)?;
            }
        }
        // An app another live object claims is left to it (a refused copy is deleted without
        // touching its owner's app).
        let (held, ids): (Vec<String>, Vec<String>) = ids
            .into_iter()
            .partition(|id| ctx.claims.others(&uid, id).iter().any(|c| !c.deleting));
        for id in &held {
            ctx.event(
                &app.object_ref(&()),
                EventType::Normal,
                "Detached",
                "Delete",
                format!("app {id} is held by another object; it was left untouched"),
            )
            .await;
        }
        for id in &ids {
            unbind_all(app, ctx, &client, &target, id).await?;
            target.delete(&client, id).await.map_err(Error::cloud)?;
            ctx.event(
                &app.object_ref(&()),
                EventType::Normal,
                "Deleted",
                "Delete",
                format!("deleted {} app {id}", target.service()),
            )
            .await;
        }
    }
    release_account(app, ctx).await?;
    remove_finalizer(app, ctx).await?;
    Ok(Action::await_change())
}

/// Nothing found for an open marker: a create sent by a process that died (or by this one, not
/// answered yet) may still land. Look again once the marker is older than such a create can
/// be; until then the object keeps its finalizer.
fn wait_for_marker(app: &GatewayApp, ctx: &Context, uid: &str) -> Result<()> {
    match marker_of(app) {
        Some(marker) => waits::marker_settled(ctx, uid, &marker, "app", Reason::Deleting),
        None => Ok(()),
    }
}

/// ModelArts refuses to delete a bound app: remove its API authorizations first.
pub(super) async fn unbind_all(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
) -> Result<()> {
    let names = target
        .release_bindings(client, app_id)
        .await
        .map_err(Error::cloud)?;
    if names.is_empty() {
        return Ok(());
    }
    ctx.event(
        &app.object_ref(&()),
        EventType::Normal,
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
