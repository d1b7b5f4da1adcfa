//! The HTTP side of the client: signing or token auth, rate limiting, timeouts, error parsing
//! and classification, and jittered retries for idempotent calls only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::credentials::{Account, Credentials};
use super::endpoints::{Endpoints, Service};
use super::error::{CloudError, ErrorCodes, TransportKind};
use super::iam::TokenCache;
use super::ratelimit::{Rate, RateLimiters};
use super::secret::{ExposeSecret, SecretString, scrub};
use super::signer;

/// The longest Retry-After honoured; longer values are capped.
const MAX_RETRY_AFTER_SECS: u64 = 300;
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
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(32)
            .build()
            .map_err(|e| setup_error(&e))?;
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

/// One cloud call.
pub(crate) struct Request {
    pub service: Service,
    pub op: &'static str,
    pub method: Method,
    /// Path with every variable segment already encoded with [`seg`].
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
    /// Safe to repeat: reads, updates to a fixed value, deletes.
    pub idempotent: bool,
    /// Secrets this request carries, scrubbed from any error text.
    pub sensitive: Vec<SecretString>,
}

impl Request {
    pub fn new(service: Service, op: &'static str, method: Method, path: String) -> Self {
        let idempotent = method == Method::GET || method == Method::DELETE || method == Method::PUT;
        Self {
            service,
            op,
            method,
            path,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            idempotent,
            sensitive: Vec::new(),
        }
    }

    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    pub fn query_opt(self, key: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.query(key, v),
            None => self,
        }
    }

    pub fn header(mut self, key: &str, value: impl ToString) -> Self {
        self.headers.push((key.to_string(), value.to_string()));
        self
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Never retried by the client: creates and resets go through the controller's recovery.
    pub fn not_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }

    pub fn sensitive(mut self, secret: Option<&SecretString>) -> Self {
        if let Some(s) = secret {
            self.sensitive.push(s.clone());
        }
        self
    }
}

/// Percent-encodes one path segment.
pub(crate) fn seg(s: &str) -> String {
    signer::url_encode(s)
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_msg: Option<String>,
}

/// serde_json's account of a decoding failure without the value it quotes: a data error names
/// what it found (`invalid type: string "…", expected a sequence`), and that may be a secret.
/// serde prints a string with `{:?}`, so its quotes are the first and last `"` of the message.
fn decode_detail(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match (text.find('"'), text.rfind('"')) {
        (Some(start), Some(end)) if start < end => {
            format!("{}\"…\"{}", &text[..start], &text[end + 1..])
        }
        _ => text,
    }
}

