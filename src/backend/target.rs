//! Where an app lives, and what its service can and cannot do. Pure: every service-specific
//! decision the controller needs is a question to the target, not a `match` on the service.

use crate::api::{DlmType, GatewayAppSpec};
use crate::cloud::Service;

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

/// Why a changed FromSecret source cannot reach the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRefusal {
    /// ROMA keeps an app's key for life; only the secret can change.
    KeyFixed,
    /// The service takes no client-chosen credentials (ModelArts, DataArts).
    Unsupported,
}

impl SourceRefusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::KeyFixed => {
                "spec.credentialsFrom: ROMA cannot change an app's key; only app_secret may change"
            }
            Self::Unsupported => "spec.credentials: FromSecret is only supported for apig and roma",
        }
    }
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

    /// Whether the spec sets something the service's answers do not show (ROMA's favorite):
    /// a diff cannot see it change, so a spec change must push it regardless.
    pub fn has_unread_settings(&self) -> bool {
        matches!(self, Target::Roma { .. })
    }

    /// Whether a changed FromSecret source (`key`, and a secret) can reach an app whose key is
    /// `current_key`; `None` when it can.
    pub fn refuse_source_change(
        &self,
        current_key: Option<&str>,
        key: &str,
    ) -> Option<SourceRefusal> {
        match self {
            Target::Apig { .. } => None,
            Target::Roma { .. } if current_key != Some(key) => Some(SourceRefusal::KeyFixed),
            Target::Roma { .. } => None,
            Target::ModelArts { .. } | Target::DataArts { .. } => Some(SourceRefusal::Unsupported),
        }
    }

    /// DataArts' `dlm-type` header value.
    pub(super) fn dlm(dlm_type: DlmType) -> &'static str {
        match dlm_type {
            DlmType::Shared => "SHARED",
            DlmType::Exclusive => "EXCLUSIVE",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> [Target; 4] {
        [
            Target::Apig {
                instance: "i".into(),
            },
            Target::ModelArts {
                workspace: "w".into(),
            },
            Target::DataArts {
                workspace: "w".into(),
                dlm_type: DlmType::Shared,
            },
            Target::Roma {
                instance: "i".into(),
                favorite: true,
            },
        ]
    }

    #[test]
    fn capabilities_per_service() {
        // (service, can_reset, names_unique, can_update, has_unread_settings)
        let table = [
            (Service::Apig, true, true, true, false),
            (Service::ModelArts, true, false, false, false),
            (Service::DataArts, false, false, true, false),
            (Service::Roma, true, true, true, true),
        ];
        for (target, (service, reset, unique, update, unread)) in all().iter().zip(table) {
            assert_eq!(target.service(), service);
            assert_eq!(target.can_reset(), reset, "{service} can_reset");
            assert_eq!(target.names_unique(), unique, "{service} names_unique");
            assert_eq!(target.can_update(), update, "{service} can_update");
            assert_eq!(target.has_unread_settings(), unread, "{service} unread");
        }
    }

    #[test]
    fn source_changes() {
        use SourceRefusal::*;
        let [apig, modelarts, dataarts, roma] = all();
        // (target, current key, new key, refusal)
        let table: [(&Target, Option<&str>, &str, Option<SourceRefusal>); 7] = [
            (&apig, Some("k1"), "k2", None),
            (&apig, None, "k2", None),
            (&roma, Some("k1"), "k1", None),
            (&roma, Some("k1"), "k2", Some(KeyFixed)),
            (&roma, None, "k2", Some(KeyFixed)),
            (&modelarts, Some("k1"), "k1", Some(Unsupported)),
            (&dataarts, Some("k1"), "k1", Some(Unsupported)),
        ];
        for (target, current, key, want) in table {
            assert_eq!(
                target.refuse_source_change(current, key),
                want,
                "{} {current:?} -> {key}",
                target.service()
            );
        }
    }

    #[test]
    fn instance_is_the_instance_or_workspace() {
        let [apig, modelarts, dataarts, roma] = all();
        assert_eq!(apig.instance(), "i");
        assert_eq!(modelarts.instance(), "w");
        assert_eq!(dataarts.instance(), "w");
        assert_eq!(roma.instance(), "i");
    }
}
