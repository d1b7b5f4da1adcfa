//! Every write the controllers make to the apiserver goes through here, and each records the
//! version it left the object at. That record serves two readers:
//! - the watch filter ("changed by someone else"): an event carrying exactly a version our own
//!   write produced is the echo of a reconcile that already finished, so it triggers nothing;
//! - the read-your-writes guard: a cached object older than our last write to it is stale (its
//!   newer version is on the way), so a reconcile of it waits for the cache to catch up rather
//!   than act on an old state (create an app twice, say).
//!
//! A write whose answer shows a change someone else made since the version we read (a merge
//! patch or an apply lands on the newest version) is not recorded: that change's own watch
//! event may carry the very version we got back, and it must bring a reconcile.

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Context;

/// The field manager of the operator's server-side applies.
pub const FIELD_MANAGER: &str = "appauth-operator";

/// How a Secret apply treats a Secret that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretApply<'a> {
    /// Takes the fields over (the Secret is known to be ours).
    Force,
    /// Takes the fields over of the Secret at this resourceVersion, the one found to be ours;
    /// a Secret changed since (or deleted and made again by someone else) fails with 409.
    ForceAt(&'a str),
    /// Only creates: an existing Secret fails the apply with 409 Conflict.
    CreateOnly,
}

/// A resourceVersion no object is at: etcd's first write is revision 2.
const NEVER_A_VERSION: &str = "1";

/// Annotations the operator itself writes on its objects, and kubectl's copy of the applied
/// object (stripped from the cache).
const OURS: [&str; 5] = [
    crate::api::annotations::PENDING,
    crate::api::annotations::APP_ID,
    crate::api::annotations::API_ID,
    crate::api::annotations::ROTATING,
    super::watches::LAST_APPLIED,
];

/// Whether the object our write returned (`written`) carries a change someone else made since
/// the version we read (`read`).
pub fn changed_by_others(read: &ObjectMeta, written: &ObjectMeta) -> bool {
    read.generation != written.generation
        || read.deletion_timestamp != written.deletion_timestamp
        || read.labels.as_ref().filter(|l| !l.is_empty())
            != written.labels.as_ref().filter(|l| !l.is_empty())
        || theirs(read) != theirs(written)
}

/// The annotations and finalizers of `m` that are not the operator's.
fn theirs(m: &ObjectMeta) -> (Vec<(&String, &String)>, Vec<&String>) {
    let annotations = m
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !OURS.contains(&k.as_str()))
        .collect();
    let finalizers = m
        .finalizers
        .iter()
        .flatten()
        .filter(|f| {
            f.as_str() != crate::api::CLEANUP_FINALIZER
                && f.as_str() != crate::api::IN_USE_FINALIZER
        })
        .collect();
    (annotations, finalizers)
}

