//! The managed-objects gauge, by kind and Ready state, kept from the watch caches.

use std::sync::Arc;

use super::Context;

/// Keeps the managed-objects gauge (by kind and Ready state) current from the caches.
pub(super) async fn count_managed(ctx: Arc<Context>) {
    fn ready(conditions: &[crate::api::Condition]) -> bool {
        conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    }
    loop {
        if let Some(store) = ctx.gateway_apps.get() {
            let all = store.state();
            let up = all
                .iter()
                .filter(|a| a.status.as_ref().is_some_and(|s| ready(&s.conditions)))
                .count() as i64;
            ctx.metrics
                .set_managed("GatewayApp", up, all.len() as i64 - up);
        }
        if let Some(store) = ctx.inference_apis.get() {
            let all = store.state();
            let up = all
                .iter()
                .filter(|a| a.status.as_ref().is_some_and(|s| ready(&s.conditions)))
                .count() as i64;
            ctx.metrics
                .set_managed("InferenceApi", up, all.len() as i64 - up);
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}
