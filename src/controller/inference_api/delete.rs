//! Deleting the API (with `deletionPolicy: Delete`): unbind every app, then delete it. Observe
//! (the known id, or a lookup for an open marker), plan (`plan::plan_delete`), execute.

use super::*;

pub(super) async fn delete_in_cloud(api: &InferenceApi, ctx: &Context) -> Result<()> {
    let account = account_use::resolve(api, ctx).await?;
    account_use::check_unchanged(api, &account, None)?;
    let client = ctx.cloud.client(&account);
    let ma = client.modelarts(workspace(api));
    let uid = api.uid().unwrap_or_default();
    // Only the API status binds: an id in the annotation alone was never checked.
    let known = status(api).api_id.filter(|id| !id.is_empty());
    let mut found: Vec<String> = known.clone().into_iter().collect();
    let mut marker_wait = None;
    let marker_open = api.annotations().contains_key(annotations::PENDING);
    let marker = pending::marker_of(api);
    if plan::delete_needs_lookup(known.as_deref(), marker_open) {
        let apis = ma
            .list_apis(&api.spec.service_id)
            .await
            .map_err(Error::cloud)?;
        found.extend(
            apis.into_iter()
                .filter(|a| is_ours(api, ctx, a))
                .map(|a| a.api_id),
        );
        // A create of a dead process (or ours, unanswered) may still land: look again once
        // the marker is older than such a create can be.
        marker_wait = marker
            .as_ref()
            .and_then(|m| waits::marker_wait(ctx, &uid, m));
    }
    // An API another live object binds is left to it (a mere annotation naming it holds nothing).
    let held = |id: &str| held_by_other(api, ctx, id).is_some();
    let planned = plan::plan_delete(found, held, marker_wait).map_err(|after| {
        let name = marker.map(|m| m.name).unwrap_or_default();
        waits::in_flight(after, &format!("API {name}"), Reason::Deleting)
    })?;
    for id in &planned.delete {
        let bound = match ma.bindings(&api.spec.service_id, id).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(Error::cloud(e)),
        };
        let app_ids: Vec<&str> = bound.iter().map(|a| a.app_id.as_str()).collect();
        if !app_ids.is_empty() {
            let results = ma
                .unbind(&api.spec.service_id, id, &app_ids)
                .await
                .map_err(Error::cloud)?;
            for done in results.iter().filter(|r| r.success) {
                let app_id = Some(done.app_id.as_str());
                audit::api(api, Mutation::Unbind, id, app_id);
            }
        }
        match ma.delete_api(&api.spec.service_id, id).await {
            Ok(()) => audit::api(api, Mutation::Delete, id, None),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(Error::cloud(e)),
        }
        let note = format!("unbound {} app(s) and deleted API {id}", app_ids.len());
        ctx.normal(api, "Deleted", "Delete", note).await;
    }
    Ok(())
}
