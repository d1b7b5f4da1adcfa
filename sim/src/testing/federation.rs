//! `/_sim/` endpoints for federation: identity providers, Pod Identity, the exchange records,
//! and the test issuer. Provider writes may fetch a JWKS, outside the state lock.

use chrono::Utc;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::bad;
use crate::dispatch::Sim;
use crate::federation::fetch::OwnedKeySource;
use crate::federation::provider::POD_IDENTITY_CACHE_KEY;
use crate::federation::{IdentityProvider, PodIdentity, verify};
use crate::http::{Reply, Req};
use crate::state::uuid_like;

/// `None` when the path is not one of these endpoints.
pub async fn handle(sim: &Sim, req: &Req) -> Option<Reply> {
    let segs = req.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let reply = match (&req.method, segs.as_slice()) {
        (&Method::GET, ["_sim", "identity-providers"]) => list_providers(sim),
        (&Method::PUT, ["_sim", "identity-providers", id]) => put_provider(sim, id, req).await,
        (&Method::DELETE, ["_sim", "identity-providers", id]) => delete_provider(sim, id),
        (&Method::GET, ["_sim", "pod-identity"]) => get_pod_identity(sim),
        (&Method::PUT, ["_sim", "pod-identity"]) => put_pod_identity(sim, req).await,
        (&Method::DELETE, ["_sim", "pod-identity"]) => {
            clear_pod_identity(sim);
            Reply::empty(StatusCode::NO_CONTENT)
        }
        (&Method::GET, ["_sim", "federation", "exchanges"]) => {
            Reply::ok(json!(sim.lock().fed.records))
        }
        (&Method::DELETE, ["_sim", "federation", "exchanges"]) => {
            sim.lock().fed.records.clear();
            Reply::empty(StatusCode::NO_CONTENT)
        }
        (&Method::GET, ["_sim", "testing", "jwks"]) => Reply::ok(sim.lock().fed.issuer.jwks()),
        (&Method::POST, ["_sim", "testing", "id-token"]) => mint(sim, req),
        (&Method::POST, ["_sim", "testing", "rotate-key"]) => {
            match sim.lock().fed.issuer.rotate() {
                Ok(kid) => Reply::ok(json!({"kid": kid})),
                Err(_) => Reply::json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": "key generation failed"}),
                ),
            }
        }
        _ => return None,
    };
    Some(reply)
}

/// A provider as listed: its configuration (no secrets: keys are public, files are paths)
/// plus the state of its fetched JWKS.
fn provider_view(sim: &Sim, p: &IdentityProvider) -> Value {
    let mut v = json!(p);
    if p.jwks_url.is_some()
        && let Some(obj) = v.as_object_mut()
    {
        let cache = sim.lock().fed.jwks.get(&p.cache_key()).map(|c| c.view());
        obj.insert("jwks_cache".into(), cache.unwrap_or(Value::Null));
    }
    v
}

fn list_providers(sim: &Sim) -> Reply {
    let providers = sim.lock().config.identity_providers.clone();
    Reply::ok(json!(
        providers
            .iter()
            .map(|p| provider_view(sim, p))
            .collect::<Vec<_>>()
    ))
}

async fn put_provider(sim: &Sim, id: &str, req: &Req) -> Reply {
    let mut provider: IdentityProvider = match serde_json::from_slice(&req.body) {
        Ok(p) => p,
        Err(e) => return bad(format!("invalid identity provider: {e}")),
    };
    if !provider.id.is_empty() && provider.id != id {
        return bad(format!(
            "the body's id {} differs from the path's {id}",
            provider.id
        ));
    }
    provider.id = id.to_string();
    if let Err(e) = provider.validate() {
        return bad(format!("invalid identity provider: {e}"));
    }
    let key = provider.cache_key();
    sim.lock().fed.jwks.remove(&key);
    if provider.jwks_url.is_some() {
        let src = OwnedKeySource::from(provider.key_source());
        if let Err(e) = verify::refresh(sim, &key, &src, false).await {
            sim.lock().fed.jwks.remove(&key);
            return bad(e);
        }
    }
    {
        let mut st = sim.lock();
        let list = &mut st.config.identity_providers;
        match list.iter_mut().find(|p| p.id == provider.id) {
            Some(existing) => *existing = provider.clone(),
            None => list.push(provider.clone()),
        }
    }
    Reply::ok(provider_view(sim, &provider))
}

