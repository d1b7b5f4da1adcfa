//! The optional monitoring objects: the PrometheusRule's alerts pass `promtool check rules` and
//! the unit tests in `tests/alerts/` (synthetic series: each alert fires, and does not below its
//! threshold, before its `for` or for another namespace), and the Grafana dashboard's ConfigMap
//! carries the sidecar's label and a dashboard Grafana can load. `monitoring_queries` gives the
//! metric-name check in `monitoring.rs` every query the rules and panels run.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{Value, json};

use super::support::{find, render, root, run, scratch, tool};

/// The namespace the unit tests' series carry.
const NAMESPACE: &str = "appauth-system";

fn monitoring_values() -> Value {
    json!({
        "prometheusRule": {"enabled": true, "alertLabels": {"team": "platform"},
                           "labels": {"release": "prometheus"}},
        "grafanaDashboard": {"enabled": true, "namespace": "monitoring",
                             "annotations": {"grafana_folder": "Operators"}},
    })
}

fn rule_groups() -> Value {
    let objs = render("appauth-operator", NAMESPACE, &monitoring_values());
    find(&objs, "PrometheusRule", "appauth-operator")["spec"]["groups"].clone()
}

fn dashboard() -> Value {
    let objs = render("appauth-operator", NAMESPACE, &monitoring_values());
    let cm = find(&objs, "ConfigMap", "appauth-operator-dashboard");
    let json = cm["data"]["appauth-operator.json"]
        .as_str()
        .expect("the dashboard JSON");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("the dashboard is not JSON: {e}"))
}

/// Every panel of the dashboard, those inside rows (collapsed rows keep theirs) included.
fn all_panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut todo: Vec<&Value> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .rev()
        .collect();
    while let Some(panel) = todo.pop() {
        out.push(panel);
        todo.extend(panel["panels"].as_array().into_iter().flatten().rev());
    }
    out
}

#[test]
fn panels_inside_collapsed_rows_are_walked() {
    let d = json!({"panels": [
        {"id": 1, "type": "timeseries"},
        {"id": 2, "type": "row", "collapsed": true, "panels": [{"id": 3}, {"id": 4}]},
        {"id": 5}
    ]});
    let ids: Vec<u64> = all_panels(&d)
        .iter()
        .filter_map(|p| p["id"].as_u64())
        .collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
}

/// Every PromQL expression of the rules and of the dashboard's panels, with where it is from.
pub(crate) fn monitoring_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for group in rule_groups().as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"].as_str().expect("alert name");
            let expr = rule["expr"].as_str().expect("expr");
            queries.push((format!("alert {name}"), expr.to_string()));
        }
    }
    let dashboard = dashboard();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if let Some(query) = variable["query"]["query"].as_str() {
            queries.push((format!("variable {}", variable["name"]), query.to_string()));
        }
    }
    for panel in all_panels(&dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("expr");
            queries.push((format!("panel {}", panel["title"]), expr.to_string()));
        }
    }
    queries
}

fn promtool() -> Command {
    Command::new(tool("promtool"))
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    let dir = scratch("alerts");
    let groups = rule_groups();
    let rules = serde_yaml::to_string(&json!({"groups": groups})).expect("YAML");
    std::fs::write(dir.join("rules.yaml"), rules).expect("rules.yaml");
    let tests = std::fs::read_to_string(root().join("tests/alerts/alerts.test.yaml"))
        .expect("tests/alerts/alerts.test.yaml");
    std::fs::write(dir.join("alerts.test.yaml"), &tests).expect("test file");

    let check = run(
        promtool()
            .args(["check", "rules", "rules.yaml"])
            .current_dir(&dir),
        None,
    );
    assert!(
        check.ok,
        "promtool check rules:\n{}{}",
        check.stdout, check.stderr
    );
    let test = run(
        promtool()
            .args(["test", "rules", "alerts.test.yaml"])
            .current_dir(&dir),
        None,
    );
    assert!(
        test.ok,
        "promtool test rules:\n{}{}",
        test.stdout, test.stderr
    );
    assert!(test.stdout.contains("SUCCESS"), "{}", test.stdout);

    // Every alert the chart ships has a case where it fires and one where it must not, and
    // the tests name no alert it lacks.
    let alerts: BTreeSet<String> = groups
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .map(|r| r["alert"].as_str().expect("alert").to_string())
        .collect();
    let test_doc: Value = serde_yaml::from_str(&tests).expect("test YAML");
    let cases: Vec<(String, bool)> = test_doc["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .flat_map(|t| {
            t["alert_rule_test"]
                .as_array()
                .expect("alert_rule_test")
                .iter()
        })
        .map(|c| {
            let fires = c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
            (
                c["alertname"].as_str().expect("alertname").to_string(),
                fires,
            )
        })
        .collect();
    for fires in [true, false] {
        let tested: BTreeSet<String> = cases
            .iter()
            .filter(|(_, f)| *f == fires)
            .map(|(name, _)| name.clone())
            .collect();
        assert_eq!(
            alerts,
            tested,
            "alerts without a case where they {}, or cases of no alert",
            if fires { "fire" } else { "must not fire" }
        );
    }
    for wanted in [
        "AppauthObjectsStalled",
        "AppauthObjectNotReady",
        "AppauthReconcileErrors",
        "AppauthCloudThrottled",
        "AppauthCloudErrors",
        "AppauthNoLeader",
        "AppauthQuotaExhausted",
    ] {
        assert!(
            alerts.contains(wanted),
            "no alert {wanted} among {alerts:?}"
        );
    }
}

