//! The audit trail: one info line per cloud mutation that took effect, naming what was done, to
//! which cloud resource and for which object. Only kinds, names and ids: never a credential.
//! The lines carry the target `appauth_operator::audit`, so a log pipeline can route them
//! (`RUST_LOG=info` keeps them; `appauth_operator::audit=off` drops them).

use kube::{Resource, ResourceExt};

/// What a mutation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// A cloud app, AppCode or inference API made.
    Create,
    /// A create whose answer was lost (a crash, a timeout), found in the cloud afterwards: the
    /// create took effect, and this is its line.
    Recover,
    /// An existing cloud app taken over (adoption, a restore), its description rewritten.
    Adopt,
    /// A cloud resource's description or credentials changed to the spec's.
    Update,
    /// An app secret reset by the cloud (rotation, recovery of lost credentials).
    Reset,
    /// A reset whose answer was lost (a crash, a timeout), found afterwards: the cloud's secret
    /// is no longer the one delivered. After a crash between a reset and the Secret's write it
    /// follows that reset's own line.
    RecoverReset,
    /// A cloud resource deleted.
    Delete,
    /// An app bound to an inference API.
    Bind,
    /// An app unbound from an inference API.
    Unbind,
}

impl Mutation {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutation::Create => "create",
            Mutation::Recover => "recover",
            Mutation::Adopt => "adopt",
            Mutation::Update => "update",
            Mutation::Reset => "reset",
            Mutation::RecoverReset => "recover-reset",
            Mutation::Delete => "delete",
            Mutation::Bind => "bind",
            Mutation::Unbind => "unbind",
        }
    }
}

/// Logs one mutation of `resource` (`app`, `appcode`, `api`) with cloud id `cloud_id`, done on
/// behalf of `object`; `related` names the other side of a binding.
pub fn record<K>(
    object: &K,
    action: Mutation,
    service: impl std::fmt::Display,
    resource: &str,
    cloud_id: &str,
    related: Option<&str>,
) where
    K: Resource<DynamicType = ()>,
{
    tracing::info!(
        target: "appauth_operator::audit",
        action = action.as_str(),
        kind = %K::kind(&()),
        namespace = object.namespace().unwrap_or_default(),
        name = object.name_any(),
        service = %service,
        resource,
        cloud_id,
        related = related.unwrap_or_default(),
        "cloud mutation"
    );
}

/// A delete of the cloud app `id` of a GatewayApp, if it deleted anything (an app someone
/// else deleted first has no line).
pub fn app_deleted(
    object: &crate::api::GatewayApp,
    target: &crate::backend::Target,
    id: &str,
    deleted: crate::backend::Deleted,
) {
    if deleted == crate::backend::Deleted::Now {
        app(object, Mutation::Delete, target, id);
    }
}

/// A mutation of the cloud app `id` of a GatewayApp (the common case).
pub fn app(
    object: &crate::api::GatewayApp,
    action: Mutation,
    target: &crate::backend::Target,
    id: &str,
) {
    record(object, action, target.service(), "app", id, None);
}

/// A mutation of the ModelArts inference API `api_id` of an InferenceApi; `app_id` for a
/// binding.
pub fn api(
    object: &crate::api::InferenceApi,
    action: Mutation,
    api_id: &str,
    app_id: Option<&str>,
) {
    record(object, action, "modelarts", "api", api_id, app_id);
}
