//! Creating an app, or finding the one an earlier attempt created (SPEC §3.4), and delivering
//! its credentials.

use super::*;

pub(super) fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Client-chosen credentials for Generated (kept in the target Secret before the create) and
/// FromSecret (from the source Secret).
pub(super) async fn chosen_credentials(
    app: &GatewayApp,
    ctx: &Context,
) -> Result<Option<(String, SecretString)>> {
    match app.spec.credentials {
        CredentialsMode::CloudGenerated => Ok(None),
        CredentialsMode::FromSecret => {
            let name = app
                .spec
                .credentials_from
                .as_ref()
                .map(|r| r.name.clone())
                .unwrap_or_default();
            let source = get_secret(app, ctx, &name).await?.ok_or_else(|| {
                Error::failed(
                    Reason::InvalidSpec,
                    format!("spec.credentialsFrom: Secret {name} not found"),
                )
            })?;
            let data = source.data.unwrap_or_default();
            let read = |k: &str| {
                data.get(k)
                    .and_then(|v| String::from_utf8(v.0.clone()).ok())
            };
            match (read("app_key"), read("app_secret")) {
                (Some(k), Some(s)) => Ok(Some((k, SecretString::from(s)))),
                _ => Err(Error::failed(
                    Reason::InvalidSpec,
                    format!(
                        "spec.credentialsFrom: Secret {name} needs keys app_key and app_secret"
                    ),
                )),
            }
        }
        CredentialsMode::Generated => {
            // Reuse what an earlier attempt stored, so a retried create sends the same values.
            let name = secret_step::secret_name(app);
            if let Some(existing) = get_secret(app, ctx, &name).await?
                && existing.annotations().get(annotations::OWNER_UID) == app.uid().as_ref()
                && let Some(found) = secret_step::read_credentials(app, &existing)
            {
                return Ok(Some(found));
            }
            let creds = (
                format!("k{}", random_token(31)),
                SecretString::from(format!("s{}", random_token(39))),
            );
            let staged = secret_step::Credentials {
                app_id: String::new(),
                app_key: creds.0.clone(),
                app_secret: creds.1.clone(),
                app_code: None,
            };
            write_secret(app, ctx, &staged, SecretWrite::default()).await?;
            Ok(Some(creds))
        }
    }
}

