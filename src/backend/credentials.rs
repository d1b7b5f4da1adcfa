//! An app's credentials on its service: reading the secret back, resets, AppCodes, and pushing
//! client-chosen credentials (FromSecret). Secrets stay in `SecretString` throughout.

use super::app::{CloudApp, unmasked};
use super::target::Target;
use crate::cloud::apig::AppInput;
use crate::cloud::{CloudClient, CloudError, SecretString};

/// Client-chosen credentials for Generated and FromSecret.
pub struct ChosenCredentials<'a> {
    pub key: &'a str,
    pub secret: &'a SecretString,
}

impl Target {
    /// The current secret: from `show`, or ROMA's secret endpoint. `None` when unreadable.
    pub async fn read_secret(
        &self,
        client: &CloudClient,
        app: &CloudApp,
    ) -> Result<Option<SecretString>, CloudError> {
        if app.secret.is_some() {
            return Ok(app.secret.clone());
        }
        match self {
            Target::Roma { instance, .. } => Ok(unmasked(Some(
                client.roma(instance).get_secret(&app.id).await?,
            ))),
            _ => Ok(unmasked(self.show(client, &app.id).await?.secret)),
        }
    }

    /// Resets the secret (to `chosen`, or a value the cloud picks). Returns the new secret when
    /// the answer carries it unmasked. DataArts cannot reset (callers check `can_reset`).
    pub async fn reset_secret(
        &self,
        client: &CloudClient,
        app: &CloudApp,
        chosen: Option<&SecretString>,
    ) -> Result<Option<SecretString>, CloudError> {
        match self {
            Target::Apig { instance } => Ok(unmasked(
                client
                    .apig(instance)
                    .reset_secret(&app.id, chosen)
                    .await?
                    .app_secret,
            )),
            Target::ModelArts { workspace } => {
                let a = client
                    .modelarts(workspace)
                    .reset_secret(&app.id, &app.name, app.remark.as_deref())
                    .await?;
                Ok(unmasked(a.app_secret))
            }
            Target::Roma { instance, .. } => Ok(unmasked(Some(
                client.roma(instance).reset_secret(&app.id, chosen).await?,
            ))),
            Target::DataArts { .. } => Ok(None),
        }
    }

    /// Pushes a changed FromSecret source to `app`: APIG updates key and secret (with the
    /// remark), ROMA resets the secret to the value. Callers ask `refuse_source_change` first;
    /// where it refuses, this does nothing.
    pub async fn push_source(
        &self,
        client: &CloudClient,
        app: &CloudApp,
        remark: &str,
        key: &str,
        secret: &SecretString,
    ) -> Result<(), CloudError> {
        if self.refuse_source_change(app.key.as_deref(), key).is_some() {
            return Ok(());
        }
        match self {
            Target::Apig { instance } => {
                let input = AppInput {
                    name: &app.name,
                    remark: Some(remark),
                    app_key: Some(key),
                    app_secret: Some(secret),
                };
                client.apig(instance).update(&app.id, &input).await?;
            }
            Target::Roma { .. } => {
                self.reset_secret(client, app, Some(secret)).await?;
            }
            Target::ModelArts { .. } | Target::DataArts { .. } => {}
        }
        Ok(())
    }

    /// An AppCode for the app (apig, modelarts): an existing one, or a new one (then `true`).
    pub async fn ensure_app_code(
        &self,
        client: &CloudClient,
        app: &CloudApp,
    ) -> Result<(Option<SecretString>, bool), CloudError> {
        match self {
            Target::Apig { instance } => {
                let apig = client.apig(instance);
                if let Some(code) = apig.list_app_codes(&app.id).await?.into_iter().next() {
                    return Ok((Some(code.app_code), false));
                }
                Ok((Some(apig.generate_app_code(&app.id).await?.app_code), true))
            }
            Target::ModelArts { workspace } => {
                let ma = client.modelarts(workspace);
                let shown = ma.show_app(&app.id, true).await?;
                if let Some(code) = shown.app_codes.into_iter().next() {
                    return Ok((Some(code), false));
                }
                let added = ma
                    .add_app_code(&app.id, &app.name, app.remark.as_deref())
                    .await?;
                Ok((added.app_codes.into_iter().next(), true))
            }
            _ => Ok((None, false)),
        }
    }
}
