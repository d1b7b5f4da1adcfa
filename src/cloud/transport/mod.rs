//! The HTTP side of the client: one shared HTTP pool and per-account clients, with the request
//! (`request`), its URL (`url`), authorization (`auth`), sending and retries (`send`), and
//! reading answers and errors (`parse`) each in a file of its own.

mod auth;
mod parse;
mod request;
mod send;
mod url;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::ca_bundle::CaBundle;
use super::credentials::{Account, Credentials};
use super::endpoints::{Endpoints, Service};
use super::error::{CloudError, ErrorCodes};
use super::iam::TokenCache;
use super::ratelimit::{Rate, RateLimiters};
use super::secret::ExposeSecret;

pub(crate) use parse::body_error;
pub(crate) use request::{Request, seg};
pub use send::backoff;
pub(crate) use send::describe;

/// Longer waits are not slept inside a call: the error goes back and the object is requeued.
const MAX_IN_CALL_WAIT: Duration = Duration::from_secs(10);

/// Client-wide settings (operator configuration).
#[derive(Debug, Clone)]
pub struct CloudConfig {
    pub endpoints: Endpoints,
    /// Per-request timeout.
    pub timeout: Duration,
    pub rates: HashMap<Service, Rate>,
    pub codes: ErrorCodes,
    /// Attempts for idempotent calls (reads, updates, deletes); creates and resets get one.
    pub max_attempts: u32,
    /// Base of the exponential backoff between attempts.
    pub backoff_base: Duration,
    /// Name of ModelArts' "show the secret in plaintext" query flag (UNCONFIRMED spelling).
    pub modelarts_plaintext_flag: String,
    /// CA certificates trusted besides the built-in and the platform's roots.
    pub ca_bundle: Option<CaBundle>,
}

impl Default for CloudConfig {
    fn default() -> Self {
        Self {
            endpoints: Endpoints::default(),
            timeout: Duration::from_secs(10),
            rates: HashMap::new(),
            codes: ErrorCodes::default(),
            max_attempts: 4,
            backoff_base: Duration::from_millis(200),
            modelarts_plaintext_flag: "iphertext_enabled".to_string(),
            ca_bundle: None,
        }
    }
}

/// Receives one record per HTTP exchange (for metrics). `status` is the HTTP status or 0 when
/// no response arrived.
pub trait RequestObserver: Send + Sync {
    fn observe(&self, service: Service, op: &'static str, status: u16, elapsed: Duration);
}

/// Shared by every account: HTTP connection pool, rate limits, settings, per-account clients.
pub struct Cloud {
    http: reqwest::Client,
    config: CloudConfig,
    limiters: RateLimiters,
    observer: Option<Arc<dyn RequestObserver>>,
    clients: Mutex<HashMap<String, CloudClient>>,
}

impl Cloud {
    pub fn new(
        config: CloudConfig,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Result<Arc<Self>, CloudError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(32);
        // Added to the built-in roots, which stay on (public endpoints keep working).
        for der in config.ca_bundle.iter().flat_map(CaBundle::certificates) {
            let certificate = reqwest::Certificate::from_der(der).map_err(|e| setup_error(&e))?;
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder.build().map_err(|e| setup_error(&e))?;
        let limiters = RateLimiters::new(&config.rates);
        Ok(Arc::new(Self {
            http,
            config,
            limiters,
            observer,
            clients: Mutex::new(HashMap::new()),
        }))
    }

    pub fn config(&self) -> &CloudConfig {
        &self.config
    }

    pub fn rate(&self, service: Service) -> Rate {
        self.limiters.rate(service)
    }

    /// The client for one account; cached so that IAM tokens are reused.
    pub fn client(self: &Arc<Self>, account: &Account) -> CloudClient {
        let key = cache_key(account);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(key)
            .or_insert_with(|| {
                let tokens = match &account.credentials {
                    Credentials::Password {
                        domain,
                        user,
                        password,
                    } => Some(Arc::new(TokenCache::new(
                        self.config.endpoints.url(Service::Iam, &account.region),
                        domain.clone(),
                        user.clone(),
                        password.clone(),
                        account.project_id.clone(),
                    ))),
                    Credentials::AkSk { .. } => None,
                };
                CloudClient {
                    cloud: self.clone(),
                    account: Arc::new(account.clone()),
                    tokens,
                }
            })
            .clone()
    }
}

/// Identifies an account configuration without keeping secret material in the key.
fn cache_key(account: &Account) -> String {
    let mut h = Sha256::new();
    match &account.credentials {
        Credentials::AkSk {
            access_key,
            secret_key,
            security_token,
        } => {
            h.update(access_key.as_bytes());
            h.update([0]);
            h.update(secret_key.expose_secret().as_bytes());
            h.update([0]);
            h.update(
                security_token
                    .as_ref()
                    .map(|t| t.expose_secret())
                    .unwrap_or_default()
                    .as_bytes(),
            );
        }
        Credentials::Password {
            domain,
            user,
            password,
        } => {
            h.update(domain.as_bytes());
            h.update([0]);
            h.update(user.as_bytes());
            h.update([0]);
            h.update(password.expose_secret().as_bytes());
        }
    }
    format!(
        "{}|{}|{}",
        account.region,
        account.project_id,
        hex::encode(h.finalize())
    )
}

/// A client bound to one account (region, project, credentials).
#[derive(Clone)]
pub struct CloudClient {
    cloud: Arc<Cloud>,
    account: Arc<Account>,
    tokens: Option<Arc<TokenCache>>,
}

impl std::fmt::Debug for CloudClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudClient")
            .field("region", &self.account.region)
            .field("project_id", &self.account.project_id)
            .field("principal", &self.account.principal())
            .finish()
    }
}

impl CloudClient {
    pub fn account(&self) -> &Account {
        &self.account
    }

    pub fn project_id(&self) -> &str {
        &self.account.project_id
    }

    pub fn config(&self) -> &CloudConfig {
        &self.cloud.config
    }
}

/// The HTTP client could not be set up: no request can be made, whatever the credentials.
fn setup_error(e: &reqwest::Error) -> CloudError {
    CloudError::HttpClient(describe(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{ErrorCategory, SecretString};

    #[test]
    fn a_client_setup_failure_is_not_a_credentials_problem() {
        // A builder error stands in for the client's: both are reqwest's "builder" kind.
        let e = reqwest::Client::new()
            .get("not a url")
            .build()
            .expect_err("invalid URL");
        let e = setup_error(&e);
        assert!(matches!(e, CloudError::HttpClient(_)), "{e}");
        assert_eq!(e.category(), ErrorCategory::InvalidRequest);
        assert!(!e.category().is_retryable());
    }

    #[test]
    fn cache_key_has_no_secret() {
        let account = Account {
            region: "cn-north-4".into(),
            project_id: "p".into(),
            credentials: Credentials::AkSk {
                access_key: "AK".into(),
                secret_key: SecretString::from("very-secret-sk"),
                security_token: None,
            },
        };
        assert!(!cache_key(&account).contains("very-secret-sk"));
    }
}
