//! The account Secret an object uses: resolved (and marked in use by a finalizer while a live
//! object needs it), checked against where the object's cloud resource lives, and released.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::{Resource, ResourceExt};
use serde_json::json;

use std::sync::Arc;

use super::Context;
use super::account::{self, SecretAccount, ServiceAccountName};
use super::common::{Error, Result};
use super::driver::{Location, Managed};
use super::service_account_token::ServiceAccountToken;
use super::status::Reason;
use crate::api::{CLEANUP_FINALIZER, IN_USE_FINALIZER, LocalObjectReference};
use crate::cloud::federation::Source;
use crate::cloud::{Account, Credentials};

fn uid<K: Resource>(obj: &K) -> String {
    obj.meta().uid.clone().unwrap_or_default()
}

/// The account for an object: its accountRef Secret or the operator's default.
pub async fn resolve<K: Managed>(obj: &K, ctx: &Context) -> Result<Account> {
    let ns = obj.namespace().unwrap_or_default();
    resolve_in(ctx, &ns, obj.account_ref(), super::driver::is_deleting(obj)).await
}

/// The object must still resolve to the project, region (and instance) its resource was made
/// in: a resource is never looked for, or made, somewhere else.
pub fn check_unchanged<K: Managed>(
    obj: &K,
    account: &Account,
    instance: Option<&str>,
) -> Result<()> {
    let was = obj.location();
    let now = Location {
        project: Some(account.project_id.clone()),
        region: Some(account.region.clone()),
        instance: instance.map(str::to_string),
    };
    if !location_changed(&was, &now) {
        return Ok(());
    }
    let instance = match &was.instance {
        Some(i) => format!(" / instance {i}"),
        None => String::new(),
    };
    Err(Error::failed(
        Reason::AccountChanged,
        format!(
            "the {} lives in project {} / region {}{instance}; the object now resolves elsewhere. Restore the account, or set deletionPolicy: Retain and delete the object",
            K::WHAT,
            was.project.unwrap_or_default(),
            was.region.unwrap_or_default(),
        ),
    ))
}

/// Pure: a recorded part of the location that differs from the current one (a part not
/// recorded yet is no change).
pub fn location_changed(was: &Location, now: &Location) -> bool {
    let differs =
        |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
    differs(&was.project, &now.project)
        || differs(&was.region, &now.region)
        || differs(&was.instance, &now.instance)
}

/// An object letting go of its accounts (deleted, or detached).
pub async fn release_all<K: Managed>(obj: &K, ctx: &Context) -> Result<()> {
    release_all_in(
        ctx,
        &obj.namespace().unwrap_or_default(),
        obj.account_ref(),
        obj.recorded_account(),
        &uid(obj),
    )
    .await
}

/// After a successful reconcile: the account used before a ref change, released before the
/// status forgets it.
pub async fn release_previous<K: Managed>(obj: &K, ctx: &Context) -> Result<()> {
    release_previous_in(
        ctx,
        &obj.namespace().unwrap_or_default(),
        obj.recorded_account(),
        obj.account_ref(),
        &uid(obj),
    )
    .await
}

