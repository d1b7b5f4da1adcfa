//! The custom resource types: GatewayApp, InferenceApi, and the tenancy policy. Types only, no IO.

mod common;
mod gateway_app;
mod inference_api;
mod policy;

pub use common::*;
pub use gateway_app::*;
pub use inference_api::*;
pub use policy::*;

/// API group of both kinds.
pub const GROUP: &str = "appauth.hwcloud.dev";
/// Label on everything the operator creates.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "appauth-operator";
/// On Secrets the operator writes for an InferenceApi (its connection Secret): their watch
/// brings that InferenceApi back, not a GatewayApp.
pub const OWNER_KIND_LABEL: &str = "appauth.hwcloud.dev/owner-kind";
/// Finalizer on GatewayApps and InferenceApis.
pub const CLEANUP_FINALIZER: &str = "appauth.hwcloud.dev/cleanup";
/// Finalizer on account Secrets referenced by live objects.
pub const IN_USE_FINALIZER: &str = "appauth.hwcloud.dev/in-use";
/// Label users put on account Secrets so that the operator watches them.
pub const ACCOUNT_LABEL: &str = "appauth.hwcloud.dev/account";
/// Label users put on `credentialsFrom` Secrets so that a change is pushed at once, not at the
/// next resync.
pub const CREDENTIALS_SOURCE_LABEL: &str = "appauth.hwcloud.dev/credentials-source";

/// Annotations, all under the API group.
pub mod annotations {
    pub const PENDING: &str = "appauth.hwcloud.dev/pending";
    pub const APP_ID: &str = "appauth.hwcloud.dev/app-id";
    pub const API_ID: &str = "appauth.hwcloud.dev/api-id";
    pub const OWNER_UID: &str = "appauth.hwcloud.dev/owner-uid";
    pub const ADOPT: &str = "appauth.hwcloud.dev/adopt";
    pub const ROTATE: &str = "appauth.hwcloud.dev/rotate";
    pub const PAUSED: &str = "appauth.hwcloud.dev/paused";
    /// Set while a rotation is between the cloud reset and the Secret write.
    pub const ROTATING: &str = "appauth.hwcloud.dev/rotating";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each cached GatewayApp (the kind users make by the thousand) is one allocation of this
    /// size behind an Arc's two counts, and jemalloc rounds it up to a size class: 768 bytes
    /// holds it; the next class is 896, and with the spec's and status's rarely set parts
    /// inline it took 1,280. Those parts are boxed to stay within it.
    #[test]
    fn a_cached_gateway_app_fits_its_size_class() {
        let size = std::mem::size_of::<GatewayApp>() + 2 * std::mem::size_of::<usize>();
        assert!(size <= 768, "{size} bytes");
    }

    /// The four conditions of each cached object are one allocation: 4 x 128 bytes is exactly
    /// jemalloc's 512-byte class (with a String message, 136 bytes each took the 640 class), and
    /// the short fields are inline (a type, a status, a reason and a time of up to 24 bytes
    /// allocate nothing).
    #[test]
    fn four_conditions_fill_one_size_class_and_their_short_fields_are_inline() {
        assert_eq!(std::mem::size_of::<Condition>(), 128);
        let c: Condition = serde_json::from_value(serde_json::json!({
            "type": "Reconciling", "status": "False", "reason": "ReconcileSucceeded",
            "message": "", "lastTransitionTime": "2026-12-06T20:10:17Z"
        }))
        .expect("a condition");
        for s in [&c.type_, &c.status, &c.reason, &c.last_transition_time] {
            assert!(!s.is_heap_allocated(), "{s} is on the heap");
        }
    }
}
