//! AppAuthPolicy: which namespaces may use which account, services, instances, adoption and
//! deletion policies (cluster-scoped; grants are additive). AppAuthGrantSet: every policy in one
//! object, written by the operator, read by the ValidatingAdmissionPolicy (an admission policy
//! sees one parameter object at a time, so additive grants must arrive together).

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DeletionPolicy, conditions_schema};

/// A namespace name (DNS-1123 label).
const NAMESPACE_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// An instance or workspace id, or a pattern where `*` stands for any characters.
const INSTANCE_PATTERN: &str = r"^[A-Za-z0-9_.*-]+$";

/// Grants a set of namespaces the right to use an account, services and instances.
// The printer columns repeat `type_ = "integer"`, which clippy takes for a repeated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "appauth.hwcloud.dev",
    version = "v1alpha1",
    kind = "AppAuthPolicy",
    status = "AppAuthPolicyStatus",
    shortname = "aapolicy",
    category = "appauth",
    doc = "Grants namespaces the use of an account, services, instances, adoption and deletion policies. Grants are additive: a request is allowed when some policy allows it. Once any policy exists, a namespace that no policy grants can do nothing.",
    printcolumn(name = "Services", type_ = "string", json_path = ".spec.services"),
    printcolumn(name = "Adoption", type_ = "boolean", json_path = ".spec.adoption"),
    printcolumn(
        name = "Namespaces",
        type_ = "integer",
        json_path = ".status.namespaces"
    ),
    printcolumn(
        name = "GatewayApps",
        type_ = "integer",
        json_path = ".status.gatewayApps"
    ),
    printcolumn(
        name = "InferenceApis",
        type_ = "integer",
        json_path = ".status.inferenceApis"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AppAuthPolicySpec {
    /// The namespaces this policy grants: by name, by label selector, or both (either matches).
    pub namespaces: NamespaceSelection,
    /// The accounts they may use: `Default` (the operator's own account, no accountRef) and
    /// `OwnSecrets` (accountRef Secrets in their own namespace).
    #[schemars(length(min = 1, max = 2))]
    #[serde(default = "own_secrets")]
    pub accounts: Vec<AccountGrant>,
    /// The services (inference APIs count as modelarts).
    #[schemars(length(min = 1, max = 4))]
    pub services: Vec<ServiceGrant>,
    /// APIG and ROMA instance ids, ModelArts and DataArts workspace ids: exact, or patterns in
    /// which `*` stands for any characters (`"*"` for all).
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 64), regex(pattern = INSTANCE_PATTERN)))]
    pub instances: Vec<String>,
    /// May they bind an object to an app that already exists and is not theirs (annotation
    /// appauth.hwcloud.dev/adopt, or appauth.hwcloud.dev/app-id on an object not yet bound)?
    #[serde(default)]
    pub adoption: bool,
    /// The deletion policies they may set.
    #[schemars(length(min = 1, max = 2))]
    #[serde(default = "both_deletion_policies")]
    pub deletion_policies: Vec<DeletionPolicy>,
}

fn own_secrets() -> Vec<AccountGrant> {
    vec![AccountGrant::OwnSecrets]
}

fn both_deletion_policies() -> Vec<DeletionPolicy> {
    vec![DeletionPolicy::Delete, DeletionPolicy::Retain]
}

/// Namespaces by name and by label selector.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("size(self.names) > 0 || has(self.selector)")
        .message("spec.namespaces: set names, selector, or both"),
)]
pub struct NamespaceSelection {
    /// Namespace names.
    #[schemars(length(max = 256), inner(length(min = 1, max = 63), regex(pattern = NAMESPACE_NAME)))]
    #[serde(default)]
    pub names: Vec<String>,
    /// Namespaces whose labels match (an empty selector matches every namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<NamespaceSelector>,
}

/// A label selector over namespaces (the usual matchLabels and matchExpressions).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Labels a namespace must carry, each with exactly this value.
    #[schemars(schema_with = "selector_labels_schema")]
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Requirements on a namespace's labels; all must hold (and matchLabels too).
    #[schemars(length(max = 16))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<SelectorRequirement>,
}

fn selector_labels_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 16,
        "additionalProperties": {"type": "string", "maxLength": 63},
    })
}

/// One requirement of a selector.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(self.operator == 'In' || self.operator == 'NotIn') == (size(self.values) > 0)")
        .message("matchExpressions: In and NotIn need values; Exists and DoesNotExist take none"),
)]
pub struct SelectorRequirement {
    /// The label key the requirement is about.
    #[schemars(length(min = 1, max = 317))]
    pub key: String,
    /// In or NotIn (the label's value is, or is not, one of values), Exists or DoesNotExist
    /// (the namespace has, or lacks, the label).
    pub operator: SelectorOperator,
    /// The values for In and NotIn; empty for Exists and DoesNotExist.
    #[schemars(length(max = 32), inner(length(max = 63)))]
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// Which account a granted namespace may use.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AccountGrant {
    /// The operator's own account (objects without accountRef).
    Default,
    /// accountRef Secrets in the object's own namespace.
    OwnSecrets,
}

/// A service a granted namespace may use.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceGrant {
    Apig,
    Modelarts,
    Dataarts,
    Roma,
}

impl ServiceGrant {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceGrant::Apig => "apig",
            ServiceGrant::Modelarts => "modelarts",
            ServiceGrant::Dataarts => "dataarts",
            ServiceGrant::Roma => "roma",
        }
    }
}

/// What a policy governs now.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppAuthPolicyStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Namespaces the policy grants (that exist).
    #[serde(default)]
    pub namespaces: i64,
    /// GatewayApps in those namespaces.
    #[serde(default)]
    pub gateway_apps: i64,
    /// InferenceApis in those namespaces.
    #[serde(default)]
    pub inference_apis: i64,
    /// Reserved for conditions about the policy; this version writes none (the counts above
    /// and observedGeneration say the policy was taken into account).
    #[schemars(schema_with = "conditions_schema")]
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// Every AppAuthPolicy in one object, for the admission policy. Written by the operator; do not
/// edit (the next policy change overwrites it).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "appauth.hwcloud.dev",
    version = "v1alpha1",
    kind = "AppAuthGrantSet",
    category = "appauth",
    doc = "Every AppAuthPolicy in one object, written by the operator for the ValidatingAdmissionPolicy (which sees one parameter object at a time). Do not edit.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AppAuthGrantSetSpec {
    /// One entry per AppAuthPolicy.
    #[schemars(length(max = 1024))]
    #[serde(default)]
    pub grants: Vec<CompiledGrant>,
}

/// One policy, with its instance patterns as anchored regular expressions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompiledGrant {
    /// The AppAuthPolicy's name.
    #[schemars(length(max = 253))]
    pub policy: String,
    pub rules: AppAuthPolicySpec,
    /// `rules.instances` as anchored regular expressions (RE2 and Rust's regex agree on them).
    #[schemars(length(max = 64), inner(length(max = 160)))]
    pub instance_regexes: Vec<String>,
}