pub(super) async fn create_or_recover(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
) -> Result<Delivered> {
    let uid = app.uid().unwrap_or_default();
    let mut name = cloud_name(app, ctx);
    let remark = naming::remark_with_fingerprint(app.spec.description.as_deref(), &uid);
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
            .any(|a| naming::has_fingerprint(a.remark.as_deref(), &uid))
        {
            waits::marker_settled(ctx, &uid, &marker, "app", Reason::Creating)?;
            ctx.unresolved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uid);
            let current = api(app, ctx).get(&app.name_any()).await?;
            marker = write_marker(&current, ctx, &wanted).await?;
            name = wanted;
        }
    }

    // Never create an app whose credentials could not be delivered.
    let secret_name = secret_step::secret_name(app);
    let existing = get_secret(app, ctx, &secret_name).await?;
    let ours = existing
        .as_ref()
        .is_some_and(|s| s.annotations().get(annotations::OWNER_UID) == app.uid().as_ref());
    let secret_conflict = || {
        Error::failed(
            Reason::SecretConflict,
            format!("Secret {secret_name} exists and is not managed by this GatewayApp"),
        )
    };
    // A Secret retained for an app (an earlier object's deletionPolicy: Retain) is taken over
    // by an object that recovers or adopts that very app, and by no other.
    let retained_for = existing
        .as_ref()
        .filter(|_| !ours)
        .filter(|s| s.annotations().contains_key(annotations::OWNER_UID))
        .and_then(|s| s.annotations().get(annotations::APP_ID).cloned())
        .filter(|id| !id.is_empty());
    if !ours && existing.is_some() && retained_for.is_none() {
        return Err(secret_conflict());
    }
    let takes_secret = |id: &str| retained_for.as_deref().is_none_or(|r| r == id);

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
    let (mut ours, foreign): (Vec<CloudApp>, Vec<CloudApp>) = found
        .into_iter()
        .partition(|a| naming::has_fingerprint(a.remark.as_deref(), &uid));
    ours.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(first) = ours.first().cloned() {
        if !takes_secret(&first.id) {
            return Err(secret_conflict());
        }
        // Twins can only exist where names are not unique; keep one, delete the rest.
        for twin in ours.iter().skip(1) {
            target
                .delete(client, &twin.id)
                .await
                .map_err(Error::cloud)?;
            ctx.event(
                &app.object_ref(&()),
                EventType::Warning,
                "DuplicateRemoved",
                "Recover",
                format!("deleted duplicate cloud app {} named {name}", twin.id),
            )
            .await;
        }
        ctx.unresolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uid);
        ctx.event(
            &app.object_ref(&()),
            EventType::Normal,
            "Recovered",
            "Recover",
            format!("found app {} created by an earlier attempt", first.id),
        )
        .await;
        return deliver_new(app, ctx, client, target, first, None, None).await;
    }
    if let Some(other) = foreign.first() {
        let wants_adoption = app
            .annotations()
            .get(annotations::ADOPT)
            .is_some_and(|v| v == "true");
        if !(wants_adoption && ctx.settings.allow_adoption) {
            return Err(Error::failed(
                Reason::NameConflict,
                format!(
                    "a cloud app named {name} already exists ({}) and was not created for this object; set annotation {}: \"true\" to adopt it",
                    other.id,
                    annotations::ADOPT
                ),
            ));
        }
        if let Some(owner) = claimed_by_other(app, ctx, &other.id) {
            return Err(Error::failed(
                Reason::AlreadyManaged,
                format!("app {} is already managed by {owner}", other.id),
            ));
        }
        let adopted = other.clone();
        if !takes_secret(&adopted.id) {
            return Err(secret_conflict());
        }
        if target.can_update() {
            target
                .update_remark(client, &adopted, &remark)
                .await
                .map_err(Error::cloud)?;
        }
        ctx.event(
            &app.object_ref(&()),
            EventType::Normal,
            "Adopted",
            "Adopt",
            format!("adopted existing app {} named {name}", adopted.id),
        )
        .await;
        return deliver_new(app, ctx, client, target, adopted, None, None).await;
    }

    // Nothing found: create, unless a create of unknown outcome may still land.
    if retained_for.is_some() {
        return Err(secret_conflict());
    }
    let grace = ctx.settings.marker_grace;
    if let Some(at) = ctx
        .unresolved
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&uid)
        .copied()
    {
        let since = at.elapsed();
        if since < grace {
            return Err(waits::in_flight(
                grace - since,
                &format!("app {name}"),
                Reason::Creating,
            ));
        }
    }
    marker::may_create(&marker, &ctx.settings.instance, false, Utc::now(), grace).map_err(
        |after| waits::in_flight(after, &format!("app {}", marker.name), Reason::Creating),
    )?;
    let fresh_marker = marker.instance == ctx.settings.instance
        && (Utc::now() - marker.time).to_std().unwrap_or_default() < grace / 2;
    if !fresh_marker {
        // Re-stamp the marker: a crash during this create must make the next process wait.
        let current = api(app, ctx).get(&app.name_any()).await?;
        write_marker(&current, ctx, &name).await?;
    }
    let chosen = chosen_credentials(app, ctx).await?;
    ctx.unresolved
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(uid.clone(), Instant::now());
    crate::failpoint("before-create");
    let result = target
        .create(
            client,
            &name,
            &remark,
            chosen
                .as_ref()
                .map(|(k, s)| ChosenCredentials { key: k, secret: s }),
        )
        .await;
    match result {
        Ok(created) => {
            ctx.unresolved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uid);
            crate::failpoint("after-create");
            ctx.event(
                &app.object_ref(&()),
                EventType::Normal,
                "Created",
                "Create",
                format!(
                    "created {} app {} named {name}",
                    target.service(),
                    created.id
                ),
            )
            .await;
            // The Secret was read just before the create; a staged (Generated) one changed since.
            let read_before = chosen.is_none().then_some(existing);
            deliver_new(
                app,
                ctx,
                client,
                target,
                created,
                chosen.map(|c| c.1),
                read_before,
            )
            .await
        }
        Err(e) if e.outcome_unknown() => Err(waits::in_flight(
            Duration::from_millis(500),
            &format!("app {name}"),
            Reason::Creating,
        )),
        Err(e) => {
            ctx.unresolved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uid);
            if e.category() == ErrorCategory::AlreadyExists {
                // With a marker set, "already exists" means "look again", never a conflict.
                return Err(Error::Requeue(Duration::from_millis(200)));
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
                    secrets(app, ctx)
                        .delete(&name, &DeleteParams::default())
                        .await?;
                }
            }
            Err(failure)
        }
    }
}