fn delete_provider(sim: &Sim, id: &str) -> Reply {
    let mut st = sim.lock();
    let before = st.config.identity_providers.len();
    st.config.identity_providers.retain(|p| p.id != id);
    if st.config.identity_providers.len() == before {
        return Reply::json(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no identity provider {id}")}),
        );
    }
    st.fed.jwks.remove(&format!("idp:{id}"));
    Reply::empty(StatusCode::NO_CONTENT)
}

fn pod_identity_view(sim: &Sim, pi: Option<&PodIdentity>) -> Value {
    let Some(pi) = pi else { return Value::Null };
    let mut v = json!(pi);
    if pi.jwks_url.is_some()
        && let Some(obj) = v.as_object_mut()
    {
        let cache = sim
            .lock()
            .fed
            .jwks
            .get(POD_IDENTITY_CACHE_KEY)
            .map(|c| c.view());
        obj.insert("jwks_cache".into(), cache.unwrap_or(Value::Null));
    }
    v
}

fn get_pod_identity(sim: &Sim) -> Reply {
    let pi = sim.lock().config.pod_identity.clone();
    Reply::ok(pod_identity_view(sim, pi.as_ref()))
}

fn clear_pod_identity(sim: &Sim) {
    let mut st = sim.lock();
    st.config.pod_identity = None;
    st.fed.jwks.remove(POD_IDENTITY_CACHE_KEY);
}

async fn put_pod_identity(sim: &Sim, req: &Req) -> Reply {
    // An empty body clears, like `null`.
    let body: &[u8] = if req.body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        &req.body
    };
    let pi: Option<PodIdentity> = match serde_json::from_slice(body) {
        Ok(p) => p,
        Err(e) => return bad(format!("invalid pod identity: {e}")),
    };
    let Some(pi) = pi else {
        clear_pod_identity(sim);
        return Reply::ok(Value::Null);
    };
    if let Err(e) = pi.validate() {
        return bad(format!("invalid pod identity: {e}"));
    }
    sim.lock().fed.jwks.remove(POD_IDENTITY_CACHE_KEY);
    if pi.jwks_url.is_some() {
        let src = OwnedKeySource::from(pi.key_source());
        if let Err(e) = verify::refresh(sim, POD_IDENTITY_CACHE_KEY, &src, false).await {
            sim.lock().fed.jwks.remove(POD_IDENTITY_CACHE_KEY);
            return bad(e);
        }
    }
    sim.lock().config.pod_identity = Some(pi.clone());
    Reply::ok(pod_identity_view(sim, Some(&pi)))
}

/// `POST /_sim/testing/id-token` `{"iss", "aud" (string or array), "sub", "ttl_secs" (may be
/// negative), "kid"?, "claims"? (merged last)}` -> `{"token"}`.
fn mint(sim: &Sim, req: &Req) -> Reply {
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return bad("the body must be a JSON object"),
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    let (Some(iss), Some(sub)) = (text("iss"), text("sub")) else {
        return bad("iss and sub are required strings");
    };
    let aud = match body.get("aud") {
        Some(a @ Value::String(_)) => a.clone(),
        Some(a @ Value::Array(list)) if list.iter().all(Value::is_string) => a.clone(),
        _ => return bad("aud must be a string or an array of strings"),
    };
    let ttl = match body.get("ttl_secs") {
        None => 3600,
        Some(v) => match v.as_i64() {
            Some(t) => t,
            None => return bad("ttl_secs must be an integer"),
        },
    };
    let now = Utc::now().timestamp();
    let mut claims = json!({
        "iss": iss, "sub": sub, "aud": aud,
        "iat": now, "nbf": now, "exp": now.saturating_add(ttl), "jti": uuid_like(),
    });
    if let (Some(extra), Some(obj)) = (
        body.get("claims").and_then(Value::as_object),
        claims.as_object_mut(),
    ) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    match sim.lock().fed.issuer.sign(&claims, text("kid")) {
        Ok(token) => Reply::ok(json!({ "token": token })),
        Err(_) => Reply::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "signing failed"}),
        ),
    }
}
