//! Sending: one exchange (URL, authorization, HTTP, reading the answer), and the retry loop
//! around it. Idempotent calls are retried with jitter; creates and resets never are.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::auth::Signed;
use super::parse::{self, Failure};
use super::request::Request;
use super::url;
use super::{CloudClient, MAX_IN_CALL_WAIT};
use crate::cloud::error::{CloudError, TransportKind};
use crate::cloud::secret::scrub;

/// Full-jitter exponential backoff: a random point in [d/2, d], d = base * 2^attempt, at most 10 s.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let d = base
        .saturating_mul(1u32 << attempt.min(10))
        .min(Duration::from_secs(10));
    let half = d / 2;
    half + Duration::from_millis(rand::random_range(0..=half.as_millis().max(1) as u64))
}

/// Describes a reqwest error without its URL (a query may carry a name or a filter).
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

/// The endpoint's certificate chain ends at no CA the operator trusts: what a private CA not
/// given with `--ca-bundle` looks like. Found by type, not by reqwest's wording.
fn unknown_issuer(e: &reqwest::Error) -> bool {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) =
            rustls_error(s)
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// rustls' error inside (nested) `io::Error`s, whose own `source()` skips what they wrap.
fn rustls_error<'a>(mut e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        e = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

/// A failed exchange. A request reqwest could not build (a header that cannot go on the
/// wire, a URL `http` rejects) was never sent; otherwise how it ended says whether the call
/// may have taken effect.
fn transport_error(req: &Request, e: &reqwest::Error) -> CloudError {
    let mut detail = scrub(&describe(e), &req.sensitive);
    if unknown_issuer(e) {
        detail.push_str(
            " (the endpoint's certificate is not trusted: its CA is neither a public one nor in \
             the platform's store; give it with --ca-bundle)",
        );
    }
    let (service, op) = (req.service, req.op);
    if e.is_builder() {
        return CloudError::InvalidRequest {
            service,
            op,
            detail,
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
        service,
        op,
        kind,
        detail,
    }
}

impl CloudClient {
    pub(crate) async fn call(&self, req: Request) -> Result<bytes::Bytes, CloudError> {
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            self.cloud.limiters.acquire(req.service).await;
            match self.send_once(&req).await {
                Ok(resp) => return Ok(resp),
                // A 401 with a cached token or temporary credentials: the request did not run;
                // renew them once.
                Err(e)
                    if e.status() == Some(401)
                        && (self.tokens.is_some() || self.temporary.is_some())
                        && !reauthenticated =>
                {
                    reauthenticated = true;
                    if let Some(tokens) = &self.tokens {
                        tokens.invalidate().await;
                    }
                    if let Some(temporary) = &self.temporary {
                        temporary.invalidate().await;
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
        parse::decode_json(service, op, &resp)
    }

    async fn send_once(&self, req: &Request) -> Result<bytes::Bytes, CloudError> {
        let not_sent = |detail: String| CloudError::InvalidRequest {
            service: req.service,
            op: req.op,
            detail,
        };
        let base = self
            .cloud
            .config
            .endpoints
            .url(req.service, &self.account.region);
        let target =
            url::build(&base, &req.path, &req.query).map_err(|e| not_sent(e.to_string()))?;
        let body = match &req.body {
            Some(v) => {
                serde_json::to_vec(v).map_err(|e| parse::body_error(req.service, req.op, &e))?
            }
            None => Vec::new(),
        };
        let mut headers = req.headers.clone();
        if req.body.is_some() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        let signed = Signed {
            method: req.method.as_str(),
            path: target.path(),
            query: &req.query,
            body: &body,
        };
        self.authorize(&mut headers, &url::host(&target), &signed)
            .await?;

        let mut builder = self.cloud.http.request(req.method.clone(), target);
        for (k, v) in &headers {
            // reqwest sets Host from the URL; the signed value is the same.
            if !k.eq_ignore_ascii_case("host") {
                builder = builder.header(k, v);
            }
        }
        if !body.is_empty() {
            builder = builder.body(body);
        }
        let started = Instant::now();
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                self.observe(req, 0, started);
                return Err(transport_error(req, &e));
            }
        };
        let status = response.status().as_u16();
        let retry_after = parse::retry_after(
            response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok()),
        );
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
        let failure = Failure {
            service: req.service,
            op: req.op,
            status,
            body: &bytes,
            retry_after,
            sensitive: &req.sensitive,
        };
        Err(parse::api_error(failure, &self.cloud.config.codes))
    }

    fn observe(&self, req: &Request, status: u16, started: Instant) {
        if let Some(observer) = &self.cloud.observer {
            observer.observe(req.service, req.op, status, started.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::endpoints::Service;
    use crate::cloud::error::ErrorCategory;
    use crate::cloud::{Account, Cloud, CloudConfig, Credentials, SecretString};
    use reqwest::Method;

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

    /// How the TLS stack hands a refused certificate up: rustls' error in an `io::Error`,
    /// itself in another one; only an unknown issuer is what `--ca-bundle` fixes.
    #[test]
    fn a_refused_certificate_is_found_inside_nested_io_errors() {
        use rustls::CertificateError as C;
        use std::io::{Error, ErrorKind};
        let nested = |e: rustls::Error| Error::other(Error::new(ErrorKind::InvalidData, e));
        let unknown = nested(rustls::Error::InvalidCertificate(C::UnknownIssuer));
        assert!(matches!(
            rustls_error(&unknown),
            Some(rustls::Error::InvalidCertificate(C::UnknownIssuer))
        ));
        let expired = nested(rustls::Error::InvalidCertificate(C::Expired));
        assert!(matches!(
            rustls_error(&expired),
            Some(rustls::Error::InvalidCertificate(C::Expired))
        ));
        assert!(rustls_error(&Error::other("connection refused")).is_none());
        assert!(rustls_error(&Error::from(ErrorKind::ConnectionReset)).is_none());
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
}
