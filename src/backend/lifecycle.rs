//! An app's life on its service: create, find, show, update, delete. Each method is one or two
//! cloud calls; the service's answer becomes a `CloudApp` through its one conversion.

use super::app::CloudApp;
use super::credentials::ChosenCredentials;
use super::target::Target;
use crate::cloud::apig::AppInput;
use crate::cloud::roma::RomaInput;
use crate::cloud::{CloudClient, CloudError};

/// Converts every app of a list answer.
fn all<T: Into<CloudApp>>(apps: Vec<T>) -> Vec<CloudApp> {
    apps.into_iter().map(Into::into).collect()
}

impl Target {
    pub async fn create(
        &self,
        client: &CloudClient,
        name: &str,
        remark: &str,
        chosen: Option<ChosenCredentials<'_>>,
    ) -> Result<CloudApp, CloudError> {
        Ok(match self {
            Target::Apig { instance } => {
                let input = AppInput {
                    name,
                    remark: Some(remark),
                    app_key: chosen.as_ref().map(|c| c.key),
                    app_secret: chosen.as_ref().map(|c| c.secret),
                };
                client.apig(instance).create(&input).await?.into()
            }
            Target::ModelArts { workspace } => client
                .modelarts(workspace)
                .create_app(name, Some(remark))
                .await?
                .into(),
            Target::DataArts {
                workspace,
                dlm_type,
            } => client
                .dataarts(workspace, Self::dlm(*dlm_type))
                .create(name, Some(remark))
                .await?
                .into(),
            Target::Roma { instance, favorite } => {
                let input = RomaInput {
                    name,
                    remark: Some(remark),
                    key: chosen.as_ref().map(|c| c.key),
                    secret: chosen.as_ref().map(|c| c.secret),
                    favorite: Some(*favorite),
                };
                let created = client.roma(instance).create(&input).await?;
                // ROMA's create never returns the secret: the chosen one, or read it later.
                CloudApp {
                    secret: chosen.map(|c| c.secret.clone()),
                    ..created.into()
                }
            }
        })
    }

    /// A second, different read of an app another call said is gone: ROMA's lookup by id, or
    /// the list by name elsewhere.
    pub async fn still_exists(
        &self,
        client: &CloudClient,
        id: &str,
        name: &str,
    ) -> Result<bool, CloudError> {
        match self {
            Target::Roma { instance, .. } => {
                Ok(client.roma(instance).find_by_id(id).await?.is_some())
            }
            _ => Ok(self
                .find_by_name(client, name)
                .await?
                .iter()
                .any(|a| a.id == id)),
        }
    }

    /// Every app named exactly `name` (remarks included, to check fingerprints).
    pub async fn find_by_name(
        &self,
        client: &CloudClient,
        name: &str,
    ) -> Result<Vec<CloudApp>, CloudError> {
        Ok(match self {
            Target::Apig { instance } => all(client.apig(instance).find_by_name(name).await?),
            Target::ModelArts { workspace } => all(client
                .modelarts(workspace)
                .find_apps_by_name(name, false)
                .await?),
            Target::DataArts {
                workspace,
                dlm_type,
            } => all(client
                .dataarts(workspace, Self::dlm(*dlm_type))
                .find_by_name(name)
                .await?),
            Target::Roma { instance, .. } => {
                // validate-apps is exact but carries no key; show the match for it.
                match client.roma(instance).find_by_name(name).await? {
                    Some(brief) => vec![self.show(client, &brief.id).await?],
                    None => Vec::new(),
                }
            }
        })
    }

    /// The app by id, with its secret where the answer carries one unmasked.
    pub async fn show(&self, client: &CloudClient, id: &str) -> Result<CloudApp, CloudError> {
        Ok(match self {
            Target::Apig { instance } => client.apig(instance).show(id).await?.into(),
            Target::ModelArts { workspace } => {
                client.modelarts(workspace).show_app(id, true).await?.into()
            }
            Target::DataArts {
                workspace,
                dlm_type,
            } => client
                .dataarts(workspace, Self::dlm(*dlm_type))
                .show(id)
                .await?
                .into(),
            Target::Roma { instance, .. } => client.roma(instance).show(id).await?.into(),
        })
    }

    /// Pushes a new description (fingerprint included). ModelArts has no update.
    pub async fn update_remark(
        &self,
        client: &CloudClient,
        app: &CloudApp,
        remark: &str,
    ) -> Result<(), CloudError> {
        match self {
            Target::Apig { instance } => {
                client
                    .apig(instance)
                    .update(
                        &app.id,
                        &AppInput {
                            name: &app.name,
                            remark: Some(remark),
                            ..Default::default()
                        },
                    )
                    .await?;
            }
            Target::DataArts {
                workspace,
                dlm_type,
            } => {
                client
                    .dataarts(workspace, Self::dlm(*dlm_type))
                    .update(&app.id, &app.name, Some(remark))
                    .await?;
            }
            Target::Roma { instance, favorite } => {
                client
                    .roma(instance)
                    .update(&app.id, &app.name, Some(remark), Some(*favorite))
                    .await?;
            }
            Target::ModelArts { .. } => {}
        }
        Ok(())
    }

    /// Removes what would block deleting the app: ModelArts refuses to delete an app that is
    /// authorized to APIs. Hands each API it was removed from to `released` as soon as the
    /// cloud confirms it, so one that took effect is reported even when a later one fails;
    /// nothing elsewhere, and when the app is already gone.
    pub async fn release_bindings(
        &self,
        client: &CloudClient,
        id: &str,
        mut released: impl FnMut(Released),
    ) -> Result<(), CloudError> {
        let Target::ModelArts { workspace } = self else {
            return Ok(());
        };
        let ma = client.modelarts(workspace);
        let apis = match ma.app_apis(id).await {
            Ok(a) => a,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        for api in apis {
            let service = api.service_id.unwrap_or_default();
            let results = ma.unbind(&service, &api.api_id, &[id]).await?;
            if results.iter().any(|r| r.success && r.app_id == id) {
                released(Released {
                    name: api.api_name.unwrap_or_else(|| api.api_id.clone()),
                    api_id: api.api_id,
                });
            }
        }
        Ok(())
    }

    /// Deletes the app; "already gone" is success, and said apart.
    pub async fn delete(&self, client: &CloudClient, id: &str) -> Result<Deleted, CloudError> {
        let result = match self {
            Target::Apig { instance } => client.apig(instance).delete(id).await,
            Target::ModelArts { workspace } => client.modelarts(workspace).delete_app(id).await,
            Target::DataArts {
                workspace,
                dlm_type,
            } => {
                client
                    .dataarts(workspace, Self::dlm(*dlm_type))
                    .delete(id)
                    .await
            }
            Target::Roma { instance, .. } => client.roma(instance).delete(id).await,
        };
        match result {
            Ok(()) => Ok(Deleted::Now),
            Err(e) if e.is_not_found() => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }
}

/// An API an app's authorization was removed from, before the app's deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released {
    pub api_id: String,
    /// Its name, for people (its id when it has none).
    pub name: String,
}

/// What a delete found: the app was deleted now, or someone had deleted it before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    Now,
    AlreadyGone,
}
