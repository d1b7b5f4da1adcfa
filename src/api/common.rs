//! Types and schema helpers shared by both kinds.

use compact_str::CompactString;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Fingerprint appended to a cloud description: ` [appauth:` + 8 + `/` + 8 chars + `]`.
pub const FINGERPRINT_LEN: usize = 28;

/// Regular expression for a DNS-1123 subdomain (Secret and other object names).
pub const DNS1123_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A reference to an object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the object, in the same namespace as the referring object.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN))]
    pub name: String,
}

/// What happens to the cloud resource (and the Secret) when the object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the cloud resource; the Secret is garbage-collected with the object.
    #[default]
    Delete,
    /// Keep the cloud resource and the Secret.
    Retain,
}

// Every cached object holds four conditions: the short fields are inline strings (up to 24
// bytes without a heap allocation), and the message a boxed str, so that a condition is 128
// bytes and the four fill one 512-byte allocation (a unit test keeps them there).
/// A `metav1.Condition`-shaped condition with bounded fields.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of the condition: Ready, Synced, Reconciling, Stalled or AppsBound.
    #[schemars(with = "String", length(min = 1, max = 64))]
    #[serde(rename = "type")]
    pub type_: CompactString,
    /// "True", "False" or "Unknown".
    #[schemars(with = "String", length(min = 1, max = 16))]
    pub status: CompactString,
    /// A CamelCase reason from the documented set.
    #[schemars(with = "String", length(max = 64))]
    #[serde(default)]
    pub reason: CompactString,
    /// Human-readable detail. Never carries secret material.
    #[schemars(length(max = 1024))]
    #[serde(default)]
    pub message: Box<str>,
    /// The metadata.generation this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the status last changed (RFC 3339).
    #[schemars(with = "String", length(max = 64))]
    #[serde(default)]
    pub last_transition_time: CompactString,
}

/// Schema of the conditions list: a list-map keyed by type, so server-side apply merges it.
pub fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<Condition>();
    json_schema!({
        "type": "array",
        "maxItems": 8,
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    })
}

/// Schema of a string map with bounded keys, values and size (labels, annotations).
fn string_map(max_properties: u32, max_value: u32) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": max_properties,
        "additionalProperties": {"type": "string", "maxLength": max_value},
    })
}

pub fn labels_schema(_: &mut SchemaGenerator) -> Schema {
    string_map(64, 63)
}

pub fn annotations_schema(_: &mut SchemaGenerator) -> Schema {
    string_map(64, 4096)
}
