//! What `helm template` renders for the default, the single-namespace and the everything-enabled
//! value sets: the objects, least-privilege RBAC exactly, the Pod's security settings, the args.

use std::collections::BTreeSet;

use serde_json::json;

use super::support::{
    args, container, deployment, find, full_values, grant, grants, kinds, render, template,
    tenancy_grants, value_sets,
};
use crate::common::operator::PROJECT;
#[test]
fn helm_template_defaults() {
    let objs = render("appauth", "ops", &json!({}));
    assert_eq!(
        kinds(&objs),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ]
        .map(String::from)
        .into(),
        "default objects (no ServiceMonitor, no PodDisruptionBudget)"
    );
    let name = "appauth-appauth-operator";
    // Least privilege, exactly: nothing beyond what docs/operations.md explains.
    let role = grants(find(&objs, "ClusterRole", name));
    let mut expected = BTreeSet::new();
    for r in ["gatewayapps", "inferenceapis"] {
        for v in ["get", "list", "watch", "patch"] {
            expected.insert(grant("appauth.hwcloud.dev", r, v));
        }
        expected.insert(grant(
            "appauth.hwcloud.dev",
            &format!("{r}/status"),
            "patch",
        ));
        expected.insert(grant(
            "appauth.hwcloud.dev",
            &format!("{r}/finalizers"),
            "update",
        ));
    }
    for v in ["get", "list", "watch", "create", "patch", "delete"] {
        expected.insert(grant("", "secrets", v));
    }
    for v in ["create", "patch"] {
        expected.insert(grant("events.k8s.io", "events", v));
    }
    assert_eq!(role, expected, "the operator's ClusterRole");
    let binding = find(&objs, "ClusterRoleBinding", name);
    assert_eq!(binding["roleRef"]["name"], name);
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": name, "namespace": "ops"}])
    );
    // Tenancy: cluster-scoped reads, its own grant set by name, nothing else.
    let tenancy = format!("{name}-tenancy");
    assert_eq!(
        tenancy_grants(find(&objs, "ClusterRole", &tenancy)),
        expected_tenancy_grants("appauth-operator", None),
        "the tenancy ClusterRole"
    );
    let binding = find(&objs, "ClusterRoleBinding", &tenancy);
    assert_eq!(binding["roleRef"]["name"], tenancy);
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": name, "namespace": "ops"}])
    );
    let lease_role = find(&objs, "Role", &format!("{name}-leader-election"));
    assert_eq!(lease_role["metadata"]["namespace"], "ops");
    assert_eq!(
        lease_role["rules"],
        json!([
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "resourceNames": [name], "verbs": ["get", "patch"]},
        ]),
        "the Lease, by name, and nothing else"
    );
    // Users get read access through view and write access through edit/admin.
    let view = find(&objs, "ClusterRole", &format!("{name}-view"));
    assert_eq!(
        view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"],
        "true"
    );
    assert!(
        grants(view)
            .iter()
            .all(|(_, _, v)| ["get", "list", "watch"].contains(&v.as_str())),
        "view is read-only"
    );
    assert!(grants(view).contains(&grant("appauth.hwcloud.dev", "appauthpolicies", "list")));
    // What tenants are granted through the built-in roles never reaches past their objects:
    // nothing on the grant set, no write on policies, no status write.
    for role in objs.iter().filter(|o| {
        o["kind"] == "ClusterRole"
            && o["metadata"]["labels"]
                .as_object()
                .is_some_and(|l| l.keys().any(|k| k.contains("aggregate-to-")))
    }) {
        for (group, resource, verb) in grants(role) {
            let read = ["get", "list", "watch"].contains(&verb.as_str());
            assert!(
                !resource.starts_with("appauthgrantsets")
                    && (read
                        || !(resource.starts_with("appauthpolicies")
                            || resource.ends_with("/status"))),
                "{} grants {verb} on {group}/{resource} to tenants",
                role["metadata"]["name"]
            );
        }
    }
    // The admission policy: the chart's grant set, every namespace.
    let vap_name = format!("{name}-tenancy");
    let vap = find(&objs, "ValidatingAdmissionPolicy", &vap_name);
    assert_eq!(
        vap["spec"]["paramKind"],
        json!({"apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "AppAuthGrantSet"})
    );
    assert_eq!(
        vap["spec"]["matchConstraints"]["resourceRules"],
        json!([{"apiGroups": ["appauth.hwcloud.dev"], "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"], "resources": ["gatewayapps", "inferenceapis"]}]),
        "both kinds, not their status, never a DELETE"
    );
    assert_eq!(vap["spec"]["failurePolicy"], "Fail");
    let vap_binding = find(&objs, "ValidatingAdmissionPolicyBinding", &vap_name);
    assert_eq!(
        vap_binding["spec"],
        json!({"policyName": vap_name, "validationActions": ["Deny"],
               "paramRef": {"name": "appauth-operator", "parameterNotFoundAction": "Allow"}})
    );

    let d = deployment(&objs);
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], name);
    assert_eq!(
        pod["securityContext"],
        json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
               "seccompProfile": {"type": "RuntimeDefault"}})
    );
    let c = container(&objs);
    assert_eq!(c["image"], "appauth-operator:0.1.0", "tag = appVersion");
    assert_eq!(
        c["securityContext"],
        json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
               "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]},
               "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "metrics"})
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "metrics"})
    );
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    let lease_flag = format!("--leader-election-id={name}");
    assert_eq!(
        args(&objs),
        [
            "run",
            "--metrics-addr=0.0.0.0:8080",
            "--log-format=json",
            "--cluster-name=default",
            "--concurrency=16",
            "--resync-period=10m",
            "--request-timeout=10s",
            "--quota-backoff=60s",
            "--allow-adoption=false",
            "--grants-name=appauth-operator",
            "--lease-duration=15s",
            "--leader-elect=true",
            lease_flag.as_str(),
        ]
    );
    let env = &c["env"];
    assert!(
        env.as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "POD_NAMESPACE"
                && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"),
        "the Lease namespace comes from the pod's namespace: {env}"
    );
    // No default account configured: no credentials volume.
    assert!(
        !pod["volumes"].to_string().contains("credentials"),
        "no credentials volume without credentials.existingSecret"
    );
    assert!(
        !pod["volumes"].to_string().contains("ca-bundle"),
        "no CA bundle volume without cloud.caBundle.configMapName"
    );
    assert!(
        pod.get("hostAliases").is_none(),
        "no hostAliases by default"
    );
    let svc = find(&objs, "Service", &format!("{name}-metrics"));
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(
        svc["spec"]["selector"], d["spec"]["selector"]["matchLabels"],
        "the metrics Service selects the operator's pods"
    );
    // Every object carries the standard labels.
    for o in &objs {
        let labels = &o["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/name"], "appauth-operator", "{o}");
        assert_eq!(labels["app.kubernetes.io/instance"], "appauth", "{o}");
    }
}

