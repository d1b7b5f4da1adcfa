//! Verifying a token against an issuer whose JWKS may have to be fetched: the cached keys
//! first; when the token names a `kid` they lack and the keys come from a URL, one refetch
//! (outside the state lock), at most once per [`REFETCH_INTERVAL`] per issuer, so a stream of
//! bad tokens cannot turn the simulator into a JWKS hammer.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::fetch::{OwnedKeySource, fetch_jwks};
use super::jwt::{Claims, Expect, JwtError, Parsed};
use super::store::JwksCache;
use crate::dispatch::Sim;

pub const REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// Fetches `src` now and stores the outcome under `cache_key`; the error, if any, is returned
/// too. Used at `PUT` time and for refetches; only the latter (`throttled`) start the
/// [`REFETCH_INTERVAL`] window, so a key rotated right after a `PUT` is still picked up.
pub async fn refresh(
    sim: &Sim,
    cache_key: &str,
    src: &OwnedKeySource,
    throttled: bool,
) -> Result<(), String> {
    if throttled {
        let mut st = sim.lock();
        let entry = st.fed.jwks.entry(cache_key.to_string()).or_default();
        entry.last_attempt = Some(Instant::now());
    }
    let fetched = fetch_jwks(src).await;
    let mut st = sim.lock();
    let entry = st.fed.jwks.entry(cache_key.to_string()).or_default();
    entry.fetches += 1;
    match fetched {
        Ok(keys) => {
            entry.keys = keys;
            entry.fetched_at = Some(Utc::now());
            entry.error = None;
            Ok(())
        }
        Err(e) => {
            // The previous keys stay usable: a failed refresh must not lock everyone out.
            entry.error = Some(e.clone());
            Err(e)
        }
    }
}

fn may_refetch(entry: Option<&JwksCache>) -> bool {
    entry
        .and_then(|e| e.last_attempt)
        .is_none_or(|t| t.elapsed() >= REFETCH_INTERVAL)
}

/// All checks of `parsed` against `src`'s keys, refetching once when its `kid` is unknown.
pub async fn verify(
    sim: &Sim,
    cache_key: &str,
    src: &OwnedKeySource,
    parsed: &Parsed,
    expect: &Expect<'_>,
) -> Result<Claims, JwtError> {
    parsed.alg()?;
    let cached = |sim: &Sim| -> (Vec<serde_json::Value>, bool, Option<String>) {
        let st = sim.lock();
        let entry = st.fed.jwks.get(cache_key);
        let keys = match &src.inline {
            Some(keys) => keys.clone(),
            None => entry.map(|e| e.keys.clone()).unwrap_or_default(),
        };
        (
            keys,
            may_refetch(entry),
            entry.and_then(|e| e.error.clone()),
        )
    };
    let (mut keys, allowed, mut fetch_error) = cached(sim);
    if src.inline.is_none() && src.url.is_some() && !parsed.has_key_in(&keys) && allowed {
        fetch_error = refresh(sim, cache_key, src, true).await.err();
        keys = cached(sim).0;
    }
    match parsed.verify(&keys, expect, Utc::now()) {
        Ok(claims) => Ok(claims.clone()),
        Err(JwtError::UnknownKid { kid, .. }) => Err(JwtError::UnknownKid {
            kid,
            fetch: fetch_error.filter(|_| src.url.is_some()),
        }),
        Err(e) => Err(e),
    }
}
