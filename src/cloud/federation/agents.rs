//! Credentials from agents on the node: CCE Pod Identity (the Pod's token posted to the
//! agent's URI) and the ECS metadata service (the node's agency, opt-in only).

use std::path::Path;

use chrono::Utc;
use serde::Deserialize;

use super::exchange::{parse_credential, parse_time, send};
use super::{TemporaryKeys, refused};
use crate::cloud::error::{CloudError, ErrorCategory};
use crate::cloud::secret::SecretString;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodCredentials {
    access_key_id: String,
    secret_access_key: String,
    security_token: String,
    expiration: String,
}

#[derive(Deserialize)]
struct PodAnswer {
    credentials: PodCredentials,
}

/// `credentials.{accessKeyId, secretAccessKey, securityToken, expiration}`.
fn parse_pod_answer(body: &[u8]) -> Result<TemporaryKeys, String> {
    let parsed: PodAnswer = serde_json::from_slice(body)
        .map_err(|_| "unexpected answer: no credentials.{accessKeyId, ...}".to_string())?;
    let c = parsed.credentials;
    Ok(TemporaryKeys {
        access_key: c.access_key_id,
        secret_key: SecretString::from(c.secret_access_key),
        security_token: SecretString::from(c.security_token),
        expires_at: parse_time(&c.expiration).ok_or("unexpected answer: expiration")?,
        obtained_at: Utc::now(),
    })
}

/// POSTs `{}` to the Pod Identity URI with the token file's contents as `Authorization`, as
/// the official SDKs do.
pub(super) async fn pod_identity(
    http: &reqwest::Client,
    from: &str,
    uri: &str,
    token_file: &Path,
) -> Result<TemporaryKeys, CloudError> {
    let token = tokio::fs::read_to_string(token_file).await.map_err(|e| {
        refused(
            from,
            ErrorCategory::Unauthorized,
            format!("cannot read the token file {}: {e}", token_file.display()),
        )
    })?;
    let token = SecretString::from(token.trim().to_string());
    let answer = send(
        http.post(uri)
            .header(
                "Authorization",
                secrecy::ExposeSecret::expose_secret(&token),
            )
            .json(&serde_json::json!({})),
        from,
        "asking the Pod Identity agent",
        std::slice::from_ref(&token),
    )
    .await?;
    parse_pod_answer(&answer.body)
        .map_err(|m| refused(from, ErrorCategory::Transient, format!("Pod Identity: {m}")))
}

/// The ECS metadata service: a session token first when it gives one
/// (`PUT /meta-data/latest/api/token`), then `GET /openstack/latest/securitykey`.
pub(super) async fn instance_metadata(
    http: &reqwest::Client,
    from: &str,
    url: &str,
) -> Result<TemporaryKeys, CloudError> {
    let base = url.trim_end_matches('/');
    // The session token is optional on the service (older agents answer without it).
    let session = send(
        http.put(format!("{base}/meta-data/latest/api/token"))
            .header("X-Metadata-Token-Ttl-Seconds", "300"),
        from,
        "asking the metadata service for a session token",
        &[],
    )
    .await
    .ok()
    .map(|a| SecretString::from(String::from_utf8_lossy(&a.body).trim().to_string()));
    let mut request = http.get(format!("{base}/openstack/latest/securitykey"));
    if let Some(session) = &session {
        request = request.header(
            "X-Metadata-Token",
            secrecy::ExposeSecret::expose_secret(session),
        );
    }
    let answer = send(
        request,
        from,
        "asking the metadata service for the agency's credentials",
        session.as_slice(),
    )
    .await?;
    parse_credential(&answer.body, Utc::now()).map_err(|m| {
        refused(
            from,
            ErrorCategory::Transient,
            format!("instance metadata: {m}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_identity_answers() {
        let k = parse_pod_answer(br#"{"credentials":{"accessKeyId":"AK","secretAccessKey":"SK","securityToken":"T","expiration":"2026-12-03T21:00:00Z"},"subject":{"namespace":"n","serviceAccount":"s"}}"#)
            .expect("parsed");
        assert_eq!(k.access_key, "AK");
        let e = parse_pod_answer(
            br#"{"credentials":{"accessKeyId":"AK","secretAccessKey":"SECRETVALUE"}}"#,
        )
        .err()
        .expect("incomplete");
        assert!(!e.contains("SECRETVALUE"), "{e}");
    }
}
