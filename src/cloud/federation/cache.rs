//! One identity's temporary credentials, shared by every client that uses it: fetched on first
//! use, renewed before expiry (one renewal at a time under concurrency), dropped after a 401.

use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::Mutex;

use super::{Source, TemporaryKeys, agents, exchange, needs_renewal, refused};
use crate::cloud::error::{CloudError, ErrorCategory};

/// After a failed request, callers get the same answer for this long instead of each asking
/// again: a thousand objects on a refused identity make one request, not a thousand.
const FAILURE_HOLD: Duration = Duration::from_secs(5);

pub struct TemporaryCredentials {
    source: Source,
    /// The IAM endpoint of the account's region (for ID-token exchanges).
    iam_url: String,
    current: Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: Option<TemporaryKeys>,
    /// The last failure: when, and what it was.
    failed: Option<(Instant, ErrorCategory, String)>,
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
            current: Mutex::new(State::default()),
        }
    }

    /// Valid credentials: the cached ones, or new ones when missing or within the renewal
    /// margin. Concurrent callers wait for one renewal instead of each asking.
    pub async fn get(&self, http: &reqwest::Client) -> Result<TemporaryKeys, CloudError> {
        let mut current = self.current.lock().await;
        let now = Utc::now();
        if let Some(keys) = current.keys.as_ref()
            && !needs_renewal(keys, now)
        {
            return Ok(keys.clone());
        }
        // Within the renewal margin the current keys still work: a failed renewal keeps them
        // until they expire, and is tried again.
        let still_valid = current
            .keys
            .as_ref()
            .filter(|k| now < k.expires_at)
            .cloned();
        if let Some((at, category, detail)) = &current.failed
            && at.elapsed() < FAILURE_HOLD
        {
            return still_valid
                .ok_or_else(|| refused(&self.source.describe(), *category, detail.clone()));
        }
        let fresh = match self.fetch(http).await {
            Ok(fresh) => fresh,
            Err(e) => {
                if let CloudError::Credentials {
                    category, detail, ..
                } = &e
                {
                    current.failed = Some((Instant::now(), *category, detail.clone()));
                }
                if let Some(keys) = still_valid {
                    tracing::warn!(
                        error = %e,
                        expires_at = %keys.expires_at.to_rfc3339(),
                        "renewing temporary cloud credentials failed; the current ones are used until they expire"
                    );
                    return Ok(keys);
                }
                return Err(e);
            }
        };
        current.failed = None;
        tracing::info!(
            source = %self.source.describe(),
            access_key = %fresh.access_key,
            expires_at = %fresh.expires_at.to_rfc3339(),
            "obtained temporary cloud credentials"
        );
        current.keys = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops the cached credentials (after a 401), so that the next call fetches new ones.
    pub async fn invalidate(&self) {
        self.current.lock().await.keys = None;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::future::BoxFuture;

    use super::*;
    use crate::cloud::federation::IdTokenSource;
    use crate::cloud::secret::SecretString;

    #[derive(Debug, Default)]
    struct Refusing(AtomicUsize);

    impl IdTokenSource for Refusing {
        fn describe(&self) -> String {
            "a refusing source".into()
        }
        fn token(&self) -> BoxFuture<'_, Result<SecretString, CloudError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {
                Err(refused(
                    "a refusing source",
                    ErrorCategory::Unauthorized,
                    "no token".into(),
                ))
            })
        }
    }

    #[tokio::test]
    async fn a_failure_is_held_briefly_instead_of_asked_again_by_every_caller() {
        let source = Arc::new(Refusing::default());
        let cache = TemporaryCredentials::new(
            Source::IdToken {
                idp_id: "idp".into(),
                token: source.clone(),
                duration: Duration::from_secs(900),
            },
            "http://127.0.0.1:9".into(),
        );
        let http = reqwest::Client::new();
        for _ in 0..20 {
            let e = cache.get(&http).await.err().expect("refused");
            assert_eq!(e.category(), ErrorCategory::Unauthorized);
            assert!(e.to_string().contains("no token"), "{e}");
        }
        assert_eq!(source.0.load(Ordering::SeqCst), 1, "asked once");
        // Once the hold is over, the source is asked again.
        {
            let mut state = cache.current.lock().await;
            state.failed = state
                .failed
                .take()
                .map(|(at, c, d)| (at - FAILURE_HOLD, c, d));
        }
        let _ = cache.get(&http).await;
        assert_eq!(source.0.load(Ordering::SeqCst), 2, "asked again");
    }

    #[tokio::test]
    async fn a_failed_renewal_keeps_the_keys_until_they_expire() {
        let source = Arc::new(Refusing::default());
        let cache = TemporaryCredentials::new(
            Source::IdToken {
                idp_id: "idp".into(),
                token: source.clone(),
                duration: Duration::from_secs(900),
            },
            "http://127.0.0.1:9".into(),
        );
        let now = Utc::now();
        let keys = |expires_in: i64| TemporaryKeys {
            access_key: "TMPAK".into(),
            secret_key: SecretString::from("sk"),
            security_token: SecretString::from("token"),
            obtained_at: now - chrono::Duration::seconds(900 - expires_in),
            expires_at: now + chrono::Duration::seconds(expires_in),
        };
        let http = reqwest::Client::new();
        // In the margin (a minute left of 15): renewal fails, the keys still serve.
        cache.current.lock().await.keys = Some(keys(60));
        let got = cache.get(&http).await.expect("the current keys");
        assert_eq!(got.access_key, "TMPAK");
        assert_eq!(source.0.load(Ordering::SeqCst), 1, "renewal was tried");
        // Expired: the failure is the answer.
        cache.current.lock().await.keys = Some(keys(-1));
        cache.current.lock().await.failed = None;
        assert!(cache.get(&http).await.is_err());
    }
}
