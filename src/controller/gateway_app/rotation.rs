//! Secret rotation by annotation or interval (SPEC §3.6).

use super::*;

/// Why a rotation is due: a new rotate-annotation token, or the interval elapsing.
#[derive(Debug, Clone, Default)]
pub(super) struct RotationCause {
    token: Option<String>,
}

pub(super) fn rotation_due(app: &GatewayApp, now: chrono::DateTime<Utc>) -> Option<RotationCause> {
    let last = status(app).rotation.unwrap_or_default();
    if let Some(token) = app.annotations().get(annotations::ROTATE)
        && last.last_token.as_ref() != Some(token)
    {
        return Some(RotationCause {
            token: Some(token.clone()),
        });
    }
    next_rotation(app, None)
        .filter(|at| *at <= now)
        .map(|_| RotationCause { token: None })
}

/// When the interval next elapses: from the last rotation, or from creation.
pub(super) fn next_rotation(
    app: &GatewayApp,
    just_rotated: Option<&RotationStatus>,
) -> Option<chrono::DateTime<Utc>> {
    let interval = humantime::parse_duration(&app.spec.rotation.as_ref()?.interval).ok()?;
    let last = just_rotated
        .cloned()
        .or_else(|| status(app).rotation)
        .and_then(|r| r.last_time);
    let since = last
        .and_then(|t| {
            chrono::DateTime::parse_from_rfc3339(&t)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
        .or_else(|| {
            app.metadata
                .creation_timestamp
                .as_ref()
                .and_then(|t| chrono::DateTime::from_timestamp(t.0.as_second(), 0))
        })?;
    Some(since + chrono::Duration::from_std(interval).ok()?)
}

pub(super) async fn warn_rotation_unsupported(app: &GatewayApp, ctx: &Context, target: &Target) {
    let token = app
        .annotations()
        .get(annotations::ROTATE)
        .cloned()
        .unwrap_or_default();
    let key = format!("rotation-warned:{}:{token}", app.uid().unwrap_or_default());
    let first = ctx.last_read.mark(&key);
    if first {
        let note = format!(
            "{} has no secret reset; the secret was not rotated",
            target.service()
        );
        ctx.event(
            &app.object_ref(&()),
            EventType::Warning,
            "RotationUnsupported",
            "Rotate",
            note,
        )
        .await;
    }
}

/// Resets the secret, writes the Secret, and only then records the rotation. A crash between
/// the reset and the Secret write leaves the rotating annotation: the next attempt reads the
/// secret back instead of resetting again.
pub(super) async fn rotate(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
    resuming: bool,
    cause: RotationCause,
) -> Result<Delivered> {
    let cloud = match target.show(client, app_id).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => return recreate(app, ctx, client, target, app_id).await,
        Err(e) => return Err(Error::cloud(e)),
    };
    let unreadable = || {
        Error::failed(
            Reason::CloudUnavailable,
            "the rotated secret cannot be read back",
        )
    };
    let secret = if resuming {
        target
            .read_secret(client, &cloud)
            .await
            .map_err(Error::cloud)?
            .ok_or_else(unreadable)?
    } else {
        let marker = cause.token.clone().unwrap_or_else(|| "interval".into());
        let patch = json!({"metadata": {"annotations": {annotations::ROTATING: marker}}});
        api(app, ctx)
            .patch(
                &app.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
        let chosen = (app.spec.credentials == CredentialsMode::Generated)
            .then(|| SecretString::from(format!("s{}", random_token(39))));
        let reset = target
            .reset_secret(client, &cloud, chosen.as_ref())
            .await
            .map_err(Error::cloud)?;
        crate::failpoint("after-reset");
        match reset.or(chosen) {
            Some(s) => s,
            None => target
                .read_secret(client, &cloud)
                .await
                .map_err(Error::cloud)?
                .ok_or_else(unreadable)?,
        }
    };
    let written = deliver_credentials(app, ctx, client, target, &cloud, secret, None).await?;
    let token = app
        .annotations()
        .get(annotations::ROTATE)
        .cloned()
        .or(status(app).rotation.and_then(|r| r.last_token));
    let note =
        format!("the secret of app {app_id} was rotated; consumers must reload Secret {written}");
    ctx.event(
        &app.object_ref(&()),
        EventType::Normal,
        "Rotated",
        "Rotate",
        note,
    )
    .await;
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(Delivered {
        app_id: app_id.to_string(),
        app_name: cloud.name,
        secret_name: written,
        rotated: Some(RotationStatus {
            last_token: token,
            last_time: Some(now),
        }),
    })
}