#[test]
fn helm_template_single_namespace_uses_a_role_there() {
    let (_, values) = value_sets().remove(1);
    let objs = render("appauth", "ops", &values);
    assert_eq!(
        kinds(&objs),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "ServiceAccount",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ]
        .map(String::from)
        .into(),
        "a ClusterRole only for tenancy, no lease Role without leader election, no Service"
    );
    let tenancy = find(&objs, "ClusterRole", "appauth-appauth-operator-tenancy");
    assert_eq!(
        tenancy_grants(tenancy),
        expected_tenancy_grants("appauth-operator", Some("team-a")),
        "policies and grant sets are cluster-scoped; of namespaces, only the watched one"
    );
    assert_eq!(
        objs.iter().filter(|o| o["kind"] == "ClusterRole").count(),
        1,
        "nothing else cluster-wide"
    );
    assert_eq!(
        find(
            &objs,
            "ValidatingAdmissionPolicyBinding",
            "appauth-appauth-operator-tenancy"
        )["spec"]["matchResources"],
        json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "team-a"}}}),
        "admission judges only the watched namespace's objects"
    );
    let role = find(&objs, "Role", "appauth-appauth-operator");
    assert_eq!(
        role["metadata"]["namespace"], "team-a",
        "the Role is in the watched namespace"
    );
    assert!(grants(role).contains(&grant("", "secrets", "list")));
    let binding = find(&objs, "RoleBinding", "appauth-appauth-operator");
    assert_eq!(binding["metadata"]["namespace"], "team-a");
    assert_eq!(
        binding["subjects"][0]["namespace"], "ops",
        "the ServiceAccount stays in ops"
    );
    let a = args(&objs);
    assert!(a.contains(&"--namespace=team-a".to_string()), "{a:?}");
    assert!(a.iter().all(|x| !x.starts_with("--leader-elect")), "{a:?}");
    assert_eq!(
        deployment(&objs)["spec"]["strategy"],
        json!({"type": "Recreate"}),
        "without leader election the old pod goes first"
    );
}

