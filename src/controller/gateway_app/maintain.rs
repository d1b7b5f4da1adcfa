//! An app that exists: claims, drift, Secret delivery, FromSecret changes.

use super::*;

/// An app that exists: check claims, drift (at most once per resync period), and deliver.
pub(super) async fn maintain(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
) -> Result<Delivered> {
    let uid = app.uid().unwrap_or_default();
    if bound_app_id(app) != Some(app_id) {
        take_over(app, ctx, client, target, app_id).await?;
    }
    check_claims(app, ctx, client, target, app_id).await?;
    // Only once the app is known to be this object's: a refused copy must not get to delete it.
    driver::ensure_finalizer(app, ctx).await?;
    let name = secret_step::secret_name(app);
    // A spec change (description, ROMA's favorite) reaches the cloud in the reconcile it
    // triggers, not at the next drift read.
    // Not status.observedGeneration: failures and pause advance that without pushing anything.
    let pushed = ctx.memory.get(&uid, |m| m.pushed()).flatten();
    let spec_changed = app.metadata.generation.is_none() || pushed != app.metadata.generation;
    let read_due = spec_changed || ctx.read_due(&uid);
    let app_name = cloud_name(app, ctx);
    let remark = ctx
        .fingerprint(&uid)
        .remark(app.spec.description.as_deref());
    let resuming_rotation = app.annotations().contains_key(annotations::ROTATING);
    let rotation = rotation_due(app, Utc::now());
    // The Secret is read only when its values matter or the cache shows a version this
    // process does not know (someone else's write, or a restart).
    let cached_known = known_secret::version_known(
        known_secret::cached(app, ctx, &name)
            .map(|cached| cached.map(|meta| !ctx.changed_by_others(meta.as_ref()))),
        ctx.app_secrets.recent.unseen_write(
            &app.namespace().unwrap_or_default(),
            &name,
            std::time::Instant::now(),
        ),
    );
    // FromSecret: the source and the delivered Secret compared again only when either has
    // changed since they were last found equal.
    let from_secret = app.spec.credentials == CredentialsMode::FromSecret;
    let source_version = known_secret::source_version(app, ctx);
    let source_unchanged = from_secret
        && cached_known
        && source_version.is_some()
        && source_version == ctx.memory.get(&uid, |m| m.rare().source_compared).flatten();
    let needs_values = spec_changed
        || resuming_rotation
        || rotation.is_some()
        || (from_secret && !source_unchanged);
    let delivered_key = ctx.memory.get(&uid, |m| m.delivered_key()).flatten();
    let (existing, state, secret_key) =
        match known_secret::secret_need(cached_known, delivered_key, needs_values) {
            known_secret::SecretNeed::Known { key } => (None, Existing::UpToDate, Some(key)),
            known_secret::SecretNeed::Read => {
                let existing = get_secret(app, ctx, &name).await?;
                // Against the shard's keys too: a Secret written before the objects were split
                // (or relabelled by hand) is written again, so that this deployment's Secret
                // watch sees it.
                let state = secret_step::classify_in_shard(
                    app,
                    existing.as_ref(),
                    app_id,
                    &ctx.settings.shard_keys(),
                );
                let key = existing
                    .as_ref()
                    .and_then(|s| secret_step::read_credentials(app, s))
                    .map(|(k, _)| known_secret::key_hash(&k));
                (existing, state, key)
            }
        };
    if state == Existing::Foreign {
        return Err(secret_conflict(&name));
    }
    match rotation_step(resuming_rotation, rotation.is_some(), target.can_reset()) {
        RotationStep::Rotate => {
            let cause = rotation.unwrap_or_default();
            return rotate(app, ctx, client, target, app_id, existing.as_ref(), cause).await;
        }
        RotationStep::Unsupported => {
            warn_rotation_unsupported(app, ctx, target, &rotation.unwrap_or_default()).await;
        }
        RotationStep::None => {}
    }
    if from_secret && !source_unchanged {
        if let Some((key, value)) = from_secret_changed(app, ctx, existing.as_ref()).await? {
            return push_source(app, ctx, client, target, app_id, &key, &value).await;
        }
        // The version seen before the read: a change since then is read next time.
        ctx.memory
            .with(&uid, |m| m.rare_mut(|r| r.source_compared = source_version));
    }
    let unchanged = |app_name: String| Delivered {
        app_id: app_id.to_string(),
        app_name,
        secret_name: name.clone(),
        rotated: None,
    };
    if !needs_read(&state, read_due) {
        cleanup_old_secret(app, ctx, &name).await?;
        return Ok(unchanged(app_name));
    }
    // Drift from the listing of the app's instance: an app exactly as delivered needs no read
    // of its own. Anything else (not listed, another remark or key) is read by id below.
    if !spec_changed
        && state == Existing::UpToDate
        && let Some(key) = secret_key
        && listed_as_delivered(ctx, client, target, app_id, &remark, key).await
    {
        ctx.mark_read(&uid);
        if let Some(secret) = &existing {
            known_secret::checked_version(ctx, secret);
        }
        cleanup_old_secret(app, ctx, &name).await?;
        return Ok(unchanged(app_name));
    }

    let cloud = match target.show(client, app_id).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => {
            return recreate_if_gone(app, ctx, client, target, app_id, e).await;
        }
        Err(e) => return Err(Error::cloud(e)),
    };
    ctx.mark_read(&uid);
    // Taken over since (another cluster, or a restore of another object while this one lives):
    // stop rather than fight over its description and deliver what is no longer ours.
    if let Some(holder) = fingerprinted_elsewhere(app, ctx, cloud.remark.as_deref())? {
        return Err(Error::failed(
            Reason::AlreadyManaged,
            format!("app {app_id} is now managed by {holder}"),
        ));
    }
    let want_description = app.spec.description.clone().unwrap_or_default();
    // Settings the cloud does not answer with (ROMA's favorite): pushed with the remark on a
    // spec change.
    let favorite_may_differ = spec_changed && target.has_unread_settings();
    let action = remark_action(
        cloud.remark.as_deref(),
        &want_description,
        &ctx.fingerprint(&uid),
        favorite_may_differ,
        target.can_update(),
    );
    match action {
        RemarkAction::Keep => {}
        RemarkAction::Update => {
            target
                .update_remark(client, &cloud, &remark)
                .await
                .map_err(Error::cloud)?;
            audit::app(app, Mutation::Update, target, &cloud.id);
        }
        RemarkAction::Unsupported => {
            ctx.normal(
                app,
                "UpdateUnsupported",
                "Update",
                format!("{} cannot update an app's description", target.service()),
            )
            .await;
        }
    }
    if let Some(generation) = app.metadata.generation {
        ctx.memory.with(&uid, |m| m.set_pushed(Some(generation)));
    }
    let secret_key_matches =
        secret_key.is_some() && secret_key == cloud.key.as_deref().map(known_secret::key_hash);
    if state == Existing::UpToDate && secret_key_matches {
        if let Some(secret) = &existing {
            known_secret::checked_version(ctx, secret);
        }
        if let Some(key) = secret_key {
            ctx.memory.with(&uid, |m| m.set_delivered_key(key));
        }
        cleanup_old_secret(app, ctx, &name).await?;
        return Ok(Delivered {
            app_id: app_id.to_string(),
            app_name: cloud.name,
            secret_name: name,
            rotated: None,
        });
    }
    // Credentials intact and still the cloud's, only what is rendered or set around them stale
    // (a template or label edit): written again from the Secret's own values. Reading them from
    // the cloud instead would reset the secret where the cloud shows it masked.
    let intact = existing
        .as_ref()
        .and_then(|s| secret_step::intact_credentials(app, s, app_id))
        .filter(|(key, _)| cloud.key.as_deref() == Some(key.as_str()));
    // Missing, edited or stale: deliver again from the cloud.
    let secret = match intact {
        Some((_, value)) => value,
        None => obtain_secret(app, ctx, client, target, &cloud).await?,
    };
    let written = deliver_credentials(
        app,
        ctx,
        client,
        target,
        &cloud,
        secret,
        SecretWrite::default(),
    )
    .await?;
    cleanup_old_secret(app, ctx, &written).await?;
    Ok(Delivered {
        app_id: app_id.to_string(),
        app_name: cloud.name,
        secret_name: written,
        rotated: None,
    })
}

