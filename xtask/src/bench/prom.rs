//! Reading Prometheus text-format metrics: the apiserver's request counters and the operator's
//! reconcile counters. Pure: the callers fetch the text.

use std::collections::BTreeMap;

/// A label's value in a Prometheus text-format sample line ("" when absent).
pub fn label_value<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!("{name}=\"");
    line.find(&key)
        .map(|i| &line[i + key.len()..])
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
}

/// The value of a Prometheus text-format sample line (0 when unreadable).
pub fn sample_value(line: &str) -> f64 {
    line.rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// From the apiserver's `apiserver_request_total`: every request by "VERB resource[/sub]" (for
/// the breakdown printed with each run), and the writes (PUT, PATCH, APPLY) by resource. POST
/// is not a write here: the only creates are the benchmark's own.
pub fn request_counts(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |name: &str| label_value(line, name).to_string();
        let value = sample_value(line);
        let (verb, resource) = (label("verb"), label("resource"));
        let sub = label("subresource");
        *out.entry(format!(
            "{verb} {resource}{}{sub}",
            if sub.is_empty() { "" } else { "/" }
        ))
        .or_default() += value;
        if ["PUT", "PATCH", "APPLY"].contains(&verb.as_str()) {
            *out.entry(resource).or_default() += value;
        }
    }
    out
}

/// Writes to GatewayApps and Secrets between two [`request_counts`].
pub fn writes_delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> f64 {
    ["gatewayapps", "secrets"]
        .iter()
        .map(|k| after.get(*k).copied().unwrap_or(0.0) - before.get(*k).copied().unwrap_or(0.0))
        .sum()
}

/// The counters that moved between two readings, by name, and by how much.
pub fn moved(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d != 0.0)
        .collect()
}

/// Every request but watches on GatewayApps (and their status), Secrets and Events between two
/// [`request_counts`], by "VERB resource" (those that did not move left out): what the operator
/// could be asking of the apiserver (the counters are the whole cluster's).
pub fn operator_requests_delta(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    moved(before, after)
        .into_iter()
        .filter(|(k, _)| {
            k.split_once(' ').is_some_and(|(verb, resource)| {
                verb != "WATCH"
                    && ["gatewayapps", "gatewayapps/status", "secrets", "events"]
                        .contains(&resource)
            })
        })
        .collect()
}

