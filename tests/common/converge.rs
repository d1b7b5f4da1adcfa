//! What the crash and chaos suites assert at the end: every object converged to exactly one cloud
//! app (or API) whose credentials work, and no secret the simulator issued appears anywhere the
//! operator writes (logs, Events, statuses, metrics).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use appauth_operator::api::{GatewayApp, InferenceApi};
use base64::Engine;
use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::objects::Ns;
use super::sim::{Sim, credentials_work};
use super::wait;

/// The object part of a remark's fingerprint (` [appauth:<cluster>/<object>]`).
fn fingerprint(remark: &str) -> String {
    remark
        .rsplit_once(" [appauth:")
        .and_then(|(_, f)| f.trim_end_matches(']').rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

/// Every object Ready with a Secret whose credentials work, and exactly one cloud app per
/// object (matched by the fingerprint of its uid), and no app without an object.
pub async fn assert_converged(ns: &Ns, sim: &Sim, names: &[String], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for name in names {
        let left = deadline.saturating_duration_since(Instant::now());
        ns.wait_ready(name, left.max(Duration::from_secs(1))).await;
    }
    let apps: Vec<GatewayApp> = ns
        .apps()
        .list(&ListParams::default())
        .await
        .expect("list")
        .items;
    let mut by_fingerprint: HashMap<String, Vec<Value>> = HashMap::new();
    for app in sim.all_apps() {
        let fp = fingerprint(app["remark"].as_str().unwrap_or_default());
        by_fingerprint.entry(fp).or_default().push(app);
    }
    let mut problems = Vec::new();
    for app in &apps {
        let uid8: String = app.uid().unwrap_or_default().chars().take(8).collect();
        let cloud = by_fingerprint.remove(&uid8).unwrap_or_default();
        if cloud.len() != 1 {
            problems.push(format!("{}: {} cloud apps", app.name_any(), cloud.len()));
            continue;
        }
        let st = app.status.clone().unwrap_or_default();
        if st.app_id.as_deref() != cloud[0]["id"].as_str() {
            problems.push(format!(
                "{}: status.appId {:?} is not the cloud app {}",
                app.name_any(),
                st.app_id,
                cloud[0]["id"]
            ));
        }
        let secret = ns
            .secret(st.secret_name.as_deref().unwrap_or_default())
            .await;
        let creds = secret
            .as_ref()
            .and_then(|s| Some((Ns::value(s, "app_key")?, Ns::value(s, "app_secret")?)));
        match creds {
            Some((k, s)) if credentials_work(&sim.url(), &k, &s).await => {}
            _ => problems.push(format!(
                "{}: Secret credentials do not work",
                app.name_any()
            )),
        }
    }
    for (fp, orphans) in by_fingerprint {
        problems.push(format!(
            "{} cloud apps with fingerprint {fp:?} belong to no object",
            orphans.len()
        ));
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(apps.len(), names.len());
}

/// Every InferenceApi Ready with its own cloud API (one each, none spare), bound to exactly the
/// apps its refs name.
pub async fn assert_apis_converged(ns: &Ns, sim: &Sim, timeout: Duration) -> usize {
    let apis: Api<InferenceApi> = Api::namespaced(ns.client.clone(), &ns.name);
    let list = wait::until(timeout, "every InferenceApi Ready and bound", || async {
        let list = apis.list(&ListParams::default()).await.ok()?.items;
        list.iter()
            .all(|a| {
                a.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                        && s.authorized_apps.len() == a.spec.app_refs.len()
                })
            })
            .then_some(list)
    })
    .await;
    let app_ids: HashMap<String, String> = ns
        .apps()
        .list(&ListParams::default())
        .await
        .expect("apps")
        .items
        .into_iter()
        .filter_map(|a| Some((a.name_any(), a.status?.app_id?)))
        .collect();
    let state = serde_json::to_value(sim.handle.state()).expect("state");
    let cloud: Vec<Value> = state["apis"].as_array().cloned().unwrap_or_default();
    let mut problems = Vec::new();
    if cloud.len() != list.len() {
        problems.push(format!(
            "{} cloud APIs for {} InferenceApis",
            cloud.len(),
            list.len()
        ));
    }
    for api in &list {
        let id = api.status.as_ref().and_then(|s| s.api_id.clone());
        let Some(found) = cloud.iter().find(|c| c["id"].as_str() == id.as_deref()) else {
            problems.push(format!("{}: API {id:?} not in the cloud", api.name_any()));
            continue;
        };
        let mut bound: Vec<String> = found["boundAppIds"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        bound.sort();
        let mut want: Vec<String> = api
            .spec
            .app_refs
            .iter()
            .filter_map(|r| app_ids.get(&r.name).cloned())
            .collect();
        want.sort();
        if bound != want || want.len() != api.spec.app_refs.len() {
            problems.push(format!(
                "{}: bound {bound:?}, refs resolve to {want:?}",
                api.name_any()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    list.len()
}

/// The encodings a leaked secret could take.
fn forms(secret: &str) -> [String; 4] {
    let json = serde_json::to_string(secret).expect("json");
    [
        secret.to_string(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        json[1..json.len() - 1].to_string(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    ]
}

/// Every secret the simulator issued (app secrets and AppCodes, of live and deleted apps).
pub fn issued_secrets(sim: &Sim) -> Vec<String> {
    let mut secrets: Vec<String> = Vec::new();
    for app in sim.all_apps() {
        if let Some(s) = app["secret"].as_str() {
            secrets.push(s.to_string());
        }
        for c in app["app_codes"].as_array().cloned().unwrap_or_default() {
            if let Some(c) = c.as_str().or_else(|| c["app_code"].as_str()) {
                secrets.push(c.to_string());
            }
        }
    }
    secrets
}

/// No secret appears in the operator's logs, Events, statuses or metrics, raw or encoded.
/// Returns the number of secrets scanned.
pub async fn hygiene(ns: &Ns, secrets: &[String], logs: &str, metrics: &str) -> usize {
    assert!(!secrets.is_empty(), "no secrets to scan for");
    let events: Api<Event> = Api::namespaced(ns.client.clone(), &ns.name);
    let events = serde_json::to_string(
        &events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items,
    )
    .expect("json");
    let apis: Api<InferenceApi> = Api::namespaced(ns.client.clone(), &ns.name);
    let statuses = serde_json::to_string(&(
        ns.apps()
            .list(&ListParams::default())
            .await
            .expect("apps")
            .items
            .iter()
            .map(|a| a.status.clone())
            .collect::<Vec<_>>(),
        apis.list(&ListParams::default())
            .await
            .expect("apis")
            .items
            .iter()
            .map(|a| a.status.clone())
            .collect::<Vec<_>>(),
    ))
    .expect("json");
    let haystacks = [
        ("operator logs", logs),
        ("events", events.as_str()),
        ("statuses", statuses.as_str()),
        ("metrics", metrics),
    ];
    let patterns: Vec<String> = secrets
        .iter()
        .flat_map(|s| forms(s))
        .filter(|f| f.len() >= 8)
        .collect();
    let matcher = aho_corasick::AhoCorasick::new(&patterns).expect("secret matcher");
    // The scan is live: it finds a planted form of every kind.
    for planted in &patterns[..4.min(patterns.len())] {
        assert!(
            matcher.is_match(&format!("log line {planted} end")),
            "the scan finds a planted secret"
        );
    }
    let mut hits = Vec::new();
    for (what, hay) in haystacks {
        for m in matcher.find_iter(hay) {
            hits.push(format!(
                "a secret form ({} chars) found in {what}",
                patterns[m.pattern().as_usize()].len()
            ));
        }
    }
    assert!(hits.is_empty(), "{} secret hits: {hits:?}", hits.len());
    println!(
        "hygiene: {} secrets scanned in {} bytes of logs, {} of Events, {} of statuses, {} of metrics: 0 hits",
        secrets.len(),
        logs.len(),
        events.len(),
        statuses.len(),
        metrics.len()
    );
    secrets.len()
}