#[test]
fn helm_template_everything_enabled() {
    let objs = render("payments", "ops", &full_values());
    let name = "payments-appauth-operator";
    let d = deployment(&objs);
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["image"],
        format!(
            "registry.example.com/platform/appauth-operator@sha256:{}",
            "ab".repeat(32)
        )
    );
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "registry"}]));
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert_eq!(pod["topologySpreadConstraints"][0]["maxSkew"], 1);
    let tmpl = &d["spec"]["template"]["metadata"];
    assert_eq!(tmpl["labels"]["team"], "payments");
    assert_eq!(tmpl["annotations"]["example.com/team"], "payments");
    let a = args(&objs);
    let project_flag = format!("--project-id={PROJECT}");
    for want in [
        "--log-format=text",
        "--cluster-name=prod-eu",
        "--allow-adoption=false",
        "--grants-name=payments-grants",
        "--policy-selector=appauth.example.com/install=payments",
        "--concurrency=4",
        "--resync-period=1h30m",
        "--lease-duration=20s",
        "--leader-elect=true",
        "--leader-election-id=payments-operator",
        "--label-selector=team=payments",
        "--region=cn-north-4",
        project_flag.as_str(),
        "--endpoint=apig=https://apig.example.com",
        "--endpoint=iam=https://iam.example.com",
        "--rate-limit=apig=20/40",
        "--rate-limit=modelarts=10",
        "--error-code=ModelArts.6404=NotFound",
        "--credentials-dir=/etc/appauth-operator/credentials",
        "--ca-bundle=/etc/appauth-operator/ca/bundle.pem",
        "--modelarts-plaintext-flag=plaintext_enabled",
    ] {
        assert!(a.contains(&want.to_string()), "{want} in {a:?}");
    }
    let lease_role = find(&objs, "Role", &format!("{name}-leader-election"));
    assert_eq!(
        lease_role["rules"][1]["resourceNames"],
        json!(["payments-operator"])
    );
    assert_eq!(
        tenancy_grants(find(&objs, "ClusterRole", &format!("{name}-tenancy"))),
        expected_tenancy_grants("payments-grants", None),
        "the operator writes the grant set the values name"
    );
    assert_eq!(
        find(
            &objs,
            "ValidatingAdmissionPolicyBinding",
            &format!("{name}-tenancy")
        )["spec"]["paramRef"]["name"],
        "payments-grants"
    );
    // Credentials: the Secret as read-only files, readable by the non-root group.
    let c = &pod["containers"][0];
    assert!(
        c["volumeMounts"].as_array().unwrap().contains(&json!(
            {"name": "credentials", "mountPath": "/etc/appauth-operator/credentials", "readOnly": true}
        )),
        "{}",
        c["volumeMounts"]
    );
    assert!(
        pod["volumes"].as_array().unwrap().contains(&json!(
            {"name": "credentials", "secret": {"secretName": "hwcloud-account", "defaultMode": 0o440}}
        )),
        "{}",
        pod["volumes"]
    );
    assert!(
        c["env"].as_array().unwrap().iter().all(|e| !e["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with("HWCLOUD_")),
        "credentials are files, never env"
    );
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "RUST_LOG", "value": "debug"}))
    );
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "TZ", "value": "UTC"}))
    );
    // ServiceMonitor scrapes the metrics Service's named port.
    let svc = find(&objs, "Service", &format!("{name}-metrics"));
    let sm = find(&objs, "ServiceMonitor", name);
    assert_eq!(sm["metadata"]["labels"]["release"], "prometheus");
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            &svc["metadata"]["labels"][k], v,
            "ServiceMonitor selects the Service by {k}"
        );
    }
    assert_eq!(
        sm["spec"]["endpoints"][0]["port"],
        svc["spec"]["ports"][0]["name"]
    );
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(
        sm["spec"]["namespaceSelector"]["matchNames"],
        json!(["ops"])
    );
    let pdb = find(&objs, "PodDisruptionBudget", name);
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        d["spec"]["selector"]["matchLabels"]
    );
    // The NetworkPolicy: the operator's Pods, the metrics port from the monitoring namespace,
    // DNS, HTTPS and the apiserver's port out, and the proxy the values add.
    let np = find(&objs, "NetworkPolicy", name);
    assert_eq!(
        np["spec"],
        json!({
            "podSelector": {"matchLabels": d["spec"]["selector"]["matchLabels"]},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{
                "ports": [{"protocol": "TCP", "port": 8080}],
                "from": [{"namespaceSelector":
                    {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
            }],
            "egress": [
                {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 5443},
                           {"protocol": "TCP", "port": 6443}]},
                {"to": [{"ipBlock": {"cidr": "10.20.0.5/32"}}],
                 "ports": [{"protocol": "TCP", "port": 3128}]},
            ],
        })
    );
    // No DNS, no ports, no extra rules: no egress at all (as the values say), and a metrics
    // port open to any source.
    let closed = render(
        "payments",
        "ops",
        &json!({"networkPolicy": {"enabled": true, "dns": false, "egressPorts": []}}),
    );
    let closed = find(&closed, "NetworkPolicy", name);
    assert!(
        closed["spec"]["egress"]
            .as_array()
            .is_none_or(|rules| rules.is_empty()),
        "{closed}"
    );
    assert_eq!(closed["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        closed["spec"]["ingress"],
        json!([{"ports": [{"protocol": "TCP", "port": 8080}]}])
    );
    assert_eq!(
        c["ports"][0]["containerPort"], 8080,
        "the policy admits the port the metrics listen on"
    );
    let pdb_min = render(
        "payments",
        "ops",
        &json!({"replicaCount": 3, "podDisruptionBudget": {"enabled": true, "minAvailable": "50%"}}),
    );
    let pdb_min = find(&pdb_min, "PodDisruptionBudget", name);
    assert_eq!(
        pdb_min["spec"],
        json!({"minAvailable": "50%",
        "selector": {"matchLabels": {"app.kubernetes.io/name": "appauth-operator",
                                     "app.kubernetes.io/instance": "payments"}}})
    );
}

