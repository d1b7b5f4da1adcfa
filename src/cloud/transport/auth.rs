//! Authorization of a request: an AK/SK signature over what will be sent, or an IAM token.
//! Signing is pure (the time is an argument); only fetching a token does IO.

use chrono::{DateTime, Utc};

use super::CloudClient;
use crate::cloud::credentials::Credentials;
use crate::cloud::error::CloudError;
use crate::cloud::secret::{ExposeSecret, SecretString};
use crate::cloud::signer;

/// What the signature covers besides the headers.
pub(super) struct Signed<'a> {
    pub method: &'a str,
    /// The path as sent (after URL parsing).
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
}

/// AK/SK credentials, borrowed from the account.
pub(super) struct AkSk<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a SecretString,
    pub security_token: Option<&'a SecretString>,
    pub project_id: &'a str,
}

/// Adds the project, the temporary-credential token if any, the SDK's date and host headers,
/// and last the Authorization header signing all of them.
pub(super) fn sign(
    headers: &mut Vec<(String, String)>,
    creds: &AkSk<'_>,
    host: &str,
    signed: &Signed<'_>,
    now: DateTime<Utc>,
) {
    // Not yet known while the project id is being looked up (IAM calls need none).
    if !creds.project_id.is_empty() {
        headers.push(("X-Project-Id".into(), creds.project_id.to_string()));
    }
    if let Some(token) = creds.security_token {
        headers.push(("X-Security-Token".into(), token.expose_secret().to_string()));
    }
    signer::prepare_headers(headers, host, now);
    let signature = signer::sign(
        &signer::SigningRequest {
            method: signed.method,
            path: signed.path,
            query: signed.query,
            headers,
            body: signed.body,
        },
        creds.access_key,
        creds.secret_key.expose_secret().as_bytes(),
    );
    headers.push(("Authorization".into(), signature.authorization));
}

impl CloudClient {
    /// Adds this account's authorization to `headers`: signed now, or its (cached) IAM token.
    pub(super) async fn authorize(
        &self,
        headers: &mut Vec<(String, String)>,
        host: &str,
        signed: &Signed<'_>,
    ) -> Result<(), CloudError> {
        match &self.account.credentials {
            Credentials::AkSk {
                access_key,
                secret_key,
                security_token,
            } => {
                let creds = AkSk {
                    access_key,
                    secret_key,
                    security_token: security_token.as_ref(),
                    project_id: &self.account.project_id,
                };
                sign(headers, &creds, host, signed, Utc::now());
            }
            Credentials::Temporary { source } => {
                let Some(temporary) = &self.temporary else {
                    // Never sent unsigned.
                    return Err(CloudError::Credentials {
                        from: source.describe(),
                        category: crate::cloud::ErrorCategory::InvalidRequest,
                        detail: "no credential cache for this client".into(),
                    });
                };
                {
                    let keys = temporary.get(&self.cloud.http).await?;
                    let creds = AkSk {
                        access_key: &keys.access_key,
                        secret_key: &keys.secret_key,
                        security_token: Some(&keys.security_token),
                        project_id: &self.account.project_id,
                    };
                    sign(headers, &creds, host, signed, Utc::now());
                }
            }
            Credentials::Password { .. } => {
                if let Some(tokens) = &self.tokens {
                    let token = tokens.token(&self.cloud.http).await?;
                    headers.push(("X-Auth-Token".into(), token.expose_secret().to_string()));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_headers(token: Option<&SecretString>) -> Vec<(String, String)> {
        let sk = SecretString::from("very-secret-sk");
        let creds = AkSk {
            access_key: "AK",
            secret_key: &sk,
            security_token: token,
            project_id: "proj",
        };
        let signed = Signed {
            method: "GET",
            path: "/v2/apps",
            query: &[],
            body: b"",
        };
        let now = DateTime::parse_from_rfc3339("2024-01-02T03:04:05Z")
            .expect("time")
            .with_timezone(&Utc);
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        sign(&mut headers, &creds, "apig.example.com", &signed, now);
        headers
    }

    fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn signs_everything_it_adds() {
        let token = SecretString::from("temporary-token");
        let headers = signed_headers(Some(&token));
        assert_eq!(get(&headers, "X-Project-Id"), Some("proj"));
        assert_eq!(get(&headers, "X-Security-Token"), Some("temporary-token"));
        assert_eq!(get(&headers, "X-Sdk-Date"), Some("20240102T030405Z"));
        assert_eq!(get(&headers, "Host"), Some("apig.example.com"));
        let auth = get(&headers, "Authorization").expect("signed");
        assert!(
            auth.starts_with("SDK-HMAC-SHA256 Access=AK, SignedHeaders="),
            "{auth}"
        );
        for name in [
            "content-type",
            "host",
            "x-project-id",
            "x-sdk-date",
            "x-security-token",
        ] {
            assert!(auth.contains(name), "{name} unsigned: {auth}");
        }
        // The Authorization header comes last: nothing added after it goes unsigned.
        assert_eq!(
            headers.last().map(|(k, _)| k.as_str()),
            Some("Authorization")
        );
    }

    #[test]
    fn no_token_header_without_a_token_and_never_the_sk() {
        let headers = signed_headers(None);
        assert_eq!(get(&headers, "X-Security-Token"), None);
        assert!(headers.iter().all(|(_, v)| !v.contains("very-secret-sk")));
    }

    #[test]
    fn the_signature_is_deterministic_for_a_fixed_time() {
        assert_eq!(
            get(&signed_headers(None), "Authorization"),
            get(&signed_headers(None), "Authorization")
        );
    }
}
