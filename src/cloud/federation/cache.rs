//! One identity's temporary credentials, shared by every client that uses it: fetched on first
//! use, renewed before expiry (one renewal at a time under concurrency), dropped after a 401.

use chrono::Utc;
use tokio::sync::Mutex;

use super::{Source, TemporaryKeys, agents, exchange, needs_renewal};
use crate::cloud::error::CloudError;

pub struct TemporaryCredentials {
    source: Source,
    /// The IAM endpoint of the account's region (for ID-token exchanges).
    iam_url: String,
    current: Mutex<Option<TemporaryKeys>>,
}

impl std::fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("source", &self.source.describe())
            .finish_non_exhaustive()
    }
}

impl TemporaryCredentials {
    pub fn new(source: Source, iam_url: String) -> Self {
        Self {
            source,
            iam_url,
            current: Mutex::new(None),
        }
    }

    /// Valid credentials: the cached ones, or new ones when missing or within the renewal
    /// margin. Concurrent callers wait for one renewal instead of each asking.
    pub async fn get(&self, http: &reqwest::Client) -> Result<TemporaryKeys, CloudError> {
        let mut current = self.current.lock().await;
        if let Some(keys) = current.as_ref()
            && !needs_renewal(keys, Utc::now())
        {
            return Ok(keys.clone());
        }
        let fresh = self.fetch(http).await?;
        tracing::info!(
            source = %self.source.describe(),
            access_key = %fresh.access_key,
            expires_at = %fresh.expires_at.to_rfc3339(),
            "obtained temporary cloud credentials"
        );
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops the cached credentials (after a 401), so that the next call fetches new ones.
    pub async fn invalidate(&self) {
        *self.current.lock().await = None;
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<TemporaryKeys, CloudError> {
        let from = self.source.describe();
        match &self.source {
            Source::IdToken {
                idp_id,
                token,
                duration,
            } => {
                // Read (or requested) anew each time: the kubelet rotates projected tokens.
                let id_token = token.token().await?;
                exchange::id_token(
                    http,
                    &self.iam_url,
                    &from,
                    idp_id,
                    id_token,
                    duration.as_secs(),
                )
                .await
            }
            Source::PodIdentity { uri, token_file } => {
                agents::pod_identity(http, &from, uri, token_file).await
            }
            Source::InstanceMetadata { url } => agents::instance_metadata(http, &from, url).await,
        }
    }
}
