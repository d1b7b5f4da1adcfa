//! The HTTP side of getting temporary credentials: one POST or GET to an identity endpoint, and
//! reading its answer. IAM's two-step OIDC exchange lives here; the node agents in `agents`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::{TemporaryKeys, jwt, refused};
use crate::cloud::error::{CloudError, ErrorCategory};
use crate::cloud::secret::{ExposeSecret, SecretString, scrub};
use crate::cloud::transport::describe;

/// Characters of an identity service's error message kept.
const MAX_MESSAGE_CHARS: usize = 300;

/// A non-error answer's headers and body.
pub(super) struct Answer {
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

/// Sends `request`; any non-2xx answer or transport failure becomes a credentials error that
/// names `from` and what the service said, scrubbed of `sensitive`.
pub(super) async fn send(
    request: reqwest::RequestBuilder,
    from: &str,
    what: &str,
    sensitive: &[SecretString],
) -> Result<Answer, CloudError> {
    let response = request.send().await.map_err(|e| {
        refused(
            from,
            ErrorCategory::Transient,
            format!("{what}: {}", scrub(&describe(&e), sensitive)),
        )
    })?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| {
        refused(
            from,
            ErrorCategory::Transient,
            format!("{what}: {}", scrub(&describe(&e), sensitive)),
        )
    })?;
    if status.is_success() {
        return Ok(Answer { headers, body });
    }
    let category = if status.is_server_error() || status.as_u16() == 429 {
        ErrorCategory::Transient
    } else {
        ErrorCategory::Unauthorized
    };
    Err(refused(
        from,
        category,
        format!(
            "{what} refused (HTTP {}{})",
            status.as_u16(),
            error_text(&body, sensitive)
        ),
    ))
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_msg: Option<String>,
    #[serde(default)]
    error: Option<NestedError>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize, Default)]
struct NestedError {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

/// `, CODE: message` from the error bodies identity services send (Huawei's flat one, Keystone's
/// nested one), scrubbed and shortened; empty when the body says nothing readable.
fn error_text(body: &[u8], sensitive: &[SecretString]) -> String {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let nested = parsed.error.unwrap_or_default();
    let code = parsed.error_code.or_else(|| {
        nested.code.map(|c| match c {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
    });
    let message = parsed.error_msg.or(nested.message).or(parsed.message);
    let mut text = String::new();
    if let Some(code) = code.filter(|c| !c.is_empty()) {
        text.push_str(", ");
        text.push_str(&scrub(&code, sensitive));
    }
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        let mut message = scrub(&message, sensitive);
        if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
            message.truncate(cut);
        }
        text.push_str(": ");
        text.push_str(&message);
    }
    text
}

#[derive(Deserialize)]
struct CredentialBody {
    credential: Credential,
}

#[derive(Deserialize)]
struct Credential {
    access: String,
    secret: String,
    securitytoken: String,
    expires_at: String,
}

pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `{"credential": {"access", "secret", "securitytoken", "expires_at"}}` (IAM and the ECS
/// metadata service answer alike).
pub(super) fn parse_credential(body: &[u8], now: DateTime<Utc>) -> Result<TemporaryKeys, String> {
    let parsed: CredentialBody = serde_json::from_slice(body)
        .map_err(|e| format!("unexpected answer: {}", e.classify_name()))?;
    let c = parsed.credential;
    let expires_at = parse_time(&c.expires_at).ok_or("unexpected answer: expires_at")?;
    Ok(TemporaryKeys {
        access_key: c.access,
        secret_key: SecretString::from(c.secret),
        security_token: SecretString::from(c.securitytoken),
        expires_at,
        obtained_at: now,
    })
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    /// What kind of decoding error, without the input (which may hold a secret).
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "an I/O error",
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not JSON",
            serde_json::error::Category::Data => "fields missing or of the wrong type",
        }
    }
}

/// ID token -> unscoped IAM token -> temporary AK/SK, at `iam` (the IAM endpoint's base URL).
pub(super) async fn id_token(
    http: &reqwest::Client,
    iam: &str,
    from: &str,
    idp_id: &str,
    token: SecretString,
    duration_secs: u64,
) -> Result<TemporaryKeys, CloudError> {
    let now = Utc::now();
    // A stale token gets a clear cause here; IAM would only say that it is invalid.
    if let Some(claims) = jwt::claims(token.expose_secret())
        && let Some(at) = jwt::expired_at(&claims, now)
    {
        return Err(refused(
            from,
            ErrorCategory::Unauthorized,
            format!(
                "the ID token expired at {} (is the kubelet refreshing the projected token?)",
                at.to_rfc3339()
            ),
        ));
    }
    let body = json!({"auth": {"id_token": {"id": token.expose_secret()}}});
    let answer = send(
        http.post(format!("{iam}/v3.0/OS-AUTH/id-token/tokens"))
            .header("X-Idp-Id", idp_id)
            .json(&body),
        from,
        "exchanging the ID token at IAM",
        std::slice::from_ref(&token),
    )
    .await?;
    let iam_token = answer
        .headers
        .get("X-Subject-Token")
        .and_then(|v| v.to_str().ok())
        .map(|v| SecretString::from(v.to_string()))
        .ok_or_else(|| {
            refused(
                from,
                ErrorCategory::Unauthorized,
                "IAM answered the ID token without an X-Subject-Token header".into(),
            )
        })?;
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {
        "id": iam_token.expose_secret(), "duration_seconds": duration_secs}}}});
    let sensitive = [token, iam_token];
    let answer = send(
        http.post(format!("{iam}/v3.0/OS-CREDENTIAL/securitytokens"))
            .json(&body),
        from,
        "getting temporary credentials from IAM",
        &sensitive,
    )
    .await?;
    parse_credential(&answer.body, Utc::now()).map_err(|m| {
        refused(
            from,
            ErrorCategory::Transient,
            format!("IAM's temporary credentials: {m}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_identity_services() {
        let secret = SecretString::from("eyJsecret-token");
        let cases = [
            (
                r#"{"error_code":"IAM.0001","error_msg":"audience mismatch"}"#,
                ", IAM.0001: audience mismatch",
            ),
            (
                r#"{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}"#,
                ", 401: The request you have made requires authentication.",
            ),
            (r#"{"message":"no agency"}"#, ": no agency"),
            ("<html>bad gateway</html>", ""),
            (
                r#"{"error_msg":"bad token eyJsecret-token"}"#,
                ": bad token [redacted]",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(
                error_text(body.as_bytes(), std::slice::from_ref(&secret)),
                want,
                "{body}"
            );
        }
    }

    #[test]
    fn credentials_answers() {
        let now = Utc::now();
        let k = parse_credential(
            br#"{"credential":{"access":"TMPAK","secret":"s","securitytoken":"t","expires_at":"2026-12-03T21:00:00.000000Z"}}"#,
            now,
        )
        .expect("parsed");
        assert_eq!(k.access_key, "TMPAK");
        assert_eq!(k.expires_at.to_rfc3339(), "2026-12-03T21:00:00+00:00");
        let e = parse_credential(
            br#"{"credential":{"access":"A","secret":"SECRETVALUE"}}"#,
            now,
        )
        .err()
        .expect("missing fields");
        assert!(!e.contains("SECRETVALUE"), "{e}");
        assert!(parse_credential(b"nope", now).is_err());
    }
}
