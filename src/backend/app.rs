//! The app, normalised across services: one conversion per service's answer, so a field a
//! service names differently (ModelArts' `app_remark`, DataArts' `description`) is mapped once.

use crate::cloud::SecretString;
use crate::cloud::apig::ApigApp;
use crate::cloud::dataarts::DataArtsApp;
use crate::cloud::modelarts::ModelArtsApp;
use crate::cloud::roma::RomaApp;
use crate::cloud::secret::is_masked;

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

/// A masked secret is as good as none: it must be read again, never delivered.
pub(super) fn unmasked(secret: Option<SecretString>) -> Option<SecretString> {
    secret.filter(|s| !is_masked(s))
}

impl From<ApigApp> for CloudApp {
    fn from(a: ApigApp) -> Self {
        Self {
            id: a.id,
            name: a.name,
            remark: a.remark,
            key: a.app_key,
            secret: unmasked(a.app_secret),
        }
    }
}

impl From<ModelArtsApp> for CloudApp {
    fn from(a: ModelArtsApp) -> Self {
        Self {
            id: a.app_id,
            name: a.app_name,
            remark: a.app_remark,
            key: a.app_key,
            secret: unmasked(a.app_secret),
        }
    }
}

impl From<DataArtsApp> for CloudApp {
    fn from(a: DataArtsApp) -> Self {
        Self {
            id: a.id,
            name: a.name,
            remark: a.description,
            key: a.app_key,
            secret: unmasked(a.app_secret),
        }
    }
}

/// ROMA's app object never carries the secret (it has an endpoint of its own).
impl From<RomaApp> for CloudApp {
    fn from(a: RomaApp) -> Self {
        Self {
            id: a.id,
            name: a.name,
            remark: a.remark,
            key: a.key,
            secret: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::ExposeSecret;
    use serde_json::json;

    fn secret_of(app: CloudApp) -> Option<String> {
        app.secret.map(|s| s.expose_secret().to_string())
    }

    #[test]
    fn each_service_maps_its_own_field_names() {
        let cases: [(CloudApp, &str); 4] = [
            (
                serde_json::from_value::<ApigApp>(
                    json!({"id": "a", "name": "n", "remark": "r", "app_key": "k"}),
                )
                .expect("apig")
                .into(),
                "apig",
            ),
            (
                serde_json::from_value::<ModelArtsApp>(
                    json!({"app_id": "a", "app_name": "n", "app_remark": "r", "app_key": "k"}),
                )
                .expect("modelarts")
                .into(),
                "modelarts",
            ),
            (
                serde_json::from_value::<DataArtsApp>(
                    json!({"id": "a", "name": "n", "description": "r", "app_key": "k"}),
                )
                .expect("dataarts")
                .into(),
                "dataarts",
            ),
            (
                serde_json::from_value::<RomaApp>(
                    json!({"id": "a", "name": "n", "remark": "r", "key": "k"}),
                )
                .expect("roma")
                .into(),
                "roma",
            ),
        ];
        for (app, service) in cases {
            assert_eq!(
                (
                    app.id.as_str(),
                    app.name.as_str(),
                    app.remark.as_deref(),
                    app.key.as_deref()
                ),
                ("a", "n", Some("r"), Some("k")),
                "{service}"
            );
        }
    }

    #[test]
    fn masked_secrets_are_dropped() {
        // (secret in the answer, secret kept)
        let table = [
            (Some("plain-secret"), Some("plain-secret")),
            (Some("pl****et"), None),
            (None, None),
        ];
        for (given, want) in table {
            let apig: ApigApp =
                serde_json::from_value(json!({"id": "a", "name": "n", "app_secret": given}))
                    .expect("apig");
            let ma: ModelArtsApp = serde_json::from_value(
                json!({"app_id": "a", "app_name": "n", "app_secret": given}),
            )
            .expect("modelarts");
            let da: DataArtsApp =
                serde_json::from_value(json!({"id": "a", "name": "n", "app_secret": given}))
                    .expect("dataarts");
            assert_eq!(secret_of(apig.into()).as_deref(), want, "apig {given:?}");
            assert_eq!(secret_of(ma.into()).as_deref(), want, "modelarts {given:?}");
            assert_eq!(secret_of(da.into()).as_deref(), want, "dataarts {given:?}");
        }
    }
}
