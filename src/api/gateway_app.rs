//! GatewayApp: an app (app key + app secret) on one of four Huawei Cloud services, delivered
//! into a Secret (SPEC §3).

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    Condition, DNS1123_SUBDOMAIN, DeletionPolicy, LocalObjectReference, annotations_schema,
    conditions_schema, labels_schema,
};

/// Valid Secret data key.
const SECRET_KEY: &str = r"^[-._a-zA-Z0-9]+$";

/// Guard shared by the transition rules: true (no constraint) until the app exists.
macro_rules! before_app {
    () => {
        "!has(oldSelf.status) || !has(oldSelf.status.appId) || oldSelf.status.appId == ''"
    };
}

/// Desired state of a GatewayApp.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "appauth.hwcloud.dev",
    version = "v1alpha1",
    kind = "GatewayApp",
    namespaced,
    status = "GatewayAppStatus",
    shortname = "gwapp",
    category = "appauth",
    doc = "A Huawei Cloud API-gateway app (app key + app secret) delivered into a Secret.",
    printcolumn(name = "Service", type_ = "string", json_path = ".status.service"),
    printcolumn(name = "App ID", type_ = "string", json_path = ".status.appId"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Secret", type_ = "string", json_path = ".status.secretName"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(concat!(before_app!(), " || (has(self.spec.apig) == has(oldSelf.spec.apig) && has(self.spec.modelarts) == has(oldSelf.spec.modelarts) && has(self.spec.dataarts) == has(oldSelf.spec.dataarts) && has(self.spec.roma) == has(oldSelf.spec.roma))"))
        .message("spec.apig/modelarts/dataarts/roma: the service block is immutable once status.appId is set"),
    validation = Rule::new(concat!(before_app!(), " || !has(self.spec.apig) || !has(oldSelf.spec.apig) || self.spec.apig.instanceId == oldSelf.spec.apig.instanceId"))
        .message("spec.apig.instanceId is immutable once status.appId is set"),
    validation = Rule::new(concat!(before_app!(), " || !has(self.spec.roma) || !has(oldSelf.spec.roma) || self.spec.roma.instanceId == oldSelf.spec.roma.instanceId"))
        .message("spec.roma.instanceId is immutable once status.appId is set"),
    validation = Rule::new(concat!(before_app!(), " || !has(self.spec.modelarts) || !has(oldSelf.spec.modelarts) || self.spec.modelarts.workspaceId == oldSelf.spec.modelarts.workspaceId"))
        .message("spec.modelarts.workspaceId is immutable once status.appId is set"),
    validation = Rule::new(concat!(before_app!(), " || !has(self.spec.dataarts) || !has(oldSelf.spec.dataarts) || self.spec.dataarts.workspaceId == oldSelf.spec.dataarts.workspaceId"))
        .message("spec.dataarts.workspaceId is immutable once status.appId is set"),
    validation = Rule::new(concat!(before_app!(), " || !has(self.spec.dataarts) || !has(oldSelf.spec.dataarts) || self.spec.dataarts.dlmType == oldSelf.spec.dataarts.dlmType"))
        .message("spec.dataarts.dlmType is immutable once status.appId is set"),
    validation = Rule::new(concat!(before_app!(), " || (!has(self.spec.appName) ? !has(oldSelf.spec.appName) : (has(oldSelf.status.appName) ? self.spec.appName == oldSelf.status.appName : (has(oldSelf.spec.appName) && self.spec.appName == oldSelf.spec.appName)))"))
        .message("spec.appName is immutable once status.appId is set: it can be neither changed nor removed (it may only restate the name in use, status.appName)"),
    validation = Rule::new(concat!(before_app!(), " || self.spec.credentials == oldSelf.spec.credentials"))
        .message("spec.credentials is immutable once status.appId is set"),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("[has(self.apig), has(self.modelarts), has(self.dataarts), has(self.roma)].filter(x, x).size() == 1")
        .message("spec: exactly one of apig, modelarts, dataarts or roma must be set"),
    validation = Rule::new("!has(self.apig) || !has(self.appName) || self.appName.matches('^\\\\p{L}[\\\\p{L}\\\\p{N}_]{2,63}$')")
        .message("spec.appName: for apig it must be 3-64 characters, start with a letter, and contain only letters, digits and _")
        .field_path(".appName"),
    validation = Rule::new("!has(self.roma) || !has(self.appName) || self.appName.matches('^[\\\\p{L}\\\\p{N}][\\\\p{L}\\\\p{N}_.() -]*$')")
        .message("spec.appName: for roma it must start with a letter or digit and contain only letters, digits, spaces and _ - . ( )")
        .field_path(".appName"),
    validation = Rule::new("!has(self.modelarts) || !has(self.description) || size(self.description) <= 172")
        .message("spec.description: for modelarts it may have at most 172 characters (200 minus the operator's fingerprint)")
        .field_path(".description"),
    validation = Rule::new("self.credentials == 'CloudGenerated' || has(self.apig) || has(self.roma)")
        .message("spec.credentials: Generated and FromSecret are only supported for apig and roma")
        .field_path(".credentials"),
    validation = Rule::new("self.credentials != 'FromSecret' || has(self.credentialsFrom)")
        .message("spec.credentialsFrom is required when spec.credentials is FromSecret")
        .field_path(".credentialsFrom"),
    validation = Rule::new("!has(self.credentialsFrom) || self.credentials == 'FromSecret'")
        .message("spec.credentialsFrom may only be set when spec.credentials is FromSecret")
        .field_path(".credentialsFrom"),
    validation = Rule::new("!self.appCode || has(self.apig) || has(self.modelarts)")
        .message("spec.appCode: AppCodes exist only for apig and modelarts")
        .field_path(".appCode"),
)]
pub struct GatewayAppSpec {
    /// APIG dedicated gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apig: Option<ApigTarget>,
    /// ModelArts app authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modelarts: Option<Box<ModelArtsTarget>>,
    /// DataArts Studio DataService.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataarts: Option<Box<DataArtsTarget>>,
    /// ROMA Connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roma: Option<Box<RomaTarget>>,

