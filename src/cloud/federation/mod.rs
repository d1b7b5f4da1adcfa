//! Temporary credentials (AK/SK plus a security token) from a source that proves who the
//! operator or a tenant is, instead of a long-lived key: an OIDC ID token exchanged at IAM
//! (`exchange`), CCE Pod Identity, or the ECS instance metadata (`agents`). Cached and renewed
//! before expiry (`cache`).

mod agents;
mod cache;
mod exchange;
mod jwt;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use super::error::{CloudError, ErrorCategory};
use super::secret::SecretString;

pub use cache::TemporaryCredentials;

/// The longest renewal margin (the official SDKs renew 40 minutes before expiry).
const MAX_MARGIN: Duration = Duration::from_secs(40 * 60);

/// One set of temporary credentials.
#[derive(Clone)]
pub struct TemporaryKeys {
    pub access_key: String,
    pub secret_key: SecretString,
    pub security_token: SecretString,
    pub expires_at: DateTime<Utc>,
    /// When the operator received them: with `expires_at`, their lifetime.
    pub obtained_at: DateTime<Utc>,
}

/// Renew when less than a quarter of the lifetime remains, and at most 40 minutes before
/// expiry: a 15-minute credential lasts about 11 minutes, a 6-hour one 5 h 20 min.
pub fn needs_renewal(keys: &TemporaryKeys, now: DateTime<Utc>) -> bool {
    let lifetime = (keys.expires_at - keys.obtained_at)
        .to_std()
        .unwrap_or_default();
    let margin = (lifetime / 4).min(MAX_MARGIN);
    let margin = chrono::Duration::from_std(margin).unwrap_or_else(|_| chrono::Duration::zero());
    now + margin >= keys.expires_at
}

/// Where an OIDC ID token comes from: a file the kubelet keeps fresh, or a TokenRequest for a
/// tenant's ServiceAccount (implemented where the Kubernetes client lives).
pub trait IdTokenSource: Send + Sync + fmt::Debug {
    /// Names the source in errors and cache keys (never the token).
    fn describe(&self) -> String;
    /// A fresh ID token, read or requested at each call.
    fn token(&self) -> BoxFuture<'_, Result<SecretString, CloudError>>;
}

/// A token file, re-read at every exchange (the kubelet rotates projected tokens).
#[derive(Debug)]
pub struct TokenFile(pub PathBuf);

impl IdTokenSource for TokenFile {
    fn describe(&self) -> String {
        format!("token file {}", self.0.display())
    }

    fn token(&self) -> BoxFuture<'_, Result<SecretString, CloudError>> {
        Box::pin(async move {
            let text = tokio::fs::read_to_string(&self.0).await.map_err(|e| {
                refused(
                    &self.describe(),
                    ErrorCategory::Unauthorized,
                    format!("cannot read the token file: {e}"),
                )
            })?;
            let token = text.trim();
            if token.is_empty() {
                return Err(refused(
                    &self.describe(),
                    ErrorCategory::Unauthorized,
                    "the token file is empty".into(),
                ));
            }
            Ok(SecretString::from(token.to_string()))
        })
    }
}

/// What proves the identity that temporary credentials are issued to.
#[derive(Debug, Clone)]
pub enum Source {
    /// An OIDC ID token exchanged at IAM through an identity provider.
    IdToken {
        idp_id: String,
        token: Arc<dyn IdTokenSource>,
        /// `duration_seconds` asked for (IAM accepts 900 s to 24 h).
        duration: Duration,
    },
    /// CCE Pod Identity: the Pod's token posted to the agent's URI.
    PodIdentity { uri: String, token_file: PathBuf },
    /// The ECS metadata service's agency credentials (the node's identity).
    InstanceMetadata { url: String },
}

impl Source {
    /// Stable, secret-free name: the cache key of the credentials and the principal in logs.
    pub fn describe(&self) -> String {
        match self {
            Self::IdToken { idp_id, token, .. } => {
                format!("identity provider {idp_id} ({})", token.describe())
            }
            Self::PodIdentity { uri, .. } => format!("Pod Identity at {uri}"),
            Self::InstanceMetadata { url } => format!("instance metadata at {url}"),
        }
    }
}

/// The `sub` claim of an ID token (read, not verified).
pub fn subject(token: &str) -> Option<String> {
    jwt::claims(token)?.sub
}

/// A credential source failed: `category` says whether waiting can help.
pub(crate) fn refused(from: &str, category: ErrorCategory, detail: String) -> CloudError {
    CloudError::Credentials {
        from: from.to_string(),
        category,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(obtained: i64, expires: i64) -> TemporaryKeys {
        TemporaryKeys {
            access_key: "AK".into(),
            secret_key: SecretString::from("sk"),
            security_token: SecretString::from("token"),
            obtained_at: DateTime::from_timestamp(obtained, 0).expect("time"),
            expires_at: DateTime::from_timestamp(expires, 0).expect("time"),
        }
    }

    #[test]
    fn the_renewal_margin_follows_the_lifetime() {
        let at = |t: i64| DateTime::from_timestamp(t, 0).expect("time");
        let cases = [
            ("15 min, after 10 min", keys(0, 900), 600, false),
            ("15 min, 3 min left", keys(0, 900), 720, true),
            ("6 h, 1 h left", keys(0, 21_600), 18_000, false),
            ("6 h, 39 min left", keys(0, 21_600), 21_600 - 39 * 60, true),
            ("20 s, after 14 s", keys(0, 20), 14, false),
            ("20 s, after 16 s", keys(0, 20), 16, true),
            ("already expired", keys(0, 900), 1000, true),
            ("expiry before receipt", keys(100, 50), 100, true),
        ];
        for (name, k, now, renew) in cases {
            assert_eq!(needs_renewal(&k, at(now)), renew, "{name}");
        }
    }

    #[tokio::test]
    async fn a_token_file_is_read_at_each_call_and_errors_name_the_file_not_the_token() {
        let dir = std::env::temp_dir().join(format!("appauth-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("token");
        std::fs::write(&path, "first.jwt.value\n").expect("write");
        let source = TokenFile(path.clone());
        use secrecy::ExposeSecret;
        assert_eq!(
            source.token().await.expect("token").expose_secret(),
            "first.jwt.value"
        );
        std::fs::write(&path, "second.jwt.value").expect("write");
        assert_eq!(
            source.token().await.expect("token").expose_secret(),
            "second.jwt.value"
        );
        std::fs::write(&path, "  \n").expect("write");
        let e = source.token().await.expect_err("empty");
        assert_eq!(e.category(), ErrorCategory::Unauthorized);
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        std::fs::remove_file(&path).expect("rm");
        let e = source.token().await.expect_err("missing");
        assert!(e.to_string().contains("cannot read"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
