//! Who holds an app: the claims index (objects of this cluster that name its id) and the
//! fingerprint in its description (which object, of which cluster, made or adopted it). One
//! cloud app per object, and no object takes an app another object or cluster holds.

use super::*;

/// This object's claim, and the app id it claims (status, or the mirrored annotation).
pub(crate) fn claim_of(app: &GatewayApp) -> (crate::controller::claims::Claim, Option<&str>) {
    let id = known_app_id_ref(app);
    let bound = id.is_some() && bound_app_id(app) == id;
    (crate::controller::claims::Claim::of(app, bound), id)
}

/// A cached GatewayApp without the pending marker once it has done its job: the status binds
/// the app and the marker names this very object. Nothing reads it then (a restore brings the
/// object back from a backup, not from this cache), and it is a quarter of a cached object.
pub(crate) fn trim_cached(app: &mut GatewayApp) {
    let uid = app.metadata.uid.clone().unwrap_or_default();
    let done = bound_app_id(app).is_some()
        && marker_of(app).is_some_and(|m| m.object.is_some() && m.written_on_other(&uid).is_none());
    if done && let Some(annots) = app.metadata.annotations.as_mut() {
        annots.remove(annotations::PENDING);
    }
}

/// The app id status records: the operator bound this object to it (after the checks). An id
/// only in the annotation is a request, checked before it is used.
pub(super) fn bound_app_id(app: &GatewayApp) -> Option<&str> {
    app.status
        .as_ref()
        .and_then(|s| s.app_id.as_deref())
        .filter(|s| !s.is_empty())
}

/// Who else holds a cloud app this object found (by name, or by the id annotation): another
/// live object of this cluster whose status binds it, the object its fingerprint names (while
/// that object exists), or another cluster. `None`: it is this object's, or nobody's (made by
/// hand, or its object is gone), so it may be adopted where adoption is permitted. Asked only
/// once the GatewayApp cache has listed every object (before that, absence proves nothing).
pub(super) fn held_elsewhere(
    app: &GatewayApp,
    ctx: &Context,
    cloud: &CloudApp,
) -> Result<Option<String>> {
    let uid = app.uid().unwrap_or_default();
    // Objects that only name the id in an annotation hold nothing: their contest is settled
    // by `check_claims`.
    if let Some(other) = ctx
        .claims
        .others(&uid, &cloud.id)
        .into_iter()
        .find(|c| c.bound)
        .filter(|_| ctx.claims.listed())
    {
        return Ok(Some(other.object.into()));
    }
    fingerprinted_elsewhere(app, ctx, cloud.remark.as_deref())
}

/// Another cluster, or another live object of this one, that an app's fingerprint names.
pub(super) fn fingerprinted_elsewhere(
    app: &GatewayApp,
    ctx: &Context,
    remark: Option<&str>,
) -> Result<Option<String>> {
    let store = ctx
        .gateway_apps
        .get()
        .filter(|_| ctx.claims.listed())
        .ok_or(Error::Requeue(Duration::from_secs(1)))?;
    let holder = ctx
        .fingerprint(&app.uid().unwrap_or_default())
        .holder(remark);
    Ok(crate::controller::claims::held_by_fingerprint(
        holder, store,
    ))
}

/// An id the annotation names and status does not bind yet (a restore, a copy, a hand-written
/// id): taken only when no other object or cluster holds the app. Adoption was permitted before
/// any cloud call (the annotation asks for it); the fingerprint becomes this object's where the
/// service can update. A gone app is left to the drift path, which creates a new one.
pub(super) async fn take_over(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
) -> Result<()> {
    let cloud = match target.show(client, app_id).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(Error::cloud(e)),
    };
    if let Some(holder) = held_elsewhere(app, ctx, &cloud)? {
        return Err(Error::failed(
            Reason::AlreadyManaged,
            format!(
                "app {app_id} (annotation {}) is already managed by {holder}",
                annotations::APP_ID
            ),
        ));
    }
    let me = ctx.fingerprint(&app.uid().unwrap_or_default());
    if me.is_mine(cloud.remark.as_deref()) {
        return Ok(());
    }
    reserve(app, ctx, app_id)?;
    if target.can_update() {
        let remark = me.remark(app.spec.description.as_deref());
        target
            .update_remark(client, &cloud, &remark)
            .await
            .map_err(Error::cloud)?;
    }
    audit::app(app, Mutation::Adopt, target, app_id);
    let note = format!(
        "took over app {app_id} named by annotation {}",
        annotations::APP_ID
    );
    ctx.normal(app, "Adopted", "Adopt", note).await;
    Ok(())
}

/// Reserves an app this object is about to take over (adoption, a restore): refused when
/// another object is taking it over already.
pub(super) fn reserve(app: &GatewayApp, ctx: &Context, app_id: &str) -> Result<()> {
    let (me, _) = claim_of(app);
    ctx.claims.take(app_id, &me).map_err(|other| {
        Error::failed(
            Reason::AlreadyManaged,
            format!("app {app_id} is being taken over by {other}"),
        )
    })
}

/// When other objects claim the same app id: the rightful owner (the object the app's
/// fingerprint names, else one that status binds, else the oldest) keeps it; the others are
/// refused. One cloud read, only when there is a contest.
pub(super) async fn check_claims(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
) -> Result<()> {
    let (me, _) = claim_of(app);
    let mut contest = ctx.claims.others(&app.uid().unwrap_or_default(), app_id);
    if contest.is_empty() {
        return Ok(());
    }
    let remark = match target.show(client, app_id).await {
        Ok(cloud) => cloud.remark,
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(Error::cloud(e)),
    };
    contest.push(me.clone());
    let owner = crate::controller::claims::owner(&contest, |uid| {
        ctx.fingerprint(uid).is_mine(remark.as_deref())
    });
    match owner {
        Some(owner) if owner.uid != me.uid => Err(Error::failed(
            Reason::AlreadyManaged,
            format!("app {app_id} is already managed by {}", owner.object),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_drops_a_marker_only_once_it_has_done_its_job() {
        let app = |bound: bool, marker_object: Option<&str>| -> GatewayApp {
            let mut marker = json!({"name": "n", "time": "2026-12-04T14:02:51Z", "instance": "i"});
            if let Some(o) = marker_object {
                marker["object"] = json!(o);
            }
            serde_json::from_value(json!({
                "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
                "metadata": {"name": "a", "uid": "me", "annotations": {
                    annotations::PENDING: marker.to_string(), "team": "x"}},
                "spec": {"apig": {"instanceId": "gw1"}},
                "status": if bound { json!({"appId": "id1"}) } else { json!({}) },
            }))
            .expect("GatewayApp")
        };
        let cases = [
            (
                "bound, written on this object",
                app(true, Some("me")),
                false,
            ),
            ("not bound yet", app(false, Some("me")), true),
            (
                "bound, a restore's marker not moved yet",
                app(true, Some("gone")),
                true,
            ),
            ("bound, a marker of the older format", app(true, None), true),
        ];
        for (name, mut app, kept) in cases {
            trim_cached(&mut app);
            assert_eq!(
                app.annotations().contains_key(annotations::PENDING),
                kept,
                "{name}"
            );
            assert!(
                app.annotations().contains_key("team"),
                "{name}: the rest kept"
            );
        }
    }
}
