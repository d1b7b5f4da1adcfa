//! What the operator writes about policies: the grant set the admission policy reads (every
//! policy in one object, or none while no policy exists), and each policy's status (the
//! namespaces and objects it governs). Both are written only when they change, after a policy
//! or namespace change or at a slow tick (objects come and go), so a cluster at rest sees no
//! writes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;

use super::Tenancy;
use crate::api::{AppAuthGrantSetSpec, AppAuthPolicy, AppAuthPolicyStatus};
use crate::controller::Context;
use crate::policy;

/// How often counts are brought up to date without a policy or namespace change.
const TICK: Duration = Duration::from_secs(10);

/// Runs until the trigger stream ends.
pub async fn publish(
    ctx: Arc<Context>,
    tenancy: Tenancy,
    mut changed: mpsc::UnboundedReceiver<()>,
) {
    if !tenancy.wait_listed().await {
        return;
    }
    // Unknown at start: what an earlier run left is brought in line on the first pass.
    let mut grants: Option<Option<AppAuthGrantSetSpec>> = None;
    let mut statuses: HashMap<String, AppAuthPolicyStatus> = HashMap::new();
    loop {
        let policies = tenancy.policies();
        let refs: Vec<&AppAuthPolicy> = policies.iter().map(|p| p.as_ref()).collect();
        let want = (!refs.is_empty()).then(|| policy::compile(&refs));
        if grants.as_ref() != Some(&want) {
            match ctx.publish_grants(want.as_ref()).await {
                Ok(()) => grants = Some(want),
                Err(e) => tracing::warn!(error = %e, "writing the AppAuthGrantSet"),
            }
        }
        // Objects counted per namespace once, then summed per policy over what it grants.
        let objects = if policies.is_empty() {
            HashMap::new()
        } else {
            per_namespace(&ctx)
        };
        let namespaces = tenancy.namespaces.state();
        // By uid: a policy deleted and made again under its name is a new one.
        for p in &policies {
            let status = governed(p, &namespaces, &objects);
            let (name, uid) = (p.name_any(), p.uid().unwrap_or_default());
            let recorded = statuses.get(&uid).or(p.status.as_ref());
            if recorded == Some(&status) {
                continue;
            }
            match ctx.apply_policy_status(&name, &status).await {
                Ok(()) => {
                    statuses.insert(uid, status);
                }
                Err(e) => tracing::warn!(policy = %name, error = %e, "writing policy status"),
            }
        }
        statuses.retain(|uid, _| policies.iter().any(|p| p.uid().as_ref() == Some(uid)));
        // Wait for a change or the tick; a burst of changes is taken as one.
        let next = tokio::time::timeout(TICK, changed.next()).await;
        if matches!(next, Ok(None)) {
            return;
        }
        while let Ok(()) = changed.try_recv() {}
    }
}

/// GatewayApps and InferenceApis per namespace, from the caches.
fn per_namespace(ctx: &Context) -> HashMap<String, (i64, i64)> {
    let mut out: HashMap<String, (i64, i64)> = HashMap::new();
    let apps = ctx
        .gateway_apps
        .get()
        .map(|s| s.state())
        .unwrap_or_default();
    let apis = ctx
        .inference_apis
        .get()
        .map(|s| s.state())
        .unwrap_or_default();
    for ns in apps.iter().filter_map(|o| o.namespace()) {
        out.entry(ns).or_default().0 += 1;
    }
    for ns in apis.iter().filter_map(|o| o.namespace()) {
        out.entry(ns).or_default().1 += 1;
    }
    out
}

/// What one policy governs now: the namespaces it grants and the objects in them.
fn governed(
    p: &AppAuthPolicy,
    namespaces: &[Arc<PartialObjectMeta<Namespace>>],
    objects: &HashMap<String, (i64, i64)>,
) -> AppAuthPolicyStatus {
    let mut status = AppAuthPolicyStatus {
        observed_generation: p.metadata.generation,
        ..Default::default()
    };
    for n in namespaces {
        let name = n.name_any();
        if policy::selects(&p.spec.namespaces, &name, n.labels()) {
            let (apps, apis) = objects.get(&name).copied().unwrap_or_default();
            status.namespaces += 1;
            status.gateway_apps += apps;
            status.inference_apis += apis;
        }
    }
    status
}