/// How a Secret write goes about it.
#[derive(Default)]
pub(super) struct SecretWrite<'a> {
    /// The Secret as this reconcile read it earlier (saves a read); if it was absent then, the
    /// apply does not force, so a Secret someone else created meanwhile is not taken over.
    pub read_before: Option<Option<Secret>>,
    /// Marks the Secret as holding this rotation attempt's new secret.
    pub rotation_attempt: Option<&'a str>,
}

/// Steps (3) for a new or recovered app: credentials into the Secret.
/// The app's key, secret, id (and AppCode when asked for) into the Secret; returns its name.
pub(super) async fn deliver_credentials(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    cloud: &CloudApp,
    secret: SecretString,
    how: SecretWrite<'_>,
) -> Result<String> {
    let key = cloud.key.clone().ok_or_else(|| {
        Error::failed(
            Reason::CloudUnavailable,
            format!("app {} has no key in the cloud's answer", cloud.id),
        )
    })?;
    let app_code = if app.spec.app_code {
        target
            .ensure_app_code(client, cloud)
            .await
            .map_err(Error::cloud)?
    } else {
        None
    };
    let creds = secret_step::Credentials {
        app_id: cloud.id.clone(),
        app_key: key,
        app_secret: secret,
        app_code,
    };
    write_secret(app, ctx, &creds, how).await
}

pub(super) async fn deliver_new(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    cloud: CloudApp,
    known_secret: Option<SecretString>,
    read_before: Option<Option<Secret>>,
) -> Result<Delivered> {
    let secret = match known_secret.or_else(|| cloud.secret.clone()) {
        Some(s) => s,
        None => obtain_secret(app, ctx, client, target, &cloud).await?,
    };
    let secret_name = deliver_credentials(
        app,
        ctx,
        client,
        target,
        &cloud,
        secret,
        SecretWrite {
            read_before,
            rotation_attempt: None,
        },
    )
    .await?;
    crate::failpoint("after-secret");
    ctx.last_read.mark(&app.uid().unwrap_or_default());
    crate::failpoint("before-status");
    Ok(Delivered {
        app_id: cloud.id,
        app_name: cloud.name,
        secret_name,
        rotated: None,
    })
}

