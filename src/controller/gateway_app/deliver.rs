//! Delivering an app's credentials into its Secret: the client-chosen ones (Generated, staged
//! in the Secret before the create; FromSecret, from the source Secret), the cloud's answer, or
//! the secret read back (reset only where nothing can be read).

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

/// Credentials the operator chooses rather than the cloud.
pub(super) struct Chosen {
    pub key: String,
    pub secret: SecretString,
    /// FromSecret: the version (hashed) of the source Secret they were read from.
    pub source: Option<u64>,
}

/// Client-chosen credentials for Generated (kept in the target Secret before the create) and
/// FromSecret (from the source Secret).
pub(super) async fn chosen_credentials(app: &GatewayApp, ctx: &Context) -> Result<Option<Chosen>> {
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
            let version = super::known_secret::version_hash(&source);
            let data = source.data.unwrap_or_default();
            let read = |k: &str| {
                data.get(k)
                    .and_then(|v| String::from_utf8(v.0.clone()).ok())
            };
            match (read("app_key"), read("app_secret")) {
                (Some(key), Some(s)) => Ok(Some(Chosen {
                    key,
                    secret: SecretString::from(s),
                    source: version,
                })),
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
                && let Some((key, secret)) = secret_step::read_credentials(app, &existing)
            {
                return Ok(Some(Chosen {
                    key,
                    secret,
                    source: None,
                }));
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
            Ok(Some(Chosen {
                key: creds.0,
                secret: creds.1,
                source: None,
            }))
        }
    }
}

/// How a Secret write goes about it.
#[derive(Default)]
pub(super) struct SecretWrite<'a> {
    /// The Secret as this reconcile saw it earlier (its metadata at least; saves a read). If
    /// it was absent then, the write only creates: a Secret someone else made meanwhile, or
    /// one the cache of our own Secrets cannot see, is found by the write failing, then read.
    pub read_before: Option<Option<Secret>>,
    /// Marks the Secret as holding this rotation attempt's new secret.
    pub rotation_attempt: Option<&'a str>,
}

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
        let (code, made) = target
            .ensure_app_code(client, cloud)
            .await
            .map_err(Error::cloud)?;
        if made {
            audit::record(
                app,
                Mutation::Create,
                target.service(),
                "appcode",
                &cloud.id,
                None,
            );
        }
        code
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
    let secret = match known_secret {
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
    ctx.mark_read(&app.uid().unwrap_or_default());
    crate::failpoint("before-status");
    Ok(Delivered {
        app_id: cloud.id,
        app_name: cloud.name,
        secret_name,
        rotated: None,
    })
}

/// The secret of an existing app: the one in the cloud's answer, else read back (show, ROMA's
/// secret endpoint, ModelArts' plaintext flag); where nothing can be read, reset it and say so.
pub(super) async fn obtain_secret(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
    target: &Target,
    cloud: &CloudApp,
) -> Result<SecretString> {
    if let Some(s) = cloud.secret.clone() {
        return Ok(s);
    }
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
    audit::app(app, Mutation::Reset, target, &cloud.id);
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
    ctx.warning(
        app,
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
    let ns = app.namespace().unwrap_or_default();
    let mut desired = secret_step::desired(app, creds).map_err(template_failed)?;
    crate::controller::shard::label(
        desired.metadata.labels.get_or_insert_default(),
        app.labels(),
        &ctx.settings.shard_keys(),
    );
    if let Some(attempt) = how.rotation_attempt {
        desired
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(ROTATION_ATTEMPT.to_string(), attempt.to_string());
    }
    let existing = match how.read_before {
        Some(None) => match apply_noted(ctx, &ns, &desired, SecretApply::CreateOnly).await {
            Ok(_) => {
                remember_delivered(app, ctx, creds);
                return Ok(name);
            }
            Err(kube::Error::Api(e)) if e.code == 409 => get_secret(app, ctx, &name).await?,
            Err(e) => return Err(e.into()),
        },
        Some(existing) => existing,
        None => get_secret(app, ctx, &name).await?,
    };
    let staged_by_us = existing
        .as_ref()
        .is_some_and(|s| s.annotations().get(annotations::OWNER_UID) == app.uid().as_ref());
    if !staged_by_us
        && secret_step::classify(app, existing.as_ref(), &creds.app_id) == Existing::Foreign
    {
        return Err(secret_conflict(&name));
    }
    // At the version found to be ours: a Secret changed since (someone else's made under this
    // name while the cache lagged) fails, and the next pass reads it.
    let how = match existing
        .as_ref()
        .and_then(|s| s.metadata.resource_version.as_deref())
    {
        Some(version) => SecretApply::ForceAt(version),
        None => SecretApply::CreateOnly,
    };
    apply_noted(ctx, &ns, &desired, how).await?;
    remember_delivered(app, ctx, creds);
    Ok(name)
}

/// Applies the credentials Secret, noted as written just before: the watch may show the new
/// Secret (or a quick delete of it) before the write returns, and that event must end the
/// trust, not precede it. A failed write ends it too.
async fn apply_noted(
    ctx: &Context,
    ns: &str,
    desired: &Secret,
    how: SecretApply<'_>,
) -> Result<Secret, kube::Error> {
    let recent = &ctx.app_secrets.recent;
    let name = desired.metadata.name.as_deref().unwrap_or_default();
    recent.wrote(ns, name, std::time::Instant::now());
    let result = ctx.apply_secret(ns, desired, how).await;
    if result.is_err() {
        recent.seen(ns, name);
    }
    result
}

/// What the Secret now holds, for the drift checks that do not read it.
fn remember_delivered(app: &GatewayApp, ctx: &Context, creds: &secret_step::Credentials) {
    let key = super::known_secret::key_hash(&creds.app_key);
    ctx.memory.with(&app.uid().unwrap_or_default(), |m| {
        m.set_delivered_key(key);
        m.rare_mut(|r| r.secret_conflict = false);
    });
}

/// A template that renders with placeholders but not with the real values: as invalid as one
/// that fails the check. The message names the key and the error kind, never a value.
pub(super) fn template_failed(e: crate::controller::secret_template::TemplateError) -> Error {
    Error::failed(Reason::InvalidSpec, e.to_string())
}

pub(super) fn secret_conflict(secret_name: &str) -> Error {
    Error::failed(
        Reason::SecretConflict,
        format!("Secret {secret_name} exists and is not managed by this GatewayApp"),
    )
}
