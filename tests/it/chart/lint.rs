//! `helm lint --strict` for every value set (also as a user's released helm, with no
//! `--kube-version`); values the schema or the templates must refuse are refused; every flag a
//! value set renders parses in the binary.

use std::process::Command;

use serde_json::json;

use super::support::{
    KUBE_VERSION, args, chart_dir, helm, kinds, parse_yaml, render, run, template, value_sets,
    write_values,
};
/// A user's helm (a release build) knows a default Kubernetes version, so the chart renders and
/// lints with no `--kube-version` and no cluster; a helm built without its release flags says
/// "Kubernetes v1.20.0" and refuses the chart's `kubeVersion`.
#[test]
fn helm_as_released_renders_and_lints_without_a_kube_version() {
    let version = run(helm().args(["version", "--template", "{{.Version}}"]), None);
    assert!(
        version.ok && version.stdout.trim().starts_with("v3."),
        "helm version: {} {}",
        version.stdout,
        version.stderr
    );
    let rendered = run(
        helm()
            .args(["template", "plain", "--namespace", "appauth-system"])
            .arg(chart_dir()),
        None,
    );
    assert!(
        rendered.ok,
        "helm template without --kube-version: {}",
        rendered.stderr
    );
    assert!(kinds(&parse_yaml(&rendered.stdout)).contains("Deployment"));
    let linted = run(helm().args(["lint", "--strict"]).arg(chart_dir()), None);
    assert!(
        linted.ok && linted.stdout.contains("0 chart(s) failed"),
        "helm lint without --kube-version:\n{}\n{}",
        linted.stdout,
        linted.stderr
    );
}