/// A resourceVersion as a number (the apiserver's are etcd revisions); anything else is never
/// taken for ours.
pub fn version_of(meta: &ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Context {
    fn record<K: Resource>(&self, written: &K, read: Option<&K>)
    where
        K::DynamicType: Default,
    {
        if read.is_some_and(|read| changed_by_others(read.meta(), written.meta())) {
            return;
        }
        // The last finalizer went: the object is gone, and its deletion may already have been
        // forgotten; a record now would never be removed.
        let meta = written.meta();
        if meta.deletion_timestamp.is_some() && meta.finalizers.as_ref().is_none_or(Vec::is_empty) {
            return;
        }
        self.wrote(written, version_of(written.meta()));
    }

    /// A merge patch of one of our objects. A patch that names `metadata.resourceVersion` is
    /// conflict-checked against the version read.
    pub async fn patch<K>(&self, obj: &K, patch: &Value) -> Result<K, kube::Error>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let written = merge_patch(self, obj, patch).await?;
        self.record(&written, Some(obj));
        Ok(written)
    }

    /// A merge patch of a user's object (the in-use finalizer on an account Secret). Nothing is
    /// recorded: its watch delivers the current object to two controllers, and one of them could
    /// find our write where another user's change should have been.
    pub async fn patch_theirs<K>(&self, obj: &K, patch: &Value) -> Result<K, kube::Error>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        merge_patch(self, obj, patch).await
    }

    /// The status of `obj`, by server-side apply.
    pub async fn apply_status<K, S>(&self, obj: &K, status: &S) -> Result<K, kube::Error>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        S: Serialize,
    {
        let body = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": status,
        });
        let written = objects::<K>(self, obj)
            .patch_status(
                &obj.name_any(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(body),
            )
            .await?;
        self.record(&written, Some(obj));
        Ok(written)
    }

    /// One of our Secrets, by server-side apply. `force` takes over fields others manage;
    /// without it a Secret someone else created meanwhile is refused. A concurrent edit needs
    /// no reconcile: the apply reasserted our keys and others' keys survive it.
    pub async fn apply_secret(
        &self,
        namespace: &str,
        desired: &Secret,
        how: SecretApply<'_>,
    ) -> Result<Secret, kube::Error> {
        let mut params = PatchParams::apply(FIELD_MANAGER);
        let mut body = std::borrow::Cow::Borrowed(desired);
        // A resourceVersion in an apply is a precondition on an existing object (409 when it
        // is at another); when the apply creates, the apiserver ignores it (the integration
        // tests hold this against the real apiserver).
        let precondition = match how {
            SecretApply::Force => None,
            SecretApply::ForceAt(version) => Some(version),
            // No object is ever at this version: the apply creates the Secret or fails, and
            // never merges into a Secret someone else made (which a label-selected cache
            // cannot see).
            SecretApply::CreateOnly => Some(NEVER_A_VERSION),
        };
        params.force = how != SecretApply::CreateOnly;
        if let Some(version) = precondition {
            body.to_mut().metadata.resource_version = Some(version.into());
        }
        let written = Api::<Secret>::namespaced(self.client.clone(), namespace)
            .patch(&desired.name_any(), &params, &Patch::Apply(body.as_ref()))
            .await?;
        self.record(&written, None);
        Ok(written)
    }

    /// Deletes one of our Secrets. Its deletion event brings the owner back, which finds the
    /// Secret gone as intended.
    pub async fn delete_secret(&self, namespace: &str, name: &str) -> Result<(), kube::Error> {
        Api::<Secret>::namespaced(self.client.clone(), namespace)
            .delete(name, &DeleteParams::default())
            .await?;
        Ok(())
    }

    /// The grant set for the admission policy (`None`: no policy exists, so it goes). No
    /// controller watches it, so nothing is recorded.
    pub async fn publish_grants(
        &self,
        spec: Option<&crate::api::AppAuthGrantSetSpec>,
    ) -> Result<(), kube::Error> {
        use crate::api::AppAuthGrantSet;
        let api = Api::<AppAuthGrantSet>::all(self.client.clone());
        let name = &self.settings.grants_name;
        match spec {
            Some(spec) => {
                let body = json!({
                    "apiVersion": AppAuthGrantSet::api_version(&()),
                    "kind": AppAuthGrantSet::kind(&()),
                    "metadata": {"name": name, "labels": {crate::api::MANAGED_BY_LABEL: crate::api::MANAGED_BY_VALUE}},
                    "spec": spec,
                });
                let params = PatchParams::apply(FIELD_MANAGER).force();
                api.patch(name, &params, &Patch::Apply(&body)).await?;
            }
            None => match api.delete(name, &DeleteParams::default()).await {
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                other => {
                    other?;
                }
            },
        }
        Ok(())
    }

    /// A policy's status (what it governs). Unrecorded: no controller watches policies for
    /// echoes.
    pub async fn apply_policy_status(
        &self,
        name: &str,
        status: &crate::api::AppAuthPolicyStatus,
    ) -> Result<(), kube::Error> {
        use crate::api::AppAuthPolicy;
        let body = json!({
            "apiVersion": AppAuthPolicy::api_version(&()),
            "kind": AppAuthPolicy::kind(&()),
            "status": status,
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        Api::<AppAuthPolicy>::all(self.client.clone())
            .patch_status(name, &params, &Patch::Apply(&body))
            .await?;
        Ok(())
    }
}

async fn merge_patch<K>(ctx: &Context, obj: &K, patch: &Value) -> Result<K, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    objects::<K>(ctx, obj)
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
}

fn objects<K>(ctx: &Context, obj: &K) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_carries_someone_elses_change_is_not_ours() {
        let annotations = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let read = ObjectMeta {
            generation: Some(2),
            annotations: annotations(&[("note", "a")]),
            ..Default::default()
        };
        // Our own annotations and finalizer, and kubectl's copy, are not someone else's change.
        let ours = ObjectMeta {
            annotations: annotations(&[
                ("note", "a"),
                (crate::api::annotations::APP_ID, "x"),
                (crate::api::annotations::PENDING, "p"),
                ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
            ]),
            finalizers: Some(vec![crate::api::CLEANUP_FINALIZER.to_string()]),
            ..read.clone()
        };
        assert!(!changed_by_others(&read, &ours));
        let cases = [
            (
                "annotation",
                ObjectMeta {
                    annotations: annotations(&[
                        ("note", "a"),
                        (crate::api::annotations::PAUSED, "true"),
                    ]),
                    ..read.clone()
                },
            ),
            (
                "spec",
                ObjectMeta {
                    generation: Some(3),
                    ..read.clone()
                },
            ),
            (
                "label",
                ObjectMeta {
                    labels: annotations(&[("team", "b")]),
                    ..read.clone()
                },
            ),
            (
                "finalizer",
                ObjectMeta {
                    finalizers: Some(vec!["other/keep".to_string()]),
                    ..read.clone()
                },
            ),
        ];
        for (what, written) in cases {
            assert!(changed_by_others(&read, &written), "{what}");
        }
    }

    #[test]
    fn versions_that_are_not_numbers_are_never_ours() {
        let meta = |rv: &str| ObjectMeta {
            resource_version: Some(rv.to_string()),
            ..Default::default()
        };
        assert_eq!(version_of(&meta("42")), 42);
        assert_eq!(version_of(&meta("x1")), 0);
        assert_eq!(version_of(&ObjectMeta::default()), 0);
    }
}