/// The unit tests can fail: an alert without its namespace scope fires on another namespace's
/// series, and promtool says so.
#[test]
fn the_unit_tests_catch_an_alert_that_ignores_the_namespace() {
    let dir = scratch("alerts-unscoped");
    let scoped = format!("namespace=\"{NAMESPACE}\"");
    let mut groups = rule_groups();
    let mut replaced = 0;
    for group in groups.as_array_mut().expect("groups") {
        for rule in group["rules"].as_array_mut().expect("rules") {
            let expr = rule["expr"].as_str().expect("expr");
            replaced += expr.matches(&scoped).count();
            rule["expr"] = json!(expr.replace(&scoped, "namespace=~\".+\""));
        }
    }
    assert!(replaced >= 9, "{replaced} namespace scopes");
    let rules = serde_yaml::to_string(&json!({"groups": groups})).expect("YAML");
    std::fs::write(dir.join("rules.yaml"), rules).expect("rules.yaml");
    std::fs::copy(
        root().join("tests/alerts/alerts.test.yaml"),
        dir.join("alerts.test.yaml"),
    )
    .expect("test file");
    let test = run(
        promtool()
            .args(["test", "rules", "alerts.test.yaml"])
            .current_dir(&dir),
        None,
    );
    assert!(!test.ok, "unscoped rules passed:\n{}", test.stdout);
    assert!(
        format!("{}{}", test.stdout, test.stderr).contains("AppauthObjectsStalled"),
        "promtool names the alert:\n{}{}",
        test.stdout,
        test.stderr
    );
}

#[test]
fn rule_labels_and_alert_labels_come_from_the_values() {
    let objs = render("appauth-operator", NAMESPACE, &monitoring_values());
    let rule = find(&objs, "PrometheusRule", "appauth-operator");
    assert_eq!(rule["metadata"]["namespace"], NAMESPACE);
    assert_eq!(rule["metadata"]["labels"]["release"], "prometheus");
    for group in rule["spec"]["groups"].as_array().expect("groups") {
        for r in group["rules"].as_array().expect("rules") {
            assert_eq!(r["labels"]["team"], "platform", "{r}");
            assert!(r["annotations"].get("runbook_url").is_none(), "{r}");
        }
    }
    let mut values = monitoring_values();
    values["prometheusRule"]["runbookUrl"] = json!("https://wiki.example.com/appauth#alerts");
    values["prometheusRule"]["notReadySeconds"] = json!(600);
    let objs = render("appauth-operator", NAMESPACE, &values);
    let rule = find(&objs, "PrometheusRule", "appauth-operator");
    let rules: Vec<&Value> = rule["spec"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .collect();
    assert!(
        rules
            .iter()
            .all(|r| r["annotations"]["runbook_url"] == "https://wiki.example.com/appauth#alerts")
    );
    let not_ready = rules
        .iter()
        .find(|r| r["alert"] == "AppauthObjectNotReady")
        .expect("AppauthObjectNotReady");
    assert!(
        not_ready["expr"]
            .as_str()
            .unwrap_or_default()
            .ends_with("> 600"),
        "{not_ready}"
    );
}

#[test]
fn dashboard_configmap_is_found_by_the_grafana_sidecar() {
    let objs = render("appauth-operator", NAMESPACE, &monitoring_values());
    let cm = find(&objs, "ConfigMap", "appauth-operator-dashboard");
    assert_eq!(cm["metadata"]["namespace"], "monitoring");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(cm["metadata"]["annotations"]["grafana_folder"], "Operators");

    let d = dashboard();
    assert_eq!(d["uid"], "appauth-operator");
    let variables: Vec<&str> = d["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(variables, ["datasource", "namespace"]);
    let panels: Vec<&Value> = all_panels(&d)
        .into_iter()
        .filter(|p| p["type"] != "row")
        .collect();
    assert!(panels.len() >= 12, "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    for p in &panels {
        assert!(
            ids.insert(p["id"].as_u64().expect("id")),
            "duplicate id: {p}"
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(
            !targets.is_empty(),
            "a panel without queries: {}",
            p["title"]
        );
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            assert!(
                expr.contains("namespace=~\"$namespace\""),
                "a query not scoped to the namespace variable: {expr}"
            );
        }
    }

    // Off by default, and a custom sidecar label.
    let objs = render("appauth-operator", NAMESPACE, &json!({}));
    assert!(
        !objs.iter().any(|o| o["kind"] == "PrometheusRule"
            || o["metadata"]["name"] == "appauth-operator-dashboard")
    );
    let objs = render(
        "appauth-operator",
        NAMESPACE,
        &json!({"grafanaDashboard": {"enabled": true, "sidecarLabel": "dashboards",
                                     "sidecarLabelValue": "appauth"}}),
    );
    let cm = find(&objs, "ConfigMap", "appauth-operator-dashboard");
    assert_eq!(cm["metadata"]["namespace"], NAMESPACE);
    assert_eq!(cm["metadata"]["labels"]["dashboards"], "appauth");
}