/// The account for an object: its accountRef Secret (same namespace, never merged with the
/// default) or the operator's default. A live object's account Secret gets the in-use finalizer.
async fn resolve_in(
    ctx: &Context,
    namespace: &str,
    reference: Option<&LocalObjectReference>,
    deleting: bool,
) -> Result<Account> {
    let Some(reference) = reference else {
        let account = ctx
            .default_account
            .current()
            .map_err(|m| Error::failed(Reason::AccountInvalid, format!("default account: {m}")))?
            .ok_or_else(|| {
                Error::failed(
                    Reason::AccountInvalid,
                    "no spec.accountRef and the operator has no default account configured",
                )
            })?;
        return ctx.cloud.with_project(account).await.map_err(Error::cloud);
    };
    // A labelled account Secret the cache shows at the version last read (and already marked
    // in use) is not read again.
    if let Some(Some(cached)) = ctx.account_secrets.get(namespace, &reference.name)
        && (deleting || cached.finalizers().iter().any(|f| f == IN_USE_FINALIZER))
        && let Some(account) = cached
            .metadata
            .resource_version
            .as_deref()
            .and_then(|v| ctx.read_accounts.at(namespace, &reference.name, v))
    {
        return ctx.cloud.with_project(account).await.map_err(Error::cloud);
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = secrets.get_opt(&reference.name).await?.ok_or_else(|| {
        Error::failed(
            Reason::AccountInvalid,
            format!(
                "spec.accountRef: Secret {} not found in this namespace",
                reference.name
            ),
        )
    })?;
    let described =
        account::from_secret_data(&reference.name, &secret.data.clone().unwrap_or_default())
            .map_err(|m| Error::failed(Reason::AccountInvalid, format!("spec.accountRef: {m}")))?;
    let account = match described {
        SecretAccount::Ready(account) => account,
        SecretAccount::Federated {
            region,
            project_id,
            idp_id,
            service_account,
        } => {
            let name = own_service_account(ctx, namespace, &reference.name, &service_account)?;
            let token = ServiceAccountToken {
                client: ctx.client.clone(),
                namespace: namespace.to_string(),
                name,
                audience: ctx.settings.token_audience.clone(),
            };
            Account {
                region,
                project_id,
                credentials: Credentials::Temporary {
                    source: Source::IdToken {
                        idp_id,
                        token: Arc::new(token),
                        duration: ctx.settings.credential_duration,
                    },
                },
            }
        }
    };
    let mut read_at = secret.resource_version();
    if !deleting && !secret.finalizers().iter().any(|f| f == IN_USE_FINALIZER) {
        let mut finalizers = secret.finalizers().to_vec();
        finalizers.push(IN_USE_FINALIZER.to_string());
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": secret.resource_version()}});
        read_at = ctx.patch_theirs(&secret, &patch).await?.resource_version();
    }
    if let Some(version) = read_at {
        ctx.read_accounts
            .remember(namespace, &reference.name, &version, &account);
    }
    ctx.cloud.with_project(account).await.map_err(Error::cloud)
}

/// The ServiceAccount an accountRef Secret may federate: one of its own namespace, and never
/// the operator's own.
fn own_service_account(
    ctx: &Context,
    namespace: &str,
    secret: &str,
    named: &ServiceAccountName,
) -> Result<String> {
    if let Some(other) = named.namespace.as_deref().filter(|ns| *ns != namespace) {
        return Err(Error::failed(
            Reason::Unauthorized,
            format!(
                "spec.accountRef: Secret {secret} names a ServiceAccount of namespace {other}; only this namespace's ServiceAccounts can be used"
            ),
        ));
    }
    if may_not_borrow(&ctx.own_service_accounts, namespace, &named.name) {
        return Err(Error::failed(
            Reason::Unauthorized,
            format!(
                "spec.accountRef: Secret {secret} names the operator's own ServiceAccount, which no namespace may use"
            ),
        ));
    }
    Ok(named.name.clone())
}

/// Pure: whether `namespace`/`name` is the operator's own ServiceAccount.
fn may_not_borrow(own: &[(String, String)], namespace: &str, name: &str) -> bool {
    own.iter().any(|(ns, n)| ns == namespace && n == name)
}

/// An object letting go of its accounts (deleted, or detached): the one its spec names and the
/// one its status recorded, when they differ.
async fn release_all_in(
    ctx: &Context,
    namespace: &str,
    reference: Option<&LocalObjectReference>,
    recorded: Option<&str>,
    uid: &str,
) -> Result<()> {
    release_one(ctx, namespace, reference, uid).await?;
    if let Some(recorded) = recorded.filter(|r| reference.is_none_or(|s| s.name != *r)) {
        let previous = LocalObjectReference {
            name: recorded.to_string(),
        };
        release_one(ctx, namespace, Some(&previous), uid).await?;
    }
    Ok(())
}

/// After a successful reconcile: the account Secret used before, if the ref has changed since,
/// is released (its in-use finalizer goes when no other object uses it).
async fn release_previous_in(
    ctx: &Context,
    namespace: &str,
    previous: Option<&str>,
    current: Option<&LocalObjectReference>,
    uid: &str,
) -> Result<()> {
    let Some(previous) = previous.filter(|p| current.is_none_or(|c| c.name != *p)) else {
        return Ok(());
    };
    let reference = LocalObjectReference {
        name: previous.to_string(),
    };
    release_one(ctx, namespace, Some(&reference), uid).await
}

/// Drops the in-use finalizer from an account Secret when no other live object needs it.
async fn release_one(
    ctx: &Context,
    namespace: &str,
    reference: Option<&LocalObjectReference>,
    uid: &str,
) -> Result<()> {
    let Some(reference) = reference else {
        return Ok(());
    };
    // Another live object uses it: by its accountRef, or (its ref moved and no reconcile has
    // succeeded since) as the account its status still records.
    let by_apps = ctx
        .gateway_apps
        .get()
        .is_some_and(|store| uses_account(store, namespace, &reference.name, uid));
    let by_apis = ctx
        .inference_apis
        .get()
        .is_some_and(|store| uses_account(store, namespace, &reference.name, uid));
    if by_apps || by_apis {
        return Ok(());
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    if let Some(secret) = secrets.get_opt(&reference.name).await?
        && secret.finalizers().iter().any(|f| f == IN_USE_FINALIZER)
    {
        let finalizers: Vec<&String> = secret
            .finalizers()
            .iter()
            .filter(|f| *f != IN_USE_FINALIZER)
            .collect();
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": secret.resource_version()}});
        ctx.patch_theirs(&secret, &patch).await?;
    }
    Ok(())
}

/// Whether another live object of the cache uses account Secret `name` of `namespace`: by its
/// accountRef, or (its ref moved and no reconcile has succeeded since) as the account its status
/// still records.
fn uses_account<K: Managed>(
    store: &kube::runtime::reflector::Store<K>,
    namespace: &str,
    name: &str,
    uid: &str,
) -> bool {
    store.state().iter().any(|o| {
        o.meta().uid.as_deref() != Some(uid)
            && o.meta().namespace.as_deref() == Some(namespace)
            && (o.account_ref().is_some_and(|r| r.name == name)
                || o.recorded_account() == Some(name))
            && o.finalizers().iter().any(|f| f == CLEANUP_FINALIZER)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operators_own_service_account_is_never_lent() {
        let own = [
            ("appauth-system".to_string(), "appauth-operator".to_string()),
            ("team-ops".to_string(), "federated".to_string()),
        ];
        let cases = [
            (&own[..], "appauth-system", "appauth-operator", true),
            (&own[..], "team-ops", "federated", true),
            (&own[..], "team-a", "appauth-operator", false),
            (&own[..], "appauth-system", "workload", false),
            (&[][..], "appauth-system", "appauth-operator", false),
        ];
        for (own, ns, name, refused) in cases {
            assert_eq!(may_not_borrow(own, ns, name), refused, "{ns}/{name}");
        }
    }

    #[test]
    fn only_a_recorded_part_that_differs_is_a_changed_account() {
        let at = |p: Option<&str>, r: Option<&str>, i: Option<&str>| Location {
            project: p.map(str::to_string),
            region: r.map(str::to_string),
            instance: i.map(str::to_string),
        };
        let now = at(Some("p1"), Some("r1"), Some("i1"));
        let cases = [
            ("nothing recorded yet", at(None, None, None), false),
            ("the same", at(Some("p1"), Some("r1"), Some("i1")), false),
            (
                "another project",
                at(Some("p2"), Some("r1"), Some("i1")),
                true,
            ),
            (
                "another region",
                at(Some("p1"), Some("r2"), Some("i1")),
                true,
            ),
            (
                "another instance",
                at(Some("p1"), Some("r1"), Some("i2")),
                true,
            ),
            (
                "instance not recorded",
                at(Some("p1"), Some("r1"), None),
                false,
            ),
        ];
        for (name, was, changed) in cases {
            assert_eq!(location_changed(&was, &now), changed, "{name}");
        }
        // A kind without instances never compares one.
        assert!(!location_changed(
            &at(Some("p1"), Some("r1"), Some("i1")),
            &at(Some("p1"), Some("r1"), None)
        ));
    }
}
