//! Fetching a JWKS from `jwks_url` (an apiserver's `/openid/v1/jwks`, or any HTTPS endpoint),
//! optionally trusting a CA file and sending a bearer token read from a file. Runs outside the
//! state lock.

use std::time::Duration;

use serde_json::Value;

use super::jwk;
use super::provider::KeySource;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The keys at `src.url`, or why they could not be had (URL and cause; no token).
pub async fn fetch_jwks(src: &OwnedKeySource) -> Result<Vec<Value>, String> {
    let Some(url) = src.url.as_deref() else {
        return Err("no jwks_url".to_string());
    };
    let fail = |why: String| format!("fetching the JWKS from {url} failed: {why}");
    let mut builder = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .no_proxy();
    if let Some(ca) = &src.ca_file {
        let pem = tokio::fs::read(ca)
            .await
            .map_err(|e| fail(format!("jwks_ca_file {ca}: {e}")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| fail(format!("jwks_ca_file {ca}: {e}")))?;
        if certs.is_empty() {
            return Err(fail(format!("jwks_ca_file {ca} holds no certificate")));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    let client = builder.build().map_err(|e| fail(e.to_string()))?;
    // The Kubernetes apiserver answers /openid/v1/jwks only to an Accept that admits
    // application/jwk-set+json (406 to application/json alone).
    let mut request = client
        .get(url)
        .header("accept", "application/jwk-set+json, application/json");
    if let Some(file) = &src.bearer_token_file {
        let token = tokio::fs::read_to_string(file)
            .await
            .map_err(|e| fail(format!("jwks_bearer_token_file {file}: {e}")))?;
        request = request.bearer_auth(token.trim());
    }
    let response = request.send().await.map_err(|e| fail(error_chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    let body = response.bytes().await.map_err(|e| fail(e.to_string()))?;
    let doc: Value = serde_json::from_slice(&body).map_err(|e| fail(format!("not JSON: {e}")))?;
    jwk::keys_of(&doc).map_err(fail)
}

/// reqwest's top-level message is vague ("error sending request"); the causes say what failed
/// (refused connection, untrusted certificate).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A [`KeySource`] that outlives the state lock.
#[derive(Clone, Debug, Default)]
pub struct OwnedKeySource {
    pub inline: Option<Vec<Value>>,
    pub url: Option<String>,
    pub ca_file: Option<String>,
    pub bearer_token_file: Option<String>,
}

impl From<KeySource<'_>> for OwnedKeySource {
    fn from(s: KeySource<'_>) -> Self {
        OwnedKeySource {
            inline: s.jwks.and_then(|j| jwk::keys_of(j).ok()),
            url: s.url.map(str::to_string),
            ca_file: s.ca_file.map(str::to_string),
            bearer_token_file: s.bearer_token_file.map(str::to_string),
        }
    }
}
