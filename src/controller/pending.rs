//! The pending marker on an object: written (with the finalizer) before a create, re-stamped
//! before a create that follows another process's marker or an old one, and read back.

use chrono::Utc;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::Context;
use super::common::Result;
use super::driver::Managed;
use super::marker::PendingMarker;
use crate::api::{CLEANUP_FINALIZER, annotations};

/// Step one of a create: one conflict-checked patch adds the finalizer and the pending marker
/// naming the resource about to be made.
pub async fn write_marker<K: Managed>(obj: &K, ctx: &Context, name: &str) -> Result<PendingMarker> {
    let marker = PendingMarker {
        name: name.to_string(),
        time: Utc::now(),
        instance: ctx.settings.instance.clone(),
        object: obj.uid(),
    };
    let mut finalizers = obj.finalizers().to_vec();
    if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
        finalizers.push(CLEANUP_FINALIZER.to_string());
    }
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "annotations": {annotations::PENDING: marker.to_annotation()},
        "resourceVersion": obj.resource_version(),
    }});
    ctx.patch(obj, &patch).await?;
    Ok(marker)
}

/// The object as the apiserver has it now (a conflict-checked write must not rest on a cached
/// copy that a write of ours has since outdated).
pub async fn current<K: Managed>(obj: &K, ctx: &Context) -> Result<K> {
    let api = kube::Api::<K>::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    Ok(api.get(&obj.name_any()).await?)
}

/// What a create-or-recover decision starts from: what was found of ours, and the waits of a
/// create that may still land. The GatewayApp adds what it found of others'.
pub fn create_facts<T>(
    ctx: &Context,
    uid: &str,
    marker: &PendingMarker,
    ours: Vec<T>,
) -> super::plan::CreateFacts<T> {
    super::plan::CreateFacts {
        ours,
        foreign: Vec::new(),
        adopt: super::plan::Adoption::NotAsked,
        foreign_held_by: None,
        secret_retained_for: None,
        unresolved_for: ctx.unresolved_for(uid),
        marker_wait: super::marker::may_create(
            marker,
            &ctx.settings.instance,
            false,
            Utc::now(),
            ctx.settings.marker_grace,
        )
        .err(),
        grace: ctx.settings.marker_grace,
    }
}

/// Before a create: the marker stamped again when it is another process's or old, so that a
/// crash during this create makes the next process wait for it.
pub async fn restamp_marker<K: Managed>(
    obj: &K,
    ctx: &Context,
    marker: &PendingMarker,
    name: &str,
) -> Result<()> {
    let age = (Utc::now() - marker.time).to_std().unwrap_or_default();
    let ours = marker.instance == ctx.settings.instance;
    if super::plan::restamp_marker(ours, age, ctx.settings.marker_grace) {
        let current = current(obj, ctx).await?;
        write_marker(&current, ctx, name).await?;
    }
    Ok(())
}

/// The open pending marker, if any.
pub fn marker_of<K: Resource>(obj: &K) -> Option<PendingMarker> {
    obj.meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(annotations::PENDING))
        .and_then(|v| PendingMarker::parse(v))
}
