//! IAM password tokens: `POST /v3/auth/tokens`, token from `X-Subject-Token`, cached and renewed
//! before expiry, one refresh at a time under concurrency.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use super::endpoints::Service;
use super::error::{CloudError, TransportKind};
use super::secret::{ExposeSecret, SecretString};

#[derive(Clone)]
struct Token {
    value: SecretString,
    expires_at: DateTime<Utc>,
    issued_at: DateTime<Utc>,
}

/// Caches one token for one IAM user and project.
pub struct TokenCache {
    url: String,
    domain: String,
    user: String,
    password: SecretString,
    project_id: String,
    current: Mutex<Option<Token>>,
}

#[derive(Deserialize)]
struct TokenBody {
    token: TokenInfo,
}

#[derive(Deserialize)]
struct TokenInfo {
    expires_at: String,
    #[serde(default)]
    issued_at: Option<String>,
}

impl TokenCache {
    pub fn new(
        iam_url: String,
        domain: String,
        user: String,
        password: SecretString,
        project_id: String,
    ) -> Self {
        Self {
            url: iam_url,
            domain,
            user,
            password,
            project_id,
            current: Mutex::new(None),
        }
    }

    /// A valid token: the cached one, or a new one when it is missing or close to expiry.
    /// Concurrent callers wait for one refresh instead of each asking IAM.
    pub async fn token(&self, http: &reqwest::Client) -> Result<SecretString, CloudError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && !needs_renewal(token, Utc::now())
        {
            return Ok(token.value.clone());
        }
        let fresh = self.request(http).await?;
        let value = fresh.value.clone();
        *current = Some(fresh);
        Ok(value)
    }

    /// Drops the cached token (after a 401), so the next call fetches a new one.
    pub async fn invalidate(&self) {
        *self.current.lock().await = None;
    }

    async fn request(&self, http: &reqwest::Client) -> Result<Token, CloudError> {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.user, "password": self.password.expose_secret(), "domain": {"name": self.domain}}}},
            "scope": {"project": {"id": self.project_id}}
        }});
        let op = "token";
        let transport = |e: reqwest::Error| {
            let detail = super::transport::describe(&e);
            // Never sent (the URL or a header cannot go on the wire).
            if e.is_builder() {
                return CloudError::InvalidRequest {
                    service: Service::Iam,
                    op,
                    detail,
                };
            }
            let kind = if e.is_timeout() {
                TransportKind::Timeout
            } else {
                TransportKind::Connect
            };
            CloudError::Transport {
                service: Service::Iam,
                op,
                kind,
                detail,
            }
        };
        let response = http
            .post(format!("{}/v3/auth/tokens?nocatalog=true", self.url))
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            let category = if status.as_u16() == 401 {
                super::error::ErrorCategory::Unauthorized
            } else if status.is_server_error() {
                super::error::ErrorCategory::Transient
            } else {
                super::error::ErrorCategory::Unknown
            };
            return Err(CloudError::Api {
                service: Service::Iam,
                op,
                status: status.as_u16(),
                code: String::new(),
                message: "IAM refused the password token request".into(),
                category,
                retry_after: None,
            });
        }
        let value = response
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(|v| SecretString::from(v.to_string()))
            .ok_or_else(|| CloudError::Decode {
                service: Service::Iam,
                op,
                detail: "no X-Subject-Token header".into(),
            })?;
        let parsed: TokenBody = response.json().await.map_err(|e| CloudError::Decode {
            service: Service::Iam,
            op,
            detail: e.to_string(),
        })?;
        let expires_at =
            parse_time(&parsed.token.expires_at).ok_or_else(|| CloudError::Decode {
                service: Service::Iam,
                op,
                detail: "unparseable expires_at".into(),
            })?;
        let issued_at = parsed
            .token
            .issued_at
            .as_deref()
            .and_then(parse_time)
            .unwrap_or_else(Utc::now);
        Ok(Token {
            value,
            expires_at,
            issued_at,
        })
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Renew when less than a tenth of the lifetime (at most one hour, at least 30 s) remains.
fn needs_renewal(token: &Token, now: DateTime<Utc>) -> bool {
    let lifetime = (token.expires_at - token.issued_at)
        .to_std()
        .unwrap_or_default();
    let margin = (lifetime / 10).clamp(Duration::from_secs(30), Duration::from_secs(3600));
    let margin =
        chrono::Duration::from_std(margin).unwrap_or_else(|_| chrono::Duration::seconds(30));
    now + margin >= token.expires_at
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("url", &self.url)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(issued: i64, expires: i64) -> Token {
        Token {
            value: SecretString::from("t"),
            issued_at: DateTime::from_timestamp(issued, 0).expect("time"),
            expires_at: DateTime::from_timestamp(expires, 0).expect("time"),
        }
    }

    #[test]
    fn renewal_margin() {
        let day = token(0, 86_400);
        assert!(!needs_renewal(
            &day,
            DateTime::from_timestamp(80_000, 0).expect("t")
        ));
        assert!(needs_renewal(
            &day,
            DateTime::from_timestamp(83_000, 0).expect("t")
        ));
        let short = token(0, 100);
        assert!(!needs_renewal(
            &short,
            DateTime::from_timestamp(60, 0).expect("t")
        ));
        assert!(needs_renewal(
            &short,
            DateTime::from_timestamp(71, 0).expect("t")
        ));
    }

    #[tokio::test]
    async fn an_unusable_iam_url_is_an_invalid_request_not_a_connection_failure() {
        let cache = TokenCache::new(
            "https://iam.cn north.myhuaweicloud.com".into(),
            "domain".into(),
            "user".into(),
            SecretString::from("very-secret-password"),
            "p".into(),
        );
        let e = cache
            .token(&reqwest::Client::new())
            .await
            .expect_err("no URL");
        assert!(matches!(e, CloudError::InvalidRequest { .. }), "{e}");
        assert_eq!(e.category(), super::super::ErrorCategory::InvalidRequest);
        assert!(!e.to_string().contains("very-secret-password"));
    }
}
