//! ID tokens for a namespace's own ServiceAccount (TokenRequest), federated at IAM for the
//! objects whose accountRef Secret names it. Requested at each exchange and never stored.

use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Client;
use kube::api::{Api, PostParams};

use crate::cloud::federation::{IdTokenSource, refused};
use crate::cloud::{CloudError, ErrorCategory, SecretString};

/// The shortest lifetime the apiserver grants; the token is used at once.
const TOKEN_SECONDS: i64 = 600;

pub struct ServiceAccountToken {
    pub client: Client,
    pub namespace: String,
    pub name: String,
    pub audience: String,
}

impl std::fmt::Debug for ServiceAccountToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl IdTokenSource for ServiceAccountToken {
    fn describe(&self) -> String {
        format!(
            "ServiceAccount {}/{} (audience {})",
            self.namespace, self.name, self.audience
        )
    }

    fn token(&self) -> BoxFuture<'_, Result<SecretString, CloudError>> {
        Box::pin(async move {
            let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
            let request = TokenRequest {
                spec: Some(TokenRequestSpec {
                    audiences: Some(vec![self.audience.clone()]),
                    expiration_seconds: Some(TOKEN_SECONDS),
                    ..TokenRequestSpec::default()
                }),
                ..TokenRequest::default()
            };
            let answer = api
                .create_token_request(&self.name, &PostParams::default(), &request)
                .await
                .map_err(|e| refused(&self.describe(), category(&e), detail(&e)))?;
            answer
                .status
                .and_then(|s| s.token)
                .map(SecretString::from)
                .ok_or_else(|| {
                    refused(
                        &self.describe(),
                        ErrorCategory::Transient,
                        "the TokenRequest answer has no token".into(),
                    )
                })
        })
    }
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// A missing ServiceAccount or a refused TokenRequest needs someone to act; anything else may
/// pass.
fn category(e: &kube::Error) -> ErrorCategory {
    match status_code(e) {
        Some(401 | 403 | 404) => ErrorCategory::Unauthorized,
        _ => ErrorCategory::Transient,
    }
}

fn detail(e: &kube::Error) -> String {
    match status_code(e) {
        Some(404) => "no such ServiceAccount in this namespace".into(),
        Some(403) => {
            "the operator may not request its tokens (it needs create on serviceaccounts/token)"
                .into()
        }
        _ => format!("requesting a token: {e}"),
    }
}
