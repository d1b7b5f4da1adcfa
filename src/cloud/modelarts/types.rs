//! The ModelArts types callers see: apps, inference APIs, bind results and a new API's fields.

use serde::{Deserialize, Serialize};

use crate::cloud::secret::SecretString;

#[derive(Debug, Clone, Deserialize)]
pub struct ModelArtsApp {
    #[serde(deserialize_with = "crate::cloud::ids::non_empty")]
    pub app_id: String,
    pub app_name: String,
    #[serde(default)]
    pub app_key: Option<String>,
    /// Masked (contains `*`) unless read with the plaintext flag.
    #[serde(default)]
    pub app_secret: Option<SecretString>,
    #[serde(default)]
    pub app_remark: Option<String>,
    #[serde(default)]
    pub app_codes: Vec<SecretString>,
    #[serde(default)]
    pub bounded_api_count: Option<i64>,
}

/// `AuthTypeApiBasicInfo`.
#[derive(Debug, Clone, Deserialize)]
pub struct InferenceApiInfo {
    #[serde(deserialize_with = "crate::cloud::ids::non_empty")]
    pub api_id: String,
    #[serde(default)]
    pub api_name: Option<String>,
    #[serde(default)]
    pub api_method: Option<String>,
    #[serde(default)]
    pub api_remark: Option<String>,
    #[serde(default)]
    pub auth_type: Option<String>,
    #[serde(default)]
    pub predict_url: Option<String>,
    #[serde(default)]
    pub service_id: Option<String>,
    #[serde(default)]
    pub support_app_code: Option<bool>,
}

/// One entry of a bind/unbind result: HTTP 200 does not mean every binding succeeded.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthResult {
    #[serde(default)]
    pub api_id: Option<String>,
    #[serde(deserialize_with = "crate::cloud::ids::non_empty")]
    pub app_id: String,
    #[serde(default)]
    pub auth_id: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub success: bool,
}

/// Fields of a new inference API (seed 004).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApiInput {
    pub workspace_id: String,
    pub support_app_code: bool,
    pub auth_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_path: Option<String>,
    pub api_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_remark: Option<String>,
}
