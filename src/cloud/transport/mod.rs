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
use super::federation::TemporaryCredentials;
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
    /// Temporary credentials by source and region: shared by the clients of every project
    /// (and by an account before and after its project id is looked up).
    temporary: Mutex<HashMap<String, Arc<TemporaryCredentials>>>,
    /// Project ids looked up, by principal and region.
    projects: Mutex<HashMap<String, String>>,
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
            temporary: Mutex::new(HashMap::new()),
            projects: Mutex::new(HashMap::new()),
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
                    Credentials::AkSk { .. } | Credentials::Temporary { .. } => None,
                };
                let temporary = match &account.credentials {
                    Credentials::Temporary { source } => Some(self.temporary_for(source, account)),
                    _ => None,
                };
                CloudClient {
                    cloud: self.clone(),
                    account: Arc::new(account.clone()),
                    tokens,
                    temporary,
                }
            })
            .clone()
    }
}

impl Cloud {
    fn temporary_for(
        &self,
        source: &super::federation::Source,
        account: &Account,
    ) -> Arc<TemporaryCredentials> {
        let iam_url = self.config.endpoints.url(Service::Iam, &account.region);
        let key = format!("{}|{iam_url}", source.describe());
        let mut all = self.temporary.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(key)
            .or_insert_with(|| Arc::new(TemporaryCredentials::new(source.clone(), iam_url)))
            .clone()
    }

    /// The account with its project id: as given, or looked up by region name once per
    /// principal and region (`GET /v3/projects?name=<region>`, as the official SDKs do).
    pub async fn with_project(
        self: &Arc<Self>,
        mut account: Account,
    ) -> Result<Account, CloudError> {
        if !account.project_id.is_empty() {
            return Ok(account);
        }
        let key = format!("{}|{}", account.principal(), account.region);
        let known = self
            .projects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let project_id = match known {
            Some(id) => id,
            None => {
                let id = self.client(&account).project_of_region().await?;
                tracing::info!(principal = %account.principal(), region = %account.region, project_id = %id, "looked up the project id of the region");
                self.projects
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, id.clone());
                id
            }
        };
        account.project_id = project_id;
        Ok(account)
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
        Credentials::Temporary { source } => {
            h.update(b"temporary\0");
            h.update(source.describe().as_bytes());
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
    temporary: Option<Arc<TemporaryCredentials>>,
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

    /// Identifies this client's account (region, project, credentials) without secret
    /// material: what per-account caches are keyed by.
    pub fn account_key(&self) -> String {
        cache_key(&self.account)
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
