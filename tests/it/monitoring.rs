//! What the chart's alerts and dashboard query exists on the running operator: scraped during a
//! real lifecycle that also goes through the cloud's throttling (429) and quota (QuotaExceeded)
//! paths, every `appauth_*` metric a rule or a panel names must be exposed (a family with only
//! its HELP and TYPE lines counts), and the throttling and quota series the alerts select must
//! carry samples by then. At start, before any cloud call, all but the cloud's families already
//! are, the counters at 0.

use crate::chart::alerts::monitoring_queries;
use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::objects::setup;
use common::operator::{Operator, free_metrics_addr};
use serde_json::json;

const T: Duration = Duration::from_secs(60);

/// The families a metrics page declares, as (name, type) from its `# TYPE` lines.
fn families(page: &str) -> Vec<(String, String)> {
    page.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let (name, kind) = l.split_once(' ')?;
            Some((name.to_string(), kind.trim().to_string()))
        })
        .collect()
}

/// Whether `metric`, as a query names it, is exposed: the sample names a family's type gives
/// (a counter's `_total`; a histogram's `_bucket`, `_sum` and `_count`; a gauge's own name), so
/// a query that forgets a counter's `_total` is caught.
fn exposed(families: &[(String, String)], metric: &str) -> bool {
    families.iter().any(|(name, kind)| {
        let suffixes: &[&str] = match kind.as_str() {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            "info" => &["_info"],
            _ => &[""],
        };
        suffixes
            .iter()
            .any(|s| metric.strip_suffix(s) == Some(name.as_str()))
    })
}

/// Every `appauth_*` metric name in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("appauth_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_name_check_reads_types_and_their_sample_suffixes() {
    let page = "# HELP appauth_reconciles Reconciles by kind.\n\
                # TYPE appauth_reconciles counter\n\
                # HELP appauth_wait_seconds Waits.\n\
                # TYPE appauth_wait_seconds histogram\n\
                appauth_wait_seconds_count 3\n\
                # TYPE appauth_leader gauge\n\
                appauth_leader 1\n# EOF\n";
    let f = families(page);
    for (metric, present) in [
        ("appauth_reconciles_total", true),
        ("appauth_reconciles", false),
        ("appauth_wait_seconds", false),
        ("appauth_wait_seconds_bucket", true),
        ("appauth_wait_seconds_count", true),
        ("appauth_leader", true),
        ("appauth_leader_total", false),
        ("appauth_reconciles_bucket", false),
        ("appauth_missing_total", false),
    ] {
        assert_eq!(exposed(&f, metric), present, "{metric}");
    }
    assert_eq!(
        metric_names("sum(rate(appauth_a_total{x=\"appauth_no\"}[5m])) / appauth_b"),
        ["appauth_a_total", "appauth_b", "appauth_no"]
            .map(String::from)
            .into(),
        "label values are over-read, which only makes the check stricter"
    );
}

/// Scrapes until the page has a sample line starting with `prefix` (name and some labels).
async fn until_sample(addr: &str, prefix: &str, what: &str) -> String {
    Operator::metrics_until(addr, T, what, |page| {
        page.lines()
            .any(|l| l.starts_with(prefix))
            .then(|| page.to_string())
    })
    .await
}

#[tokio::test]
async fn every_metric_the_alerts_and_dashboard_query_is_exposed_during_a_lifecycle() {
    let queries = monitoring_queries();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for (_, expr) in &queries {
        wanted.extend(metric_names(expr));
    }
    // The check is only as good as what it reads: the rules and panels name these at least.
    for name in [
        "appauth_stalled_objects",
        "appauth_not_ready_oldest_seconds",
        "appauth_reconcile_errors_total",
        "appauth_cloud_requests_total",
        "appauth_leader",
        "appauth_workqueue_depth",
        "appauth_workqueue_wait_seconds_bucket",
        "appauth_kube_requests_total",
        "appauth_process_resident_memory_bytes",
        "appauth_build_info",
    ] {
        assert!(wanted.contains(name), "no query names {name}: {wanted:?}");
    }

    let (ns, sim) = setup("monitoring").await;
    // Throttled twice on the first create, and room for two ModelArts apps only.
    sim.handle
        .add_fault(
            hwcloud_sim::FaultSpec::new("apig", "create")
                .status(429)
                .retry_after(1)
                .times(2),
        )
        .expect("fault");
    sim.handle
        .set_config(json!({"modelarts_quota": 2}))
        .expect("config");
    let addr = free_metrics_addr();
    let _op = Operator::start(
        &ns.name,
        &sim.url(),
        &["--metrics-addr", &addr, "--quota-backoff", "1s"],
    );
    // Before any object, every family but the cloud's (they begin with the first cloud call).
    let check_except = |page: &str, phase: &str, later: &str| {
        let f = families(page);
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|m| later.is_empty() || !m.starts_with(later))
            .filter(|m| !exposed(&f, m))
            .collect();
        assert!(
            missing.is_empty(),
            "{phase}: metrics the alerts or the dashboard query are not exposed: {missing:?}"
        );
        // The check can fail: a name no family answers is reported.
        assert!(!exposed(&f, "appauth_no_such_metric_total"));
    };
    let check = |page: &str, phase: &str| check_except(page, phase, "");
    let page = until_sample(&addr, "appauth_leader 1", "the operator leading").await;
    check_except(&page, "at start", "appauth_cloud_");
    // A counter the quota alert takes `increase` of starts at 0, so its first step counts.
    assert!(
        page.lines().any(|l| l
            == "appauth_reconcile_errors_total{kind=\"GatewayApp\",reason=\"QuotaExceeded\"} 0"),
        "no zero QuotaExceeded series at start"
    );

    ns.create("api", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    for name in ["m1", "m2"] {
        ns.create(name, json!({"modelarts": {}})).await;
    }
    ns.wait_ready("api", T).await;
    ns.wait_ready("m1", T).await;
    ns.wait_ready("m2", T).await;
    let page = until_sample(
        &addr,
        "appauth_cloud_requests_total{service=\"apig\",operation=\"create\",code=\"429\"}",
        "the throttled creates counted",
    )
    .await;
    check(&page, "after the throttled create");

    ns.create("m3", json!({"modelarts": {}})).await;
    ns.wait_reason("m3", "QuotaExceeded", T).await;
    let quota = "appauth_reconcile_errors_total{kind=\"GatewayApp\",reason=\"QuotaExceeded\"} ";
    let page = Operator::metrics_until(&addr, T, "the quota failure counted", |page| {
        page.lines()
            .filter_map(|l| l.strip_prefix(quota)?.trim().parse::<f64>().ok())
            .any(|v| v >= 1.0)
            .then(|| page.to_string())
    })
    .await;
    check(&page, "while over quota");

    ns.delete("m1").await;
    ns.wait_ready("m3", T).await;
    for name in ["api", "m2", "m3"] {
        ns.delete(name).await;
    }
    for name in ["api", "m1", "m2", "m3"] {
        ns.wait_gone(name, T).await;
    }
    assert!(sim.apps("modelarts").is_empty() && sim.apps("apig").is_empty());
    check(&Operator::metrics(&addr).await, "after the deletes");
}
