//! Secret rotation by annotation or interval.

use super::*;

/// Why a rotation is due: a new rotate-annotation token, or the interval elapsing (the how
/// many-th interval since the last rotation or creation).
#[derive(Debug, Clone, Default)]
pub(super) struct RotationCause {
    token: Option<String>,
    period: Option<i64>,
}

pub(super) fn rotation_due(app: &GatewayApp, now: chrono::DateTime<Utc>) -> Option<RotationCause> {
    let last = status(app).rotation.unwrap_or_default();
    if let Some(token) = app.annotations().get(annotations::ROTATE)
        && last.last_token.as_ref() != Some(token)
    {
        return Some(RotationCause {
            token: Some(token.clone()),
            period: None,
        });
    }
    let (since, interval) = interval_since(app, None)?;
    let elapsed = now - since;
    (elapsed >= interval).then(|| RotationCause {
        token: None,
        period: Some(elapsed.num_seconds() / interval.num_seconds().max(1)),
    })
}

/// When the interval next elapses: from the last rotation, or from creation.
pub(super) fn next_rotation(
    app: &GatewayApp,
    just_rotated: Option<&RotationStatus>,
) -> Option<chrono::DateTime<Utc>> {
    let (since, interval) = interval_since(app, just_rotated)?;
    Some(since + interval)
}

/// The rotation interval and the time it counts from.
fn interval_since(
    app: &GatewayApp,
    just_rotated: Option<&RotationStatus>,
) -> Option<(chrono::DateTime<Utc>, chrono::Duration)> {
    let interval = humantime::parse_duration(&app.spec.rotation.as_ref()?.interval).ok()?;
    let last = just_rotated
        .cloned()
        .or_else(|| status(app).rotation.map(|r| *r))
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
    Some((since, chrono::Duration::from_std(interval).ok()?))
}

/// A service without a reset: one Warning Event per rotate token, or per elapsed interval.
pub(super) async fn warn_rotation_unsupported(
    app: &GatewayApp,
    ctx: &Context,
    target: &Target,
    cause: &RotationCause,
) {
    let which = match (&cause.token, cause.period) {
        (Some(token), _) => format!("token:{token}"),
        (None, Some(period)) => format!("interval:{period}"),
        (None, None) => "interval".to_string(),
    };
    let first = ctx.memory.with(&app.uid().unwrap_or_default(), |m| {
        m.rare_mut(|r| {
            let first = r.rotation_warned.as_deref() != Some(which.as_str());
            r.rotation_warned = Some(which);
            first
        })
    });
    if first {
        let note = format!(
            "{} has no secret reset; the secret was not rotated",
            target.service()
        );
        ctx.warning(app, "RotationUnsupported", "Rotate", note)
            .await;
    }
}

/// Annotation on the credentials Secret: the rotation attempt whose new secret it holds.
pub(super) const ROTATION_ATTEMPT: &str = "appauth.hwcloud.dev/rotation-attempt";

/// What a rotation that was begun (annotation `rotating` set) still needs, from the secret the
/// cloud has now, the one the Secret holds, and whether the Secret was written for this attempt.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Resume {
    /// The cloud's secret is still the delivered one: the reset never took effect.
    Reset,
    /// The cloud has a new secret the Secret does not hold yet.
    Deliver,
    /// The Secret already holds the new secret: only the record is missing.
    Record,
}

pub(super) fn resume_step(
    cloud: &str,
    delivered: Option<&str>,
    written_for_attempt: bool,
) -> Resume {
    match delivered {
        Some(d) if d != cloud => Resume::Deliver,
        Some(_) if written_for_attempt => Resume::Record,
        // Same secret, or nothing to compare with: a new secret is still owed.
        _ => Resume::Reset,
    }
}

/// A refused or failed reset: the credentials delivered before still work. Rejected
/// credentials of the operator's own account are reported as such.
fn rotation_failed(e: crate::cloud::CloudError) -> Error {
    if e.category() == ErrorCategory::Unauthorized {
        return Error::cloud(e);
    }
    Error::Failed {
        reason: Reason::RotationFailed,
        message: format!("the secret reset failed and is retried: {e}"),
        retry_after: e.retry_after(),
        on_change_only: false,
    }
}