/// Describes a reqwest error without its URL.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Full-jitter exponential backoff: a random point in [d/2, d], d = base * 2^attempt, at most 10 s.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let d = base
        .saturating_mul(1u32 << attempt.min(10))
        .min(Duration::from_secs(10));
    let half = d / 2;
    half + Duration::from_millis(rand::random_range(0..=half.as_millis().max(1) as u64))
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

    pub(crate) async fn call(&self, req: Request) -> Result<bytes::Bytes, CloudError> {
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            self.cloud.limiters.acquire(req.service).await;
            match self.send_once(&req).await {
                Ok(resp) => return Ok(resp),
                // A 401 with a cached token: the request did not run; renew the token once.
                Err(e) if e.status() == Some(401) && self.tokens.is_some() && !reauthenticated => {
                    reauthenticated = true;
                    if let Some(tokens) = &self.tokens {
                        tokens.invalidate().await;
                    }
                }
                Err(e)
                    if req.idempotent
                        && e.category().is_retryable()
                        && attempt + 1 < self.cloud.config.max_attempts
                        && e.retry_after().is_none_or(|w| w <= MAX_IN_CALL_WAIT) =>
                {
                    let wait = e
                        .retry_after()
                        .unwrap_or_else(|| backoff(self.cloud.config.backoff_base, attempt));
                    tracing::debug!(service = %req.service, op = req.op, attempt, ?wait, category = %e.category(), "retrying idempotent cloud call");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        req: Request,
    ) -> Result<T, CloudError> {
        let (service, op) = (req.service, req.op);
        let resp = self.call(req).await?;
        // Every answer the operator reads is an object; serde would otherwise fill a struct
        // from an array by position, turning a proxy's junk into plausible ids and keys.
        if resp.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(CloudError::Decode {
                service,
                op,
                detail: "the answer is not a JSON object".into(),
            });
        }
        serde_json::from_slice(&resp).map_err(|e| CloudError::Decode {
            service,
            op,
            detail: decode_detail(&e),
        })
    }

    async fn send_once(&self, req: &Request) -> Result<bytes::Bytes, CloudError> {
        let base = self
            .cloud
            .config
            .endpoints
            .url(req.service, &self.account.region);
        let mut url = format!("{base}{}", req.path);
        let query: String = req
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", signer::url_encode(k), signer::url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        let parsed = reqwest::Url::parse(&url).map_err(|e| CloudError::InvalidRequest {
            service: req.service,
            op: req.op,
            detail: format!("invalid URL: {e}"),
        })?;
        // URL parsing resolves "." and ".." segments: an id like ".." would address another
        // resource (`.../apps/..` is the instance). Nothing else in a built path changes.
        if !parsed.path().ends_with(req.path.as_str()) {
            return Err(CloudError::InvalidRequest {
                service: req.service,
                op: req.op,
                detail: "invalid URL: a path segment is \".\" or \"..\"".into(),
            });
        }
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => String::new(),
        };
        let body = match &req.body {
            Some(v) => serde_json::to_vec(v).map_err(|e| body_error(req.service, req.op, &e))?,
            None => Vec::new(),
        };
        let mut headers = req.headers.clone();
        if req.body.is_some() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        match &self.account.credentials {
            Credentials::AkSk {
                access_key,
                secret_key,
                security_token,
            } => {
                headers.push(("X-Project-Id".into(), self.account.project_id.clone()));
                if let Some(token) = security_token {
                    headers.push(("X-Security-Token".into(), token.expose_secret().to_string()));
                }
                signer::prepare_headers(&mut headers, &host, chrono::Utc::now());
                let signature = signer::sign(
                    &signer::SigningRequest {
                        method: req.method.as_str(),
                        path: parsed.path(),
                        query: &req.query,
                        headers: &headers,
                        body: &body,
                    },
                    access_key,
                    secret_key.expose_secret().as_bytes(),
                );
                headers.push(("Authorization".into(), signature.authorization));
            }
            Credentials::Password { .. } => {
                if let Some(tokens) = &self.tokens {
                    let token = tokens.token(&self.cloud.http).await?;
                    headers.push(("X-Auth-Token".into(), token.expose_secret().to_string()));
                }
            }
        }
        let mut builder = self.cloud.http.request(req.method.clone(), parsed);
        for (k, v) in &headers {
            if !k.eq_ignore_ascii_case("host") {
                builder = builder.header(k, v);
            }
        }
        if !body.is_empty() {
            builder = builder.body(body);
        }
        let started = Instant::now();
        let result = builder.send().await;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                self.observe(req, 0, started);
                return Err(transport_error(req, &e));
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            // A hostile or broken answer must not park a reconcile for ages.
            .map(|s| Duration::from_secs(s.min(MAX_RETRY_AFTER_SECS)));
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                self.observe(req, 0, started);
                return Err(transport_error(req, &e));
            }
        };
        self.observe(req, status, started);
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let parsed: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        let code = parsed.error_code.unwrap_or_default();
        // Classified as sent; shown scrubbed, like the message (a body may echo the request).
        let category = self.cloud.config.codes.classify(status, &code);
        let code = scrub(&code, &req.sensitive);
        let mut message = scrub(&parsed.error_msg.unwrap_or_default(), &req.sensitive);
        message.truncate(
            message
                .char_indices()
                .nth(300)
                .map(|(i, _)| i)
                .unwrap_or(message.len()),
        );
        Err(CloudError::Api {
            service: req.service,
            op: req.op,
            status,
            category,
            code,
            message,
            retry_after,
        })
    }

    fn observe(&self, req: &Request, status: u16, started: Instant) {
        if let Some(observer) = &self.cloud.observer {
            observer.observe(req.service, req.op, status, started.elapsed());
        }
    }
}

