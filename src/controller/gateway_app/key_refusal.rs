//! A FromSecret create the cloud refused because another app holds the key: whether the
//! refusal stands as it is (no cloud call) or is worth asking about again.

use std::time::Instant;

use super::*;
use crate::controller::memory::AskedWith;

/// Whether this object's last create was refused for its key and nothing since makes another
/// worth asking (`plan::key_refusal_stands`), within a resync period less one tick of its sweep
/// (the sweep that asks again comes a period after the one that asked before, moments before
/// the refusal was recorded).
pub(super) async fn key_still_refused(
    app: &GatewayApp,
    ctx: &Context,
    client: &CloudClient,
) -> Result<bool> {
    let uid = app.uid().unwrap_or_default();
    let Some(refusal) = ctx.memory.get(&uid, |m| m.rare().key_refused).flatten() else {
        return Ok(false);
    };
    // What the failure wrote: a pause since then says Paused here.
    let reported = app.status.as_ref().is_some_and(|st| {
        st.conditions.iter().any(|c| {
            c.type_ == "Stalled"
                && c.status == "True"
                && c.reason == Reason::KeyConflict.as_str()
                && c.observed_generation == app.metadata.generation
        })
    });
    // The cache of labelled sources, else a read; not worth one when the answer is "ask
    // again" anyway.
    let source_now = match (
        super::known_secret::source_version(app, ctx),
        &app.spec.credentials_from,
    ) {
        (Some(v), _) => Some(v),
        (None, Some(source)) if reported => get_secret(app, ctx, &source.name)
            .await?
            .and_then(|s| super::known_secret::version_hash(&s)),
        (None, _) => None,
    };
    let period = ctx.settings.resync;
    let stands = plan::key_refusal_stands(
        Some(refusal),
        source_now.map(|source| asked_with(app, client, source)),
        reported,
        Instant::now(),
        period.saturating_sub(crate::controller::resync::tick(period)),
    );
    if stands {
        let version = app.resource_version().unwrap_or_default();
        tracing::debug!(object = %app.name_any(), %version, "the refusal of the app key stands; the cloud is not asked again");
    }
    Ok(stands)
}

/// What a FromSecret create is asked with, the source Secret's version given.
pub(super) fn asked_with(app: &GatewayApp, client: &CloudClient, source: u64) -> AskedWith {
    AskedWith {
        generation: app.metadata.generation.unwrap_or_default(),
        source,
        account: super::known_secret::key_hash(&client.account_key()),
    }
}
