//! Who holds an app id when several objects claim it: one cloud app per object.

use super::*;

/// This object's claim, and the app id it claims (status, or the mirrored annotation).
pub(crate) fn claim_of(app: &GatewayApp) -> (crate::controller::claims::Claim, Option<&str>) {
    let claim = crate::controller::claims::Claim {
        uid: app.uid().unwrap_or_default(),
        object: format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any()),
        created: app
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.as_second()),
        deleting: app.metadata.deletion_timestamp.is_some(),
    };
    (claim, known_app_id_ref(app))
}

/// Another object that claims `app_id` (from the claims index), if any.
pub(super) fn claimed_by_other(app: &GatewayApp, ctx: &Context, app_id: &str) -> Option<String> {
    ctx.claims
        .others(&app.uid().unwrap_or_default(), app_id)
        .into_iter()
        .next()
        .map(|c| c.object)
}

/// When other objects claim the same app id: the rightful owner (the object the app's
/// fingerprint names, else the oldest) keeps it; the others are refused. One cloud read, only
/// when there is a contest.
pub(super) async fn check_claims(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
) -> Result<()> {
    let (me, _) = claim_of(app);
    let mut contest = ctx.claims.others(&me.uid, app_id);
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
        naming::has_fingerprint(remark.as_deref(), uid)
    });
    match owner {
        Some(owner) if owner.uid != me.uid => Err(Error::failed(
            Reason::AlreadyManaged,
            format!("app {app_id} is already managed by {}", owner.object),
        )),
        _ => Ok(()),
    }
}
