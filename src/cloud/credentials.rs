//! Account credentials: AK/SK (optionally temporary, with a security token), an IAM user's
//! password exchanged for a token, or a source of temporary credentials (no long-lived key).

use super::federation::Source;
use super::secret::SecretString;

#[derive(Clone, Debug)]
pub enum Credentials {
    AkSk {
        access_key: String,
        secret_key: SecretString,
        security_token: Option<SecretString>,
    },
    Password {
        domain: String,
        user: String,
        password: SecretString,
    },
    /// Temporary AK/SK and security token from `source`, renewed before they expire.
    Temporary { source: Source },
}

/// Where a request goes and as whom: one account, project and region.
#[derive(Clone, Debug)]
pub struct Account {
    pub region: String,
    /// Empty until looked up, for temporary credentials given no project id.
    pub project_id: String,
    pub credentials: Credentials,
}

impl Account {
    /// A stable identity for caches and comparisons that carries no secret: the access key or
    /// the IAM user.
    pub fn principal(&self) -> String {
        match &self.credentials {
            Credentials::AkSk { access_key, .. } => format!("ak:{access_key}"),
            Credentials::Password { domain, user, .. } => format!("user:{domain}/{user}"),
            Credentials::Temporary { source } => format!("temporary:{}", source.describe()),
        }
    }
}