/// Whether the listing of the app's instance shows it exactly as delivered (see
/// `inventory::as_delivered`). Listings are shared for half a resync period; without one (it
/// failed, or reading by id is cheaper there) the app is read by id.
async fn listed_as_delivered(
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
    remark: &str,
    key: u64,
) -> bool {
    use crate::controller::inventory::{Lookup, as_delivered};
    let listing = format!("{}|{}", client.account_key(), target.listing_key());
    let found = ctx
        .inventory
        .lookup(
            &listing,
            app_id,
            ctx.settings.resync / 2,
            target.listing_page(),
            || target.list_all(client, crate::controller::inventory::listed),
        )
        .await;
    matches!(found, Lookup::Listed(Some(l)) if as_delivered(&l, remark, key))
}

/// After a rename of spec.secret.name: the new Secret is written, so delete the old one if ours.
pub(super) async fn cleanup_old_secret(
    app: &GatewayApp,
    ctx: &Context,
    current: &str,
) -> Result<()> {
    let Some(old) = status(app).secret_name.filter(|n| n != current) else {
        return Ok(());
    };
    if let Some(s) = get_secret(app, ctx, &old).await?
        && s.annotations().get(annotations::OWNER_UID) == app.uid().as_ref()
    {
        ctx.delete_secret(&app.namespace().unwrap_or_default(), &old)
            .await?;
    }
    Ok(())
}