/// A private CA from a ConfigMap: one key mounted read-only, the flag pointing at it; and the
/// pod's extra host entries, as given.
#[test]
fn helm_template_ca_bundle_and_host_aliases() {
    let aliases = json!([
        {"ip": "10.0.0.10", "hostnames": ["iam.example.internal", "apig.example.internal"]},
        {"ip": "10.0.0.11", "hostnames": ["roma.example.internal"]},
    ]);
    for (key, values, flag) in [
        (
            "ca.crt",
            json!({"cloud": {"caBundle": {"configMapName": "corporate-ca"}}, "hostAliases": aliases}),
            "--ca-bundle=/etc/appauth-operator/ca/ca.crt",
        ),
        (
            "bundle.pem",
            json!({"cloud": {"caBundle": {"configMapName": "corporate-ca", "key": "bundle.pem"}},
                   "hostAliases": aliases}),
            "--ca-bundle=/etc/appauth-operator/ca/bundle.pem",
        ),
    ] {
        let objs = render("appauth", "ops", &values);
        let a = args(&objs);
        assert_eq!(
            a.iter()
                .filter(|x| x.starts_with("--ca-bundle"))
                .collect::<Vec<_>>(),
            [flag],
            "{a:?}"
        );
        let pod = &deployment(&objs)["spec"]["template"]["spec"];
        assert_eq!(pod["hostAliases"], aliases);
        assert!(
            container(&objs)["volumeMounts"]
                .as_array()
                .unwrap()
                .contains(&json!(
                    {"name": "ca-bundle", "mountPath": "/etc/appauth-operator/ca", "readOnly": true}
                )),
            "{}",
            container(&objs)["volumeMounts"]
        );
        assert!(
            pod["volumes"].as_array().unwrap().contains(&json!(
                {"name": "ca-bundle", "configMap": {"name": "corporate-ca",
                                                    "items": [{"key": key, "path": key}]}}
            )),
            "{}",
            pod["volumes"]
        );
    }
    // A key without a ConfigMap name is off, not a flag pointing at nothing.
    let objs = render(
        "appauth",
        "ops",
        &json!({"cloud": {"caBundle": {"key": "bundle.pem"}}}),
    );
    assert!(args(&objs).iter().all(|x| !x.starts_with("--ca-bundle")));
    assert!(!deployment(&objs).to_string().contains("ca-bundle"));
}

