//! Which versions of an object are the echoes of the operator's own writes: the watch filter
//! and the read-your-writes guard. Objects' versions live in their records, Secrets' in smaller
//! records of their own.

use kube::Resource;

use super::Context;
use super::memory::{REMEMBERED, Writes};
use super::writes::version_of;

fn uid_of<K: Resource>(obj: &K) -> Option<&str> {
    obj.meta().uid.as_deref()
}

/// Secrets (whole, or their metadata only) are remembered apart from the objects that own them.
fn is_secret<K: Resource>() -> bool
where
    K::DynamicType: Default,
{
    let dt = K::DynamicType::default();
    K::group(&dt).is_empty() && K::kind(&dt) == "Secret"
}

impl Context {
    /// The versions our latest writes left `obj` at, if any are remembered.
    fn own_writes<K: Resource>(&self, obj: &K) -> Option<Writes<REMEMBERED>>
    where
        K::DynamicType: Default,
    {
        let uid = uid_of(obj)?;
        if is_secret::<K>() {
            // Secrets have their own, smaller records.
            let w = self.secret_writes.get(uid, |w| *w)?;
            let mut all = Writes::default();
            for rv in w.versions() {
                all.wrote(rv);
            }
            Some(all)
        } else {
            self.memory.get(uid, |m| m.writes)
        }
    }

    /// The watch filter: whether this event reports anything but one of our own writes.
    pub fn changed_by_others<K: Resource>(&self, obj: &K) -> bool
    where
        K::DynamicType: Default,
    {
        let rv = version_of(obj.meta());
        !self.own_writes(obj).is_some_and(|w| w.is_own_write(rv))
    }

    /// The read-your-writes guard: whether the cached object is older than our last write.
    pub fn is_stale<K: Resource>(&self, obj: &K) -> bool
    where
        K::DynamicType: Default,
    {
        let rv = version_of(obj.meta());
        self.own_writes(obj)
            .and_then(|w| w.latest_write())
            .is_some_and(|latest| rv < latest)
    }

    /// Records that our write (or a read that found it up to date) left `obj` at `rv`.
    pub fn wrote<K: Resource>(&self, obj: &K, rv: u64)
    where
        K::DynamicType: Default,
    {
        let Some(uid) = uid_of(obj) else {
            return;
        };
        if is_secret::<K>() {
            self.secret_writes.with(uid, |w| w.wrote(rv));
        } else {
            self.memory.with(uid, |m| m.writes.wrote(rv));
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Secret;

    use super::*;

    #[test]
    fn secrets_whole_or_metadata_only_are_told_from_the_objects_that_own_them() {
        use kube::core::PartialObjectMeta;
        assert!(is_secret::<Secret>());
        assert!(is_secret::<PartialObjectMeta<Secret>>());
        assert!(!is_secret::<crate::api::GatewayApp>());
        assert!(!is_secret::<crate::api::InferenceApi>());
        assert!(!is_secret::<k8s_openapi::api::core::v1::ConfigMap>());
    }
}