    /// Cloud-side app name; default: a cleaned `<namespace>_<name>` prefix plus a hash, computed once and kept in status.appName.
    #[schemars(length(min = 1, max = 64))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,

    /// Cloud-side description. The operator appends a 28-character fingerprint.
    #[schemars(length(max = 227))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// Where the app key and secret come from.
    #[serde(default)]
    pub credentials: CredentialsMode,

    /// With `credentials: FromSecret`: a Secret in this namespace with keys app_key and app_secret.
    /// Label it `appauth.hwcloud.dev/credentials-source: "true"` to have changes pushed at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_from: Option<Box<LocalObjectReference>>,

    /// Also create an AppCode (apig, modelarts) and deliver it under keys.appCode.
    #[serde(default)]
    pub app_code: bool,

    /// Where the credentials are delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Box<SecretTarget>>,

    /// Periodic rotation of the app secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Box<RotationSpec>>,

    /// Delete (default) removes the cloud app with the object; Retain keeps it and the Secret.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// A Secret in this namespace with cloud credentials; default: the operator's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_ref: Option<Box<LocalObjectReference>>,
}

/// APIG dedicated gateway.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApigTarget {
    /// Gateway instance id.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub instance_id: String,
}

/// ModelArts app authentication.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelArtsTarget {
    /// ModelArts workspace; "0" is the default workspace.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    #[serde(default = "default_workspace")]
    pub workspace_id: String,
}

impl Default for ModelArtsTarget {
    fn default() -> Self {
        Self {
            workspace_id: default_workspace(),
        }
    }
}

pub(crate) fn default_workspace() -> String {
    "0".to_string()
}

/// DataArts Studio DataService.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataArtsTarget {
    /// DataArts workspace id.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub workspace_id: String,
    /// Data service edition.
    #[serde(default)]
    pub dlm_type: DlmType,
}

/// DataArts DataService edition.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DlmType {
    #[default]
    Shared,
    Exclusive,
}

/// ROMA Connect.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RomaTarget {
    /// ROMA Connect instance id.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub instance_id: String,
    /// Mark the app as a favorite in the console.
    #[serde(default)]
    pub favorite: bool,
}

/// Where the app key and secret come from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CredentialsMode {
    /// The cloud chooses the key and secret.
    #[default]
    CloudGenerated,
    /// The operator generates them (apig, roma).
    Generated,
    /// Taken from spec.credentialsFrom (apig, roma).
    FromSecret,
}

/// The Secret that receives the credentials.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.template) || !(self.keys.appKey in self.template || self.keys.appSecret in self.template || self.keys.appId in self.template || self.keys.appCode in self.template)")
    .message("spec.secret.template: a template key may not be one of the credential keys (spec.secret.keys)"))]
