//! Waits users can see: a create that may still be in flight, a deletion held up. Reported as
//! `Reconciling=True` with reason Creating or Deleting, and told in a Warning Event once a wait
//! has lasted a minute.

use std::time::Duration;

use kube::Resource;

use super::Context;
use super::common::{Error, Result};
use super::status::Reason;

/// A create that may still be in flight (its answer never arrived, or it was sent by a process
/// that is gone): wait, then look for what it made before doing anything else. `reason` is
/// Creating, or Deleting when the object is being deleted.
pub(crate) fn in_flight(after: Duration, what: &str, reason: Reason) -> Error {
    let then = if reason == Reason::Deleting {
        "deletion looks for it again"
    } else {
        "the operator looks for it before creating anything"
    };
    Error::Wait {
        after: after.max(Duration::from_millis(200)),
        reason,
        message: format!(
            "a create of {what} may still be in flight; once it cannot land any more, {then}"
        ),
    }
}

/// A create whose answer never came (timeout, dropped connection): it may have landed. Look
/// again shortly; the marker and the unresolved mark keep a second create from running first.
pub(crate) fn create_unanswered(what: &str) -> Error {
    in_flight(Duration::from_millis(500), what, Reason::Creating)
}

/// How long until the create an open marker stands for can no longer land (none when this
/// process wrote it and has no create unanswered, or the marker is older than a create can take).
pub(crate) fn marker_wait(
    ctx: &Context,
    uid: &str,
    marker: &super::marker::PendingMarker,
) -> Option<Duration> {
    super::marker::may_create(
        marker,
        &ctx.settings.instance,
        ctx.unresolved_for(uid).is_some(),
        chrono::Utc::now(),
        ctx.settings.marker_grace,
    )
    .err()
}

/// Ok when the create an open marker stands for can no longer land; otherwise the wait,
/// reported with `reason` (Creating or Deleting). `what`: "app" or "API".
pub(crate) fn marker_settled(
    ctx: &Context,
    uid: &str,
    marker: &super::marker::PendingMarker,
    what: &str,
    reason: Reason,
) -> Result<()> {
    match marker_wait(ctx, uid, marker) {
        Some(after) => Err(in_flight(after, &format!("{what} {}", marker.name), reason)),
        None => Ok(()),
    }
}

/// A wait this long gets a Warning Event besides its condition.
pub(crate) const LONG_WAIT: Duration = Duration::from_secs(60);

/// Records that `uid` waits for `reason`; once the wait has lasted `LONG_WAIT`, one Warning
/// Event says so.
pub(crate) async fn warn_if_long<K>(
    obj: &K,
    ctx: &Context,
    uid: &str,
    reason: Reason,
    message: &str,
) where
    K: Resource<DynamicType = ()>,
{
    let long = ctx.memory.with(uid, |m| {
        m.rare_mut(|r| {
            let entry = match &mut r.wait {
                Some(wait) if wait.0 == reason => wait,
                other => other.insert((reason, std::time::Instant::now(), false)),
            };
            let long = !entry.2 && entry.1.elapsed() >= LONG_WAIT;
            entry.2 |= long;
            long
        })
    });
    if long {
        let note = format!("waiting for more than a minute: {message}");
        ctx.warning(obj, reason.as_str(), "Reconcile", note).await;
    }
}