/// Resets the secret, writes the Secret, and only then records the rotation. The attempt is
/// named in annotation `rotating` before the reset is sent; a later pass that finds it reads
/// the cloud's secret back and compares it with the Secret before doing anything, so a reset
/// that was refused, never sent or of unknown outcome is neither recorded nor repeated blindly.
pub(super) async fn rotate(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    app_id: &str,
    existing: Option<&Secret>,
    cause: RotationCause,
) -> Result<Delivered> {
    use crate::cloud::ExposeSecret;
    let cloud = match target.show(client, app_id).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => {
            return recreate_if_gone(app, ctx, client, target, app_id, e).await;
        }
        Err(e) => return Err(Error::cloud(e)),
    };
    let unreadable = || {
        Error::failed(
            Reason::CloudUnavailable,
            "the rotated secret cannot be read back",
        )
    };
    let begun = app.annotations().get(annotations::ROTATING).cloned();
    let attempt = begun.clone().unwrap_or_else(|| {
        let cause = cause.token.as_deref().unwrap_or("interval");
        format!("{cause}@{}", Utc::now().timestamp())
    });
    let mut new_secret = None;
    if begun.is_some() {
        let now = target
            .read_secret(client, &cloud)
            .await
            .map_err(Error::cloud)?
            .ok_or_else(unreadable)?;
        let delivered = existing.and_then(|s| secret_step::read_credentials(app, s));
        let written_for_attempt =
            existing.is_some_and(|s| s.annotations().get(ROTATION_ATTEMPT) == Some(&attempt));
        match resume_step(
            now.expose_secret(),
            delivered.as_ref().map(|(_, v)| v.expose_secret()),
            written_for_attempt,
        ) {
            Resume::Deliver => {
                audit::app(app, Mutation::RecoverReset, target, app_id);
                new_secret = Some(now);
            }
            Resume::Record => {
                let secret_name = secret_step::secret_name(app);
                return Ok(record(app, ctx, app_id, cloud.name, secret_name).await);
            }
            Resume::Reset => {}
        }
    } else {
        let mut begin = serde_json::Map::new();
        begin.insert(annotations::ROTATING.into(), json!(attempt));
        driver::annotate(app, ctx, begin).await?;
    }
    let secret = match new_secret {
        Some(s) => s,
        None => {
            crate::failpoint("before-reset");
            let chosen = (app.spec.credentials == CredentialsMode::Generated)
                .then(|| SecretString::from(format!("s{}", random_token(39))));
            let reset = match target.reset_secret(client, &cloud, chosen.as_ref()).await {
                Ok(reset) => reset,
                Err(e) if e.is_not_found() => {
                    return recreate_if_gone(app, ctx, client, target, app_id, e).await;
                }
                Err(e) => return Err(rotation_failed(e)),
            };
            audit::app(app, Mutation::Reset, target, app_id);
            crate::failpoint("after-reset");
            match reset.or(chosen) {
                Some(s) => s,
                None => target
                    .read_secret(client, &cloud)
                    .await
                    .map_err(Error::cloud)?
                    .ok_or_else(unreadable)?,
            }
        }
    };
    let written = deliver_credentials(
        app,
        ctx,
        client,
        target,
        &cloud,
        secret,
        SecretWrite {
            read_before: None,
            rotation_attempt: Some(&attempt),
        },
    )
    .await?;
    Ok(record(app, ctx, app_id, cloud.name, written).await)
}

/// The rotation is done (the cloud's secret changed and the Secret holds it): say so, and hand
/// the record to the status write.
async fn record(
    app: &GatewayApp,
    ctx: &Context,
    app_id: &str,
    app_name: String,
    secret_name: String,
) -> Delivered {
    let token = app
        .annotations()
        .get(annotations::ROTATE)
        .cloned()
        .or(status(app).rotation.and_then(|r| r.last_token));
    let note = format!(
        "the secret of app {app_id} was rotated; consumers must reload Secret {secret_name}"
    );
    ctx.normal(app, "Rotated", "Rotate", note).await;
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Delivered {
        app_id: app_id.to_string(),
        app_name,
        secret_name,
        rotated: Some(RotationStatus {
            last_token: token,
            last_time: Some(now),
        }),
    }
}

#[cfg(test)]
mod tests;
