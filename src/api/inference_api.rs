//! InferenceApi: an app-authenticated API on a ModelArts real-time service, authorized to
//! GatewayApps (SPEC §4).

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    Condition, DNS1123_SUBDOMAIN, DeletionPolicy, LocalObjectReference, conditions_schema,
};
use super::gateway_app::default_workspace;

/// Guard shared by the transition rules: true (no constraint) until the API exists.
macro_rules! before_api {
    () => {
        "!has(oldSelf.status) || !has(oldSelf.status.apiId) || oldSelf.status.apiId == ''"
    };
}

/// A transition rule that keeps an optional spec field unchanged once the API exists.
macro_rules! immutable_optional {
    ($field:literal) => {
        Rule::new(concat!(
            before_api!(),
            " || (has(self.spec.",
            $field,
            ") == has(oldSelf.spec.",
            $field,
            ") && (!has(self.spec.",
            $field,
            ") || self.spec.",
            $field,
            " == oldSelf.spec.",
            $field,
            "))"
        ))
        .message(concat!(
            "spec.",
            $field,
            " is immutable once status.apiId is set"
        ))
    };
}

/// Desired state of an InferenceApi.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "appauth.hwcloud.dev",
    version = "v1alpha1",
    kind = "InferenceApi",
    namespaced,
    status = "InferenceApiStatus",
    shortname = "infapi",
    category = "appauth",
    doc = "An app-authenticated API on a ModelArts real-time service, authorized to GatewayApps.",
    printcolumn(name = "Service", type_ = "string", json_path = ".spec.serviceId"),
    printcolumn(name = "API ID", type_ = "string", json_path = ".status.apiId"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Secret", type_ = "string", json_path = ".status.secretName"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(concat!(before_api!(), " || self.spec.serviceId == oldSelf.spec.serviceId"))
        .message("spec.serviceId is immutable once status.apiId is set"),
    validation = Rule::new(concat!(before_api!(), " || self.spec.workspaceId == oldSelf.spec.workspaceId"))
        .message("spec.workspaceId is immutable once status.apiId is set"),
    validation = Rule::new(concat!(before_api!(), " || self.spec.method == oldSelf.spec.method"))
        .message("spec.method is immutable once status.apiId is set"),
    validation = Rule::new(concat!(before_api!(), " || self.spec.authType == oldSelf.spec.authType"))
        .message("spec.authType is immutable once status.apiId is set"),
    validation = Rule::new(concat!(before_api!(), " || self.spec.supportAppCode == oldSelf.spec.supportAppCode"))
        .message("spec.supportAppCode is immutable once status.apiId is set"),
    validation = immutable_optional!("apiName"),
    validation = immutable_optional!("apiPath"),
    validation = immutable_optional!("apiUrl"),
    validation = immutable_optional!("description"),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.appRefs) || size(self.appRefs) == 0 || self.authType == 'APP'")
        .message("spec.appRefs may only be set when spec.authType is APP")
        .field_path(".appRefs"),
)]
pub struct InferenceApiSpec {
    /// The ModelArts real-time service the API belongs to.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9-]+$"))]
    pub service_id: String,
    /// ModelArts workspace; "0" is the default workspace.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    #[serde(default = "default_workspace")]
    pub workspace_id: String,
    /// API name; default derived from namespace and name like a GatewayApp's appName.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z][A-Za-z0-9_]*$"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_name: Option<String>,
    /// Path of the API, for example /v1/infers/<service id>.
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^/[^\s]*$"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_path: Option<String>,
    /// URL of the API.
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^https?://[^\s]+$"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// HTTP method of the API.
    #[serde(default)]
    pub method: ApiMethod,
    /// Authentication of the API.
    #[serde(default)]
    pub auth_type: AuthType,
    /// Whether callers may use an AppCode instead of a signature.
    #[serde(default)]
    pub support_app_code: bool,
    /// Cloud-side description. The operator appends a 28-character fingerprint.
    #[schemars(length(max = 227))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// GatewayApps (modelarts) in this namespace to authorize; only with authType APP.
    #[schemars(length(max = 64), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_refs: Vec<LocalObjectReference>,
    /// Optional connection Secret with predict_url and api_id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ConnectionSecret>,
    /// Delete (default) removes the API with the object; Retain keeps it and its bindings.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// A Secret in this namespace with cloud credentials; default: the operator's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_ref: Option<Box<LocalObjectReference>>,
}

/// HTTP method of an inference API.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ApiMethod {
    Get,
    Post,
    Put,
    Delete,
    Head,
    Patch,
    Options,
    #[default]
    Any,
}

/// Authentication of an inference API.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthType {
    None,
    #[default]
    App,
    Iam,
}

/// The connection Secret of an InferenceApi.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ConnectionSecret {
    /// Secret name; default: the InferenceApi's name.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN))]
    pub name: String,
}

/// Observed state of an InferenceApi.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InferenceApiStatus {
    /// The metadata.generation the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Synced, Reconciling, Stalled, AppsBound.
    #[schemars(schema_with = "conditions_schema")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The cloud API id.
    #[schemars(length(max = 128))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    /// The API name in use (the cloud may rename it).
    #[schemars(length(max = 128))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_name: Option<String>,
    /// URL that consumers call.
    #[schemars(length(max = 1024))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predict_url: Option<String>,
    /// Project id the API lives in.
    #[schemars(length(max = 64))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Region the API lives in.
    #[schemars(length(max = 64))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Apps currently authorized to the API.
    #[schemars(length(max = 64))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorized_apps: Vec<AuthorizedApp>,
    /// The connection Secret, when spec.secret is set.
    #[schemars(length(max = 253))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// The accountRef Secret the object last used; when the ref changes, that Secret's in-use
    /// finalizer is released (unless another object still uses it).
    #[schemars(length(max = 253))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_secret: Option<String>,
}

/// An app authorized to the API.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizedApp {
    /// GatewayApp name.
    #[schemars(length(max = 253))]
    pub name: String,
    /// Cloud app id.
    #[schemars(length(max = 128))]
    pub app_id: String,
}