#[test]
fn helm_template_without_admission() {
    let objs = render(
        "appauth",
        "ops",
        &json!({"admission": {"enabled": false}, "allowAdoption": true}),
    );
    let k = kinds(&objs);
    assert!(
        !k.contains("ValidatingAdmissionPolicy") && !k.contains("ValidatingAdmissionPolicyBinding"),
        "{k:?}"
    );
    let a = args(&objs);
    for want in ["--allow-adoption=true", "--grants-name=appauth-operator"] {
        assert!(a.contains(&want.to_string()), "{want} in {a:?}");
    }
    assert!(
        a.iter().all(|x| !x.starts_with("--policy-selector")),
        "no policy selector by default: {a:?}"
    );
}

fn expected_tenancy_grants(
    grants_name: &str,
    watched: Option<&str>,
) -> BTreeSet<(String, String, String, Vec<String>)> {
    let g = "appauth.hwcloud.dev";
    let mut out = BTreeSet::new();
    let mut add = |group: &str, resource: &str, verb: &str, names: &[&str]| {
        out.insert((
            group.to_string(),
            resource.to_string(),
            verb.to_string(),
            names.iter().map(|n| n.to_string()).collect(),
        ));
    };
    for v in ["get", "list", "watch"] {
        add(g, "appauthpolicies", v, &[]);
    }
    for v in ["get", "patch", "update"] {
        add(g, "appauthpolicies/status", v, &[]);
    }
    add(g, "appauthgrantsets", "create", &[]);
    for v in ["get", "patch", "update", "delete"] {
        add(g, "appauthgrantsets", v, &[grants_name]);
    }
    let namespaces: Vec<&str> = watched.into_iter().collect();
    for v in ["list", "watch"] {
        add("", "namespaces", v, &namespaces);
    }
    out
}

/// The simulator beside the operator: a second container on the Pod's loopback, every endpoint
/// the values leave unset pointed at it, the simulator's region, project and test key unless the
/// values give their own, and one replica only.
#[test]
fn helm_template_simulator_in_the_pod() {
    let sim = json!({"enabled": true, "image": {"repository": "hwcloud-sim", "tag": "t"}});
    let objs = render("appauth", "ops", &json!({"simulator": sim}));
    let pod = &deployment(&objs)["spec"]["template"]["spec"];
    let names: Vec<&str> = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["operator", "simulator"]);
    assert_eq!(pod["containers"][1]["image"], "hwcloud-sim:t");
    assert_eq!(
        pod["containers"][1]["env"],
        json!([{"name": "HWCLOUD_SIM_LISTEN", "value": "127.0.0.1:8787"}])
    );
    let a = args(&objs);
    for service in ["iam", "apig", "modelarts", "dataarts", "roma"] {
        let flag = format!("--endpoint={service}=http://127.0.0.1:8787");
        assert!(a.contains(&flag), "{flag} in {a:?}");
    }
    assert!(a.contains(&"--region=cn-north-4".to_string()), "{a:?}");
    let env = container(&objs)["env"].to_string();
    assert!(env.contains("HWCLOUD_ACCESS_KEY"), "{env}");

    // Values win: an endpoint set, a region and project given, credentials from a Secret.
    let objs = render(
        "appauth",
        "ops",
        &json!({
            "simulator": sim,
            "cloud": {"region": "ap-southeast-1", "projectId": "p1",
                      "endpoints": {"iam": "https://iam.example.com"}},
            "credentials": {"existingSecret": "account"},
        }),
    );
    let a = args(&objs);
    assert!(a.contains(&"--endpoint=iam=https://iam.example.com".to_string()));
    assert!(
        !a.iter()
            .any(|x| x.starts_with("--endpoint=iam=http://127.0.0.1")),
        "{a:?}"
    );
    assert!(a.contains(&"--region=ap-southeast-1".to_string()), "{a:?}");
    assert!(
        !container(&objs)["env"]
            .to_string()
            .contains("HWCLOUD_ACCESS_KEY")
    );

    // Without it, nothing of the simulator is rendered.
    let plain = render("appauth", "ops", &json!({}));
    assert_eq!(
        deployment(&plain)["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Each replica would have a cloud of its own: refused.
    let refused = template(
        "appauth",
        "ops",
        &json!({"simulator": {"enabled": true}, "replicaCount": 2}),
        &[],
    )
    .expect_err("two replicas with the simulator");
    assert!(refused.contains("replicaCount 1"), "{refused}");
}
