//! One interface over the four app services, so the controller's steps do not care which
//! service an app lives on. Each method is one or two cloud calls; no Kubernetes here.

use crate::api::{DlmType, GatewayAppSpec};
use crate::cloud::apig::AppInput;
use crate::cloud::roma::RomaInput;
use crate::cloud::secret::is_masked;
use crate::cloud::{CloudClient, CloudError, SecretString, Service};

/// Where an app lives, from the spec's service block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Apig {
        instance: String,
    },
    ModelArts {
        workspace: String,
    },
    DataArts {
        workspace: String,
        dlm_type: DlmType,
    },
    Roma {
        instance: String,
        favorite: bool,
    },
}

impl Target {
    /// The target of a spec; `None` when no service block is set (admission prevents that).
    pub fn from_spec(spec: &GatewayAppSpec) -> Option<Target> {
        if let Some(a) = &spec.apig {
            return Some(Target::Apig {
                instance: a.instance_id.clone(),
            });
        }
        if let Some(m) = &spec.modelarts {
            return Some(Target::ModelArts {
                workspace: m.workspace_id.clone(),
            });
        }
        if let Some(d) = &spec.dataarts {
            return Some(Target::DataArts {
                workspace: d.workspace_id.clone(),
                dlm_type: d.dlm_type,
            });
        }
        spec.roma.as_ref().map(|r| Target::Roma {
            instance: r.instance_id.clone(),
            favorite: r.favorite,
        })
    }

    pub fn service(&self) -> Service {
        match self {
            Target::Apig { .. } => Service::Apig,
            Target::ModelArts { .. } => Service::ModelArts,
            Target::DataArts { .. } => Service::DataArts,
            Target::Roma { .. } => Service::Roma,
        }
    }

    /// The instance (apig, roma) or workspace (modelarts, dataarts) recorded in status.
    pub fn instance(&self) -> &str {
        match self {
            Target::Apig { instance } | Target::Roma { instance, .. } => instance,
            Target::ModelArts { workspace } | Target::DataArts { workspace, .. } => workspace,
        }
    }

    /// Whether the service can reset a secret.
    pub fn can_reset(&self) -> bool {
        !matches!(self, Target::DataArts { .. })
    }

    /// Whether the service refuses a second app with a taken name (APIG, ROMA). ModelArts and
    /// DataArts accept it, so a create there must look for the name first.
    pub fn names_unique(&self) -> bool {
        matches!(self, Target::Apig { .. } | Target::Roma { .. })
    }

    /// Whether the service can change a description.
    pub fn can_update(&self) -> bool {
        !matches!(self, Target::ModelArts { .. })
    }

    fn dlm(dlm_type: DlmType) -> &'static str {
        match dlm_type {
            DlmType::Shared => "SHARED",
            DlmType::Exclusive => "EXCLUSIVE",
        }
    }
}

/// An app, normalised across services. `secret` is `None` when the answer carried none or a
/// masked one.
#[derive(Debug, Clone)]
pub struct CloudApp {
    pub id: String,
    pub name: String,
    pub remark: Option<String>,
    pub key: Option<String>,
    pub secret: Option<SecretString>,
}

fn unmasked(secret: Option<SecretString>) -> Option<SecretString> {
    secret.filter(|s| !is_masked(s))
}