#[test]
fn helm_lint_passes_for_every_value_set() {
    for (name, values) in value_sets() {
        let file = write_values(&format!("lint-{name}"), &values);
        let out = run(
            helm()
                .args(["lint", "--strict", "--kube-version", KUBE_VERSION])
                .arg(chart_dir())
                .arg("-f")
                .arg(&file),
            None,
        );
        assert!(
            out.ok && out.stdout.contains("0 chart(s) failed"),
            "helm lint ({name}):\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}

#[test]
fn helm_template_refuses_bad_values() {
    for (values, expect) in [
        (
            json!({"replicaCount": 2, "leaderElection": {"enabled": false}}),
            "needs leaderElection.enabled",
        ),
        (
            json!({"serviceMonitor": {"enabled": true}, "metrics": {"service": {"enabled": false}}}),
            "needs metrics.service.enabled",
        ),
        (json!({"cloud": {"region": "CN North"}}), "/cloud/region"),
        (
            json!({"cloud": {"endpoints": {"obs": "https://obs.example.com"}}}),
            "/cloud/endpoints",
        ),
        (
            json!({"cloud": {"rateLimits": {"apig": "fast"}}}),
            "/cloud/rateLimits",
        ),
        (
            json!({"cloud": {"errorCodes": {"X.1": "Gone"}}}),
            "/cloud/errorCodes",
        ),
        (json!({"resyncPeriod": "ten minutes"}), "/resyncPeriod"),
        (
            json!({"prometheusRule": {"alertLabels": {"severity": "page"}}}),
            "/prometheusRule/alertLabels",
        ),
        (
            json!({"prometheusRule": {"reconcileErrorRatio": 2}}),
            "/prometheusRule/reconcileErrorRatio",
        ),
        (
            json!({"grafanaDashboard": {"sidecarLabel": "a b"}}),
            "/grafanaDashboard/sidecarLabel",
        ),
        (json!({"logging": {"format": "xml"}}), "/logging/format"),
        (json!({"watchNamespace": "Team_A"}), "/watchNamespace"),
        (
            json!({"admission": {"grantsName": "Grants_A"}}),
            "/admission/grantsName",
        ),
        (
            json!({"admission": {"enforce": true}}),
            "additional properties 'enforce'",
        ),
        (
            json!({"credentials": {"existingSecret": "Bad Name"}}),
            "/credentials/existingSecret",
        ),
        (
            json!({"cloud": {"caBundle": {"configMapName": "Corporate CA"}}}),
            "/cloud/caBundle/configMapName",
        ),
        (
            json!({"cloud": {"caBundle": {"configMapName": "ca", "key": "a/b"}}}),
            "/cloud/caBundle/key",
        ),
        (
            json!({"hostAliases": [{"ip": "10.0.0.10"}]}),
            "/hostAliases/0",
        ),
        (
            json!({"federation": {"idpId": "k8s", "tokenExpirationSeconds": 599}}),
            "/federation/tokenExpirationSeconds",
        ),
        (
            json!({"federation": {"audience": ""}}),
            "/federation/audience",
        ),
        (
            json!({"federation": {"credentialDuration": "an hour"}}),
            "/federation/credentialDuration",
        ),
        (
            json!({"federation": {"namespaceServiceAccounts": "yes"}}),
            "/federation/namespaceServiceAccounts",
        ),
        (
            json!({"podIdentity": {"enabled": true}}),
            "needs podIdentity.uri",
        ),
        (
            json!({"podIdentity": {"enabled": true, "uri": "agent:8080"}}),
            "/podIdentity/uri",
        ),
        (
            json!({"instanceMetadata": {"enabled": true, "url": ""}}),
            "/instanceMetadata/url",
        ),
        (
            json!({"proxy": {"httpsProxy": "proxy.example.com:3128"}}),
            "/proxy/httpsProxy",
        ),
        (
            json!({"proxy": {"apiserverProxy": "http://bad host"}}),
            "/proxy/apiserverProxy",
        ),
        (json!({"replicas": 2}), "additional properties 'replicas'"),
        (json!({"extraArgs": ["run"]}), "/extraArgs"),
        (
            json!({"serviceAccount": {"create": false}}),
            "serviceAccount.name is required",
        ),
    ] {
        let err = template("appauth", "ops", &values, &[])
            .err()
            .unwrap_or_else(|| panic!("helm template accepted {values}"));
        assert!(
            err.contains(expect),
            "{values}: expected {expect:?} in: {err}"
        );
    }
}

/// The binary's own parser accepts every flag each value set renders (clap validates the names
/// and typed values of everything before a trailing --help).
#[test]
fn rendered_args_parse() {
    for (name, values) in value_sets() {
        let objs = render("appauth", "ops", &values);
        let out = run(
            Command::new(env!("CARGO_BIN_EXE_appauth-operator"))
                .args(args(&objs))
                .arg("--help")
                .env_remove("APPAUTH_FAILPOINT"),
            None,
        );
        assert!(
            out.ok,
            "{name}: the binary rejects the chart's args:\n{}",
            out.stderr
        );
    }
}

/// The packaged chart (`cargo xtask chart` runs the same `helm package`) holds everything the
/// directory renders: the same objects and the CRDs.
#[test]
fn the_packaged_chart_renders_as_the_directory_does() {
    let out = super::support::scratch("package");
    let packaged = run(
        helm()
            .arg("package")
            .arg(chart_dir())
            .arg("--destination")
            .arg(&out),
        None,
    );
    assert!(packaged.ok, "helm package: {}", packaged.stderr);
    let version = env!("CARGO_PKG_VERSION");
    let archive = out.join(format!("appauth-operator-{version}.tgz"));
    assert!(
        archive.is_file(),
        "{}: {}",
        archive.display(),
        packaged.stdout
    );
    let render = |chart: &std::path::Path| {
        let out = run(
            helm()
                .args(["template", "pkg", "--namespace", "ops", "--include-crds"])
                .args(["--kube-version", KUBE_VERSION])
                .arg(chart),
            None,
        );
        assert!(out.ok, "helm template {}: {}", chart.display(), out.stderr);
        out.stdout
    };
    let from_archive = render(&archive);
    assert_eq!(from_archive, render(&chart_dir()));
    assert!(kinds(&parse_yaml(&from_archive)).contains("CustomResourceDefinition"));
}