/// With FromSecret: the source's key and secret when they differ from what was delivered.
pub(super) async fn from_secret_changed(
    app: &GatewayApp,
    ctx: &Context,
    delivered: Option<&Secret>,
) -> Result<Option<(String, SecretString)>> {
    use crate::cloud::ExposeSecret;
    if app.spec.credentials != CredentialsMode::FromSecret {
        return Ok(None);
    }
    let Some(Chosen {
        key, secret: value, ..
    }) = chosen_credentials(app, ctx).await?
    else {
        return Ok(None);
    };
    let current = delivered.and_then(|s| secret_step::read_credentials(app, s));
    let same = current.is_some_and(|(k, v)| k == key && v.expose_secret() == value.expose_secret());
    Ok((!same).then_some((key, value)))
}

/// Pushes a changed FromSecret source to the cloud (APIG update, ROMA reset with the value).
pub(super) async fn push_source(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
    key: &str,
    value: &SecretString,
) -> Result<Delivered> {
    let cloud = match target.show(client, app_id).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => {
            return recreate_if_gone(app, ctx, client, target, app_id, e).await;
        }
        Err(e) => return Err(Error::cloud(e)),
    };
    let uid = app.uid().unwrap_or_default();
    let remark = ctx
        .fingerprint(&uid)
        .remark(app.spec.description.as_deref());
    if let Some(refusal) = target.refuse_source_change(cloud.key.as_deref(), key) {
        return Err(Error::failed(Reason::InvalidSpec, refusal.message()));
    }
    target
        .push_source(client, &cloud, &remark, key, value)
        .await
        .map_err(Error::cloud)?;
    audit::app(app, Mutation::Update, target, &cloud.id);
    let creds = secret_step::Credentials {
        app_id: app_id.to_string(),
        app_key: key.to_string(),
        app_secret: value.clone(),
        app_code: None,
    };
    let written = write_secret(app, ctx, &creds, SecretWrite::default()).await?;
    let source = app
        .spec
        .credentials_from
        .as_ref()
        .map(|r| r.name.clone())
        .unwrap_or_default();
    let note = format!("pushed the changed credentials from Secret {source} to app {app_id}");
    ctx.normal(app, "CredentialsUpdated", "Update", note).await;
    Ok(Delivered {
        app_id: app_id.to_string(),
        app_name: cloud.name,
        secret_name: written,
        rotated: None,
    })
}

/// What a due or begun rotation does on this pass.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RotationStep {
    Rotate,
    /// The service cannot reset a secret: say so, and go on maintaining.
    Unsupported,
    None,
}

/// Pure: a begun rotation resumes, a due one starts, where the service can reset.
pub(super) fn rotation_step(begun: bool, due: bool, can_reset: bool) -> RotationStep {
    match (begun || due, can_reset) {
        (false, _) => RotationStep::None,
        (true, true) => RotationStep::Rotate,
        (true, false) => RotationStep::Unsupported,
    }
}

/// Pure: whether this pass reads the app from the cloud: when the Secret is not as delivered,
/// or the drift check (or a spec change) is due. Otherwise nothing is asked of the cloud.
pub(super) fn needs_read(secret: &Existing, read_due: bool) -> bool {
    *secret != Existing::UpToDate || read_due
}

/// What to do about the app's remark (description and fingerprint) after a read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RemarkAction {
    Keep,
    Update,
    /// It differs, but the service cannot update an app: say so.
    Unsupported,
}

/// Pure: the remark is pushed when its description differs from the spec's, its fingerprint is
/// missing, or fields the cloud does not answer with (`unanswered_may_differ`) were changed. A
/// fingerprint of the older format (no cluster) is brought to the current one where the service
/// can update, and otherwise left alone: it is still recognised.
pub(super) fn remark_action(
    cloud_remark: Option<&str>,
    want_description: &str,
    me: &naming::Fingerprint,
    unanswered_may_differ: bool,
    can_update: bool,
) -> RemarkAction {
    let holder = me.holder(cloud_remark);
    let differs = naming::strip_fingerprint(cloud_remark.unwrap_or_default()) != want_description
        || !matches!(holder, naming::Holder::Me { .. })
        || unanswered_may_differ;
    let outdated = holder == (naming::Holder::Me { current: false });
    match (differs, outdated, can_update) {
        (false, false, _) | (false, true, false) => RemarkAction::Keep,
        (_, _, true) => RemarkAction::Update,
        (true, _, false) => RemarkAction::Unsupported,
    }
}

#[cfg(test)]
mod tests;
