//! The credentials Secret as the cache of our own Secrets (metadata only) shows it: whether a
//! reconcile must read the Secret, or already knows what it holds because the cached version
//! is one this process wrote or read.

use kube::core::PartialObjectMeta;

use super::*;

/// A hash of an app key, to tell "the Secret holds the key the cloud shows" without keeping
/// keys in memory (the same hash the listings keep).
pub(super) fn key_hash(key: &str) -> u64 {
    crate::controller::inventory::text_hash(key)
}

/// The Secret `name` in the app's namespace as the cache has it: `None` before the cache's
/// first list (nothing can be told from it then), `Some(None)` when there is no Secret of
/// ours by that name.
pub(super) fn cached(
    app: &GatewayApp,
    ctx: &Context,
    name: &str,
) -> Option<Option<std::sync::Arc<PartialObjectMeta<Secret>>>> {
    ctx.app_secrets
        .get(&app.namespace().unwrap_or_default(), name)
}

/// With FromSecret: the cached version of the source Secret (a hash of it), when the
/// labelled-sources cache sees it; `None` for an unlabelled or absent source (read every time).
pub(super) fn source_version(app: &GatewayApp, ctx: &Context) -> Option<u64> {
    let source = app.spec.credentials_from.as_ref()?;
    ctx.source_secrets
        .version(&app.namespace().unwrap_or_default(), &source.name)
        .map(|v| key_hash(&v))
}

/// A Secret read from the apiserver: its version hashed as `source_version` hashes the cache's.
pub(super) fn version_hash(secret: &Secret) -> Option<u64> {
    secret.metadata.resource_version.as_deref().map(key_hash)
}

/// The cached metadata as a Secret without data: enough to tell whose it is.
pub(super) fn as_secret(meta: &PartialObjectMeta<Secret>) -> Secret {
    Secret {
        metadata: meta.metadata.clone(),
        ..Default::default()
    }
}

/// Pure: whether this process knows what the Secret holds from the cache's view of it
/// (`Some(Some(ours))`: a version, and whether this process wrote or read it; `Some(None)`: no
/// Secret; `None`: the cache cannot tell). An absent Secret is known only while this process's
/// create of moments ago has not reached the watch yet (`unseen_write`).
pub(super) fn version_known(cached: Option<Option<bool>>, unseen_write: bool) -> bool {
    match cached {
        Some(Some(ours)) => ours,
        Some(None) => unseen_write,
        None => false,
    }
}

/// What a reconcile of a bound app needs of its Secret.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SecretNeed {
    /// Nothing: the cached version is one this process wrote or checked, and holds this key.
    Known { key: u64 },
    /// Read it (and its data).
    Read,
}

/// Pure: a Secret whose cached version this process wrote (or read and found up to date) holds
/// what it wrote, so a reconcile that needs no more than "up to date, and which key" does not
/// read it. Anything that needs the values (a rotation, a FromSecret source compared, a spec
/// change that may change the Secret) reads.
pub(super) fn secret_need(
    cached_version_known: bool,
    delivered_key: Option<u64>,
    needs_values: bool,
) -> SecretNeed {
    match (cached_version_known, delivered_key, needs_values) {
        (true, Some(key), false) => SecretNeed::Known { key },
        _ => SecretNeed::Read,
    }
}

/// Records that the Secret at its current version was read and found up to date: later
/// reconciles that see the same version in the cache need not read it again.
pub(super) fn checked_version(ctx: &Context, secret: &Secret) {
    ctx.wrote(
        secret,
        crate::controller::writes::version_of(&secret.metadata),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_read_unless_its_version_and_key_are_known_and_no_values_are_needed() {
        let cases = [
            (
                "known version and key",
                true,
                Some(7),
                false,
                SecretNeed::Known { key: 7 },
            ),
            (
                "a version someone else wrote",
                false,
                Some(7),
                false,
                SecretNeed::Read,
            ),
            (
                "key not known (after a restart)",
                true,
                None,
                false,
                SecretNeed::Read,
            ),
            (
                "values needed (rotation, source)",
                true,
                Some(7),
                true,
                SecretNeed::Read,
            ),
        ];
        for (name, known, key, values, want) in cases {
            assert_eq!(secret_need(known, key, values), want, "{name}");
        }
    }

    #[test]
    fn the_secret_is_known_at_our_version_or_while_our_create_has_not_reached_the_watch() {
        let cases = [
            ("our version", Some(Some(true)), false, true),
            (
                "our version, also just written",
                Some(Some(true)),
                true,
                true,
            ),
            ("someone else's version", Some(Some(false)), false, false),
            // A write of ours does not hide another's change the watch has already shown.
            (
                "someone else's version after our write",
                Some(Some(false)),
                true,
                false,
            ),
            ("absent, created moments ago", Some(None), true, true),
            ("absent, no create of ours unseen", Some(None), false, false),
            ("the cache cannot tell", None, true, false),
            ("the cache cannot tell, nothing written", None, false, false),
        ];
        for (name, cached, unseen_write, want) in cases {
            assert_eq!(version_known(cached, unseen_write), want, "{name}");
        }
    }

    #[test]
    fn key_hashes_tell_keys_apart() {
        assert_eq!(key_hash("k1"), key_hash("k1"));
        assert_ne!(key_hash("k1"), key_hash("k2"));
    }
}