/// The secret of an existing app: read back (show, ROMA's secret endpoint, ModelArts' plaintext
/// flag); where nothing can be read, reset it and say so.
pub(super) async fn obtain_secret(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    cloud: &CloudApp,
) -> Result<SecretString> {
    if let Some(s) = target
        .read_secret(client, cloud)
        .await
        .map_err(Error::cloud)?
    {
        return Ok(s);
    }
    if !target.can_reset() {
        return Err(Error::failed(
            Reason::CloudUnavailable,
            format!("the secret of app {} cannot be read back", cloud.id),
        ));
    }
    let reset = target
        .reset_secret(client, cloud, None)
        .await
        .map_err(Error::cloud)?;
    let secret = match reset {
        Some(s) => s,
        None => target
            .read_secret(client, cloud)
            .await
            .map_err(Error::cloud)?
            .ok_or_else(|| {
                Error::failed(
                    Reason::CloudUnavailable,
                    "the reset secret could not be read",
                )
            })?,
    };
    ctx.event(
        &app.object_ref(&()),
        EventType::Warning,
        "SecretReset",
        "Deliver",
        format!(
            "the secret of app {} could not be read back, so it was reset",
            cloud.id
        ),
    )
    .await;
    Ok(secret)
}

/// Server-side applies the Secret, refusing to touch one that is not ours. Returns its name.
pub(super) async fn write_secret(
    app: &GatewayApp,
    ctx: &Context,
    creds: &secret_step::Credentials,
    how: SecretWrite<'_>,
) -> Result<String> {
    let name = secret_step::secret_name(app);
    let (existing, force) = match how.read_before {
        Some(existing) => {
            let force = existing.is_some();
            (existing, force)
        }
        None => (get_secret(app, ctx, &name).await?, true),
    };
    let staged_by_us = existing
        .as_ref()
        .is_some_and(|s| s.annotations().get(annotations::OWNER_UID) == app.uid().as_ref());
    if !staged_by_us
        && secret_step::classify(app, existing.as_ref(), &creds.app_id) == Existing::Foreign
    {
        return Err(Error::failed(
            Reason::SecretConflict,
            format!("Secret {name} exists and is not managed by this GatewayApp"),
        ));
    }
    let mut desired = secret_step::desired(app, creds);
    if let Some(attempt) = how.rotation_attempt {
        desired
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(ROTATION_ATTEMPT.to_string(), attempt.to_string());
    }
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = force;
    let written = secrets(app, ctx)
        .patch(&name, &params, &Patch::Apply(&desired))
        .await?;
    ctx.note_secret_written(&written);
    ctx.settled.secret_known(
        app.uid().as_deref().unwrap_or_default(),
        &name,
        echo::version_of(&written.metadata),
    );
    Ok(name)
}

/// The cloud said app `old_id` is gone (`e`). A not-found code the reference confirms is
/// believed; any other is checked with a second, different read first, and only an app that
/// read does not find either is created again.
pub(super) async fn recreate_if_gone(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    old_id: &str,
    e: crate::cloud::CloudError,
) -> Result<Delivered> {
    if !e.is_confirmed_not_found() {
        let name = cloud_name(app, ctx);
        if target
            .still_exists(client, old_id, &name)
            .await
            .map_err(Error::cloud)?
        {
            return Err(Error::failed(
                Reason::CloudUnavailable,
                format!(
                    "the cloud answered that app {old_id} is gone ({}), but a second read still finds it; nothing is recreated",
                    e.code().unwrap_or("no code")
                ),
            ));
        }
    }
    recreate(app, ctx, client, target, old_id).await
}

/// The app is confirmed gone: forget the id and create it again, in the full create order.
pub(super) async fn recreate(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    old_id: &str,
) -> Result<Delivered> {
    ctx.event(
        &app.object_ref(&()),
        EventType::Warning,
        "Recreating",
        "Drift",
        format!(
            "app {old_id} no longer exists in the cloud; creating it again with new credentials"
        ),
    )
    .await;
    let name = cloud_name(app, ctx);
    write_marker(app, ctx, &name).await?;
    let patch = json!({"metadata": {"annotations": {annotations::APP_ID: null}}});
    let updated = api(app, ctx)
        .patch(
            &app.name_any(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
    let mut fresh = updated.clone();
    // Status still holds the old id; the create path must not see it.
    fresh.status = Some(GatewayAppStatus {
        app_id: None,
        ..status(app)
    });
    create_or_recover(&fresh, ctx, client, target).await
}