/// Client-chosen credentials for Generated and FromSecret.
pub struct ChosenCredentials<'a> {
    pub key: &'a str,
    pub secret: &'a SecretString,
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
                let a = client.apig(instance).create(&input).await?;
                CloudApp {
                    id: a.id,
                    name: a.name,
                    remark: a.remark,
                    key: a.app_key,
                    secret: unmasked(a.app_secret),
                }
            }
            Target::ModelArts { workspace } => {
                let a = client
                    .modelarts(workspace)
                    .create_app(name, Some(remark))
                    .await?;
                CloudApp {
                    id: a.app_id,
                    name: a.app_name,
                    remark: a.app_remark,
                    key: a.app_key,
                    secret: unmasked(a.app_secret),
                }
            }
            Target::DataArts {
                workspace,
                dlm_type,
            } => {
                let a = client
                    .dataarts(workspace, Self::dlm(*dlm_type))
                    .create(name, Some(remark))
                    .await?;
                CloudApp {
                    id: a.id,
                    name: a.name,
                    remark: a.description,
                    key: a.app_key,
                    secret: unmasked(a.app_secret),
                }
            }
            Target::Roma { instance, favorite } => {
                let input = RomaInput {
                    name,
                    remark: Some(remark),
                    key: chosen.as_ref().map(|c| c.key),
                    secret: chosen.as_ref().map(|c| c.secret),
                    favorite: Some(*favorite),
                };
                let a = client.roma(instance).create(&input).await?;
                // ROMA's create never returns the secret: the chosen one, or read it later.
                CloudApp {
                    id: a.id,
                    name: a.name,
                    remark: a.remark,
                    key: a.key,
                    secret: chosen.map(|c| c.secret.clone()),
                }
            }
        })
    }

    /// Every app named exactly `name` (remarks included, to check fingerprints).
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

    pub async fn find_by_name(
        &self,
        client: &CloudClient,
        name: &str,
    ) -> Result<Vec<CloudApp>, CloudError> {
        Ok(match self {
            Target::Apig { instance } => client
                .apig(instance)
                .find_by_name(name)
                .await?
                .into_iter()
                .map(|a| CloudApp {
                    id: a.id,
                    name: a.name,
                    remark: a.remark,
                    key: a.app_key,
                    secret: unmasked(a.app_secret),
                })
                .collect(),
            Target::ModelArts { workspace } => client
                .modelarts(workspace)
                .find_apps_by_name(name, false)
                .await?
                .into_iter()
                .map(|a| CloudApp {
                    id: a.app_id,
                    name: a.app_name,
                    remark: a.app_remark,
                    key: a.app_key,
                    secret: unmasked(a.app_secret),
                })
                .collect(),
            Target::DataArts {
                workspace,
                dlm_type,
            } => client
                .dataarts(workspace, Self::dlm(*dlm_type))
                .find_by_name(name)
                .await?
                .into_iter()
                .map(|a| CloudApp {
                    id: a.id,
                    name: a.name,
                    remark: a.description,
                    key: a.app_key,
                    secret: unmasked(a.app_secret),
                })
                .collect(),
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
            Target::Apig { instance } => {
                let a = client.apig(instance).show(id).await?;
                CloudApp {
                    id: a.id,
                    name: a.name,
                    remark: a.remark,
                    key: a.app_key,
                    secret: unmasked(a.app_secret),
                }
            }
            Target::ModelArts { workspace } => {
                let a = client.modelarts(workspace).show_app(id, true).await?;
                CloudApp {
                    id: a.app_id,
                    name: a.app_name,
                    remark: a.app_remark,
                    key: a.app_key,
                    secret: unmasked(a.app_secret),
                }
            }
            Target::DataArts {
                workspace,
                dlm_type,
            } => {
                let a = client
                    .dataarts(workspace, Self::dlm(*dlm_type))
                    .show(id)
                    .await?;
                CloudApp {
                    id: a.id,
                    name: a.name,
                    remark: a.description,
                    key: a.app_key,
                    secret: unmasked(a.app_secret),
                }
            }
            Target::Roma { instance, .. } => {
                let a = client.roma(instance).show(id).await?;
                CloudApp {
                    id: a.id,
                    name: a.name,
                    remark: a.remark,
                    key: a.key,
                    secret: None,
                }
            }
        })
    }

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

    /// Deletes the app; "already gone" is success.
    pub async fn delete(&self, client: &CloudClient, id: &str) -> Result<(), CloudError> {
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
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
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

    /// An AppCode for the app (apig, modelarts): an existing one, or a new one.
    pub async fn ensure_app_code(
        &self,
        client: &CloudClient,
        app: &CloudApp,
    ) -> Result<Option<SecretString>, CloudError> {
        match self {
            Target::Apig { instance } => {
                let apig = client.apig(instance);
                if let Some(code) = apig.list_app_codes(&app.id).await?.into_iter().next() {
                    return Ok(Some(code.app_code));
                }
                Ok(Some(apig.generate_app_code(&app.id).await?.app_code))
            }
            Target::ModelArts { workspace } => {
                let ma = client.modelarts(workspace);
                let shown = ma.show_app(&app.id, true).await?;
                if let Some(code) = shown.app_codes.into_iter().next() {
                    return Ok(Some(code));
                }
                Ok(ma
                    .add_app_code(&app.id, &app.name, app.remark.as_deref())
                    .await?
                    .app_codes
                    .into_iter()
                    .next())
            }
            _ => Ok(None),
        }
    }
}