/// A map of counters from literal pairs, for tests.
#[cfg(test)]
pub fn counters(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Requests per app by "VERB resource" between two [`request_counts`], WATCH left out (a watch
/// is one long request) and so are those under 0.01 per app: "PATCH gatewayapps 2.00".
pub fn per_app_breakdown(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    n: usize,
) -> Vec<String> {
    after
        .iter()
        .filter(|(k, _)| k.contains(' ') && !k.starts_with("WATCH"))
        .filter_map(|(k, v)| {
            let d = (v - before.get(k).copied().unwrap_or(0.0)) / n as f64;
            (d >= 0.01).then(|| format!("{k} {d:.2}"))
        })
        .collect()
}

/// GatewayApp reconciles so far, from the operator's own metrics: all of them, and those that
/// returned early because the cache was stale or nothing had changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reconciles {
    pub all: f64,
    pub stale: f64,
    pub settled: f64,
    /// Objects queued for a reconcile that has not started (the operator's work-queue gauge,
    /// refreshed every few seconds).
    pub queued: f64,
    /// Failed reconciles by reason.
    pub failed: BTreeMap<String, f64>,
}

/// The GatewayApp counters of the operator's /metrics text (other kinds left out).
pub fn reconciles(text: &str) -> Reconciles {
    let samples = |prefix: &'static str| {
        text.lines()
            .filter(move |l| l.starts_with(prefix) && label_value(l, "kind") == "GatewayApp")
    };
    // A sum of no samples is -0.0, printed "-0.00": start from +0.0 (a build that never skips
    // for this reason, or a baseline that did).
    let skipped = |why: &str| -> f64 {
        samples("appauth_reconciles_skipped_total{")
            .filter(|l| label_value(l, "why") == why)
            .map(sample_value)
            .fold(0.0, |a, b| a + b)
    };
    let mut failed = BTreeMap::new();
    // The operator starts every reason's series at 0: only those that counted something.
    for line in samples("appauth_reconcile_errors_total{").filter(|l| sample_value(l) != 0.0) {
        *failed
            .entry(label_value(line, "reason").to_string())
            .or_default() += sample_value(line);
    }
    Reconciles {
        failed,
        all: samples("appauth_reconciles_total{").map(sample_value).sum(),
        stale: skipped("stale"),
        settled: skipped("settled"),
        queued: samples("appauth_workqueue_depth{")
            .map(sample_value)
            .fold(0.0, |a, b| a + b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::counters as map;

    #[test]
    fn label_values() {
        let line = r#"m{kind="GatewayApp",why="",reason="a b"} 3"#;
        for (name, want) in [
            ("kind", "GatewayApp"),
            ("why", ""),
            ("reason", "a b"),
            ("absent", ""),
            // A name that is the tail of another label's name matches that label: the bench
            // only asks for names that are not such tails.
            ("ind", "GatewayApp"),
        ] {
            assert_eq!(label_value(line, name), want, "{name}");
        }
    }

    #[test]
    fn sample_values() {
        for (line, want) in [
            ("m 3", 3.0),
            (r#"m{a="b"} 12.5"#, 12.5),
            ("m{} 1e3", 1000.0),
            ("m{} NaNish", 0.0),
            ("m{} ", 0.0),
            ("", 0.0),
        ] {
            assert_eq!(sample_value(line), want, "{line:?}");
        }
    }

    #[test]
    fn request_counts_by_verb_and_writes_by_resource() {
        let text = r#"# HELP apiserver_request_total Counter
apiserver_request_total{code="200",resource="gatewayapps",subresource="",verb="PATCH"} 5
apiserver_request_total{code="409",resource="gatewayapps",subresource="",verb="PATCH"} 1
apiserver_request_total{code="201",resource="secrets",subresource="",verb="APPLY"} 2
apiserver_request_total{code="200",resource="gatewayapps",subresource="status",verb="APPLY"} 3
apiserver_request_total{code="201",resource="gatewayapps",subresource="",verb="POST"} 7
apiserver_request_total{code="200",resource="secrets",subresource="",verb="GET"} 4
apiserver_request_duration_seconds{resource="secrets",verb="PUT"} 9
"#;
        let want = map(&[
            ("PATCH gatewayapps", 6.0),
            ("APPLY secrets", 2.0),
            ("APPLY gatewayapps/status", 3.0),
            ("POST gatewayapps", 7.0),
            ("GET secrets", 4.0),
            // PATCH 6 + status APPLY 3; POST and GET are not writes.
            ("gatewayapps", 9.0),
            ("secrets", 2.0),
        ]);
        assert_eq!(request_counts(text), want);
    }

    #[test]
    fn operator_request_deltas() {
        let before = map(&[("GET secrets", 1.0), ("PATCH gatewayapps", 2.0)]);
        let after = map(&[
            ("GET secrets", 4.0),
            ("PATCH gatewayapps", 2.0),
            ("APPLY gatewayapps/status", 1.0),
            ("POST events", 1.0),
            // Not the operator's doing, or not a request to count.
            ("WATCH secrets", 9.0),
            ("PUT leases", 5.0),
            ("secrets", 7.0),
        ]);
        let want = map(&[
            ("GET secrets", 3.0),
            ("APPLY gatewayapps/status", 1.0),
            ("POST events", 1.0),
        ]);
        assert_eq!(operator_requests_delta(&before, &after), want);
    }

    #[test]
    fn write_deltas() {
        for (before, after, want) in [
            (map(&[]), map(&[]), 0.0),
            (
                map(&[]),
                map(&[("gatewayapps", 3.0), ("secrets", 1.0)]),
                4.0,
            ),
            (
                map(&[("gatewayapps", 10.0), ("secrets", 5.0)]),
                map(&[("gatewayapps", 13.0), ("secrets", 6.0)]),
                4.0,
            ),
            // Other resources and the per-verb entries do not count.
            (
                map(&[("configmaps", 1.0)]),
                map(&[("configmaps", 9.0), ("PATCH gatewayapps", 9.0)]),
                0.0,
            ),
        ] {
            assert_eq!(
                writes_delta(&before, &after),
                want,
                "{before:?} -> {after:?}"
            );
        }
    }

    #[test]
    fn breakdowns() {
        for (before, after, n, want) in [
            (
                map(&[("PATCH gatewayapps", 10.0)]),
                map(&[("PATCH gatewayapps", 30.0), ("APPLY secrets", 10.0)]),
                10,
                vec!["APPLY secrets 1.00", "PATCH gatewayapps 2.00"],
            ),
            // Watches, per-resource write totals and counts under 0.01 per app are left out.
            (
                map(&[]),
                map(&[
                    ("WATCH gatewayapps", 5.0),
                    ("gatewayapps", 5.0),
                    ("GET secrets", 0.5),
                ]),
                100,
                vec![],
            ),
        ] {
            assert_eq!(per_app_breakdown(&before, &after, n), want);
        }
    }

    #[test]
    fn reconcile_counters() {
        let text = r#"appauth_reconciles_total{kind="GatewayApp"} 10
appauth_reconciles_total{kind="InferenceApi"} 99
appauth_reconciles_skipped_total{kind="GatewayApp",why="stale"} 2
appauth_reconciles_skipped_total{kind="GatewayApp",why="settled"} 3
appauth_reconciles_skipped_total{kind="GatewayApp",why="paused"} 4
appauth_reconcile_errors_total{kind="GatewayApp",reason="Transient"} 1
appauth_reconcile_errors_total{kind="GatewayApp",reason="Transient"} 1
appauth_reconcile_errors_total{kind="GatewayApp",reason="Throttled"} 5
appauth_reconcile_errors_total{kind="InferenceApi",reason="Conflict"} 7
appauth_reconcile_errors_total{kind="GatewayApp",reason="QuotaExceeded"} 0
appauth_workqueue_depth{kind="GatewayApp"} 6
appauth_workqueue_depth{kind="InferenceApi"} 8
"#;
        for (text, want) in [
            ("", Reconciles::default()),
            (
                text,
                Reconciles {
                    all: 10.0,
                    stale: 2.0,
                    settled: 3.0,
                    queued: 6.0,
                    failed: map(&[("Transient", 2.0), ("Throttled", 5.0)]),
                },
            ),
        ] {
            assert_eq!(reconciles(text), want);
        }
    }
}