pub struct SecretTarget {
    /// Secret name; default: the GatewayApp's name.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Data keys for each credential.
    #[serde(default)]
    pub keys: SecretKeys,
    /// Labels merged into the Secret's metadata.
    #[schemars(schema_with = "labels_schema")]
    #[x_kube(validation = Rule::new("!('app.kubernetes.io/managed-by' in self) && !('appauth.hwcloud.dev/owner-kind' in self)")
        .message("spec.secret.labels: app.kubernetes.io/managed-by and appauth.hwcloud.dev/owner-kind are set by the operator"))]
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations merged into the Secret's metadata.
    #[schemars(schema_with = "annotations_schema")]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('appauth.hwcloud.dev/'))")
        .message("spec.secret.annotations: keys under appauth.hwcloud.dev/ are reserved for the operator"))]
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Extra data keys rendered from templates (minijinja, Jinja2 syntax): data key -> template.
    /// Variables: appKey, appSecret, appId, appCode (with spec.appCode), name, namespace,
    /// service, instance, secretName. Filters besides the built-ins: b64encode. Undefined
    /// variables are errors; each template has a work budget and renders to at most 16 KiB.
    #[schemars(schema_with = "template_schema")]
    #[x_kube(validation = Rule::new("self.all(k, size(k) <= 253 && k.matches('^[-._a-zA-Z0-9]+$'))")
        .message("spec.secret.template: keys must be valid Secret data keys (letters, digits, '-', '_', '.'; at most 253 characters)"))]
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub template: BTreeMap<String, String>,
}

/// Most templates in spec.secret.template.
pub const MAX_TEMPLATES: u32 = 16;
/// Longest template source, in characters.
pub const MAX_TEMPLATE_LEN: u32 = 4096;

fn template_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": MAX_TEMPLATES,
        "additionalProperties": {"type": "string", "maxLength": MAX_TEMPLATE_LEN},
    })
}

/// Data keys of the credentials Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.appKey != self.appSecret && self.appKey != self.appId && self.appKey != self.appCode && self.appSecret != self.appId && self.appSecret != self.appCode && self.appId != self.appCode")
    .message("spec.secret.keys: appKey, appSecret, appId and appCode must be distinct"))]
pub struct SecretKeys {
    /// The data key holding the app key (default `app_key`).
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_KEY))]
    #[serde(default = "default_key_app_key")]
    pub app_key: String,
    /// The data key holding the app secret (default `app_secret`).
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_KEY))]
    #[serde(default = "default_key_app_secret")]
    pub app_secret: String,
    /// The data key holding the cloud app's id (default `app_id`).
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_KEY))]
    #[serde(default = "default_key_app_id")]
    pub app_id: String,
    /// The data key holding the AppCode, with `spec.appCode` (default `app_code`).
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_KEY))]
    #[serde(default = "default_key_app_code")]
    pub app_code: String,
}

fn default_key_app_key() -> String {
    "app_key".into()
}
fn default_key_app_secret() -> String {
    "app_secret".into()
}
fn default_key_app_id() -> String {
    "app_id".into()
}
fn default_key_app_code() -> String {
    "app_code".into()
}

impl Default for SecretKeys {
    fn default() -> Self {
        Self {
            app_key: default_key_app_key(),
            app_secret: default_key_app_secret(),
            app_id: default_key_app_id(),
            app_code: default_key_app_code(),
        }
    }
}

/// Periodic rotation.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RotationSpec {
    /// How often to reset the secret, as a Go duration (`720h`, `90m`); at least 1h.
    #[schemars(length(min = 2, max = 32))]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1h')")
        .message("spec.rotation.interval must be a duration such as 720h, of at least 1h"))]
    pub interval: String,
}

/// Observed state of a GatewayApp.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayAppStatus {
    /// The metadata.generation the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Synced, Reconciling, Stalled.
    #[schemars(schema_with = "conditions_schema")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// apig, modelarts, dataarts or roma.
    #[schemars(length(max = 16))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The cloud app id.
    #[schemars(length(max = 128))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// The cloud app name in use; never recomputed once set.
    #[schemars(length(max = 64))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
    /// Project id the app lives in.
    #[schemars(length(max = 64))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Region the app lives in.
    #[schemars(length(max = 64))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Gateway instance (apig, roma) or workspace (modelarts, dataarts) the app lives in.
    #[schemars(length(max = 64))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The Secret holding the credentials.
    #[schemars(length(max = 253))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Last completed rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Box<RotationStatus>>,
    /// The accountRef Secret the object last used; when the ref changes, that Secret's in-use
    /// finalizer is released (unless another object still uses it).
    #[schemars(length(max = 253))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_secret: Option<String>,
}

/// Last completed rotation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationStatus {
    /// Value of the rotate annotation that was last honoured.
    #[schemars(length(max = 256))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_token: Option<String>,
    /// When the secret was last rotated (RFC 3339).
    #[schemars(length(max = 64))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<String>,
}