fn setup_error(e: &reqwest::Error) -> CloudError {
    CloudError::HttpClient(describe(e))
}

pub(crate) fn body_error(service: Service, op: &'static str, e: &serde_json::Error) -> CloudError {
    CloudError::InvalidRequest {
        service,
        op,
        detail: format!("the body cannot be encoded: {}", decode_detail(e)),
    }
}

fn transport_error(req: &Request, e: &reqwest::Error) -> CloudError {
    // Never sent (the URL or a header cannot go on the wire): nothing can have taken effect.
    if e.is_builder() {
        return CloudError::InvalidRequest {
            service: req.service,
            op: req.op,
            detail: scrub(&describe(e), &req.sensitive),
        };
    }
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Incomplete
    };
    CloudError::Transport {
        service: req.service,
        op: req.op,
        kind,
        detail: scrub(&describe(e), &req.sensitive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::ErrorCategory;

    fn client(region: &str) -> CloudClient {
        let cloud = Cloud::new(CloudConfig::default(), None).expect("cloud");
        cloud.client(&Account {
            region: region.into(),
            project_id: "p".into(),
            credentials: Credentials::AkSk {
                access_key: "AK".into(),
                secret_key: SecretString::from("very-secret-sk"),
                security_token: None,
            },
        })
    }

    fn assert_not_sent(e: &CloudError) {
        assert!(
            matches!(e, CloudError::InvalidRequest { .. }),
            "not an invalid request: {e}"
        );
        assert_eq!(e.category(), ErrorCategory::InvalidRequest, "{e}");
        assert!(!e.category().is_retryable());
        assert!(!e.outcome_unknown());
    }

    // Each of these fails before anything goes on the wire, so no server is needed.

    #[tokio::test]
    async fn a_dot_segment_is_an_invalid_request() {
        let req = Request::new(Service::Apig, "show", Method::GET, "/apps/..".into());
        let e = client("cn-north-4").call(req).await.expect_err("refused");
        assert_not_sent(&e);
    }

    #[tokio::test]
    async fn an_unparseable_url_is_an_invalid_request() {
        let req = Request::new(Service::Apig, "show", Method::GET, "/apps/a".into());
        let e = client("cn north").call(req).await.expect_err("refused");
        assert_not_sent(&e);
    }

    #[tokio::test]
    async fn an_unsendable_header_is_an_invalid_request() {
        let req = Request::new(Service::Apig, "show", Method::GET, "/apps/a".into())
            .header("X-Note", "a\nb");
        let e = client("cn-north-4").call(req).await.expect_err("refused");
        assert_not_sent(&e);
        assert!(!e.to_string().contains("very-secret-sk"));
    }

    #[test]
    fn an_unencodable_body_is_an_invalid_request() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(vec![1u8], 1);
        let e = serde_json::to_vec(&map).expect_err("non-string keys");
        assert_not_sent(&body_error(Service::ModelArts, "create_api", &e));
    }

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
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let base = Duration::from_millis(100);
        for attempt in 0..12 {
            let d = backoff(base, attempt);
            let full = base
                .saturating_mul(1 << attempt.min(10))
                .min(Duration::from_secs(10));
            assert!(
                d >= full / 2 && d <= full + Duration::from_millis(1),
                "attempt {attempt}: {d:?}"
            );
        }
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
