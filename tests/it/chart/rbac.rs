//! RBAC proven: the operator runs as the chart's ServiceAccount with exactly the chart's
//! (Cluster)Role, Role for the Lease and args, the default account read from files written from
//! a Secret, and passes the GatewayApp and InferenceApi lifecycle with no 403 in its logs,
//! cluster-wide and single-namespace.

use std::collections::BTreeSet;
use std::time::Duration;

use appauth_operator::api::{AppAuthGrantSet, AppAuthPolicy, GatewayApp, InferenceApi};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::operator::{
    ChartOperator, ClusterScoped, client_from, refusal, service_account_kubeconfig,
};
use super::support::{T, deployment, kinds, kubectl, render, run, scratch, to_yaml};
use crate::common::objects::Ns;
use crate::common::operator::{AK, PROJECT, REGION, SK};
use crate::common::sim::{Sim, credentials_work};
use crate::common::{cluster, wait};
/// Installs the chart's ServiceAccount and RBAC (as the admin who installs a chart would), runs
/// the chart's operator as that ServiceAccount with the default account in files from a
/// Secret, and goes through the GatewayApp lifecycle.
async fn lifecycle_with_chart_rbac(test: &str, single_namespace: bool) {
    let admin = cluster::client().await;
    let ns = cluster::namespace(&admin, test).await;
    let sim = Sim::start();
    let sim_url = sim.url();
    // A unique full name: the ClusterRole and its binding are cluster-scoped.
    let fullname = format!("op-{ns}");
    let mut values = json!({
        "fullnameOverride": fullname,
        "credentials": {"existingSecret": "hwcloud-account"},
        "cloud": {"endpoints": {}},
        "rbac": {"aggregateToDefaultRoles": false},
        // The operator's own grant set (cluster-scoped): a name no other test uses.
        "admission": {"grantsName": format!("grants-{ns}")},
        // Only policies labelled for this install count, and there are none: AppAuthPolicies
        // that other tests create on the shared control plane do not govern this operator.
        "policySelector": format!("appauth-test/install={ns}"),
        "resyncPeriod": "30s",
        "leaderElection": {"leaseDuration": "5s"},
    });
    for service in ["iam", "apig", "modelarts", "dataarts", "roma"] {
        values["cloud"]["endpoints"][service] = json!(sim_url);
    }
    if single_namespace {
        values["watchNamespace"] = json!(ns);
    } else {
        // Cluster-wide RBAC, but scoped to this test's namespace like every test operator.
        values["extraArgs"] = json!([format!("--namespace={ns}")]);
    }
    let objs = render("rbac", &ns, &values);

    // What a chart install creates for the identity: ServiceAccount, roles, bindings.
    let identity: Vec<Value> = objs
        .iter()
        .filter(|o| {
            [
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
            ]
            .contains(&o["kind"].as_str().unwrap_or_default())
        })
        .cloned()
        .collect();
    // Tenancy reads cluster-scoped objects in either mode: a ClusterRole even for one namespace.
    let expected_kinds: BTreeSet<String> = [
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]
    .map(String::from)
    .into();
    assert_eq!(kinds(&identity), expected_kinds);
    let _cleanup = ClusterScoped(
        identity
            .iter()
            .filter(|o| {
                o["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("Cluster")
            })
            .map(|o| {
                (
                    o["kind"].as_str().unwrap().to_string(),
                    o["metadata"]["name"].as_str().unwrap().to_string(),
                )
            })
            .chain([(
                "appauthgrantsets.appauth.hwcloud.dev".to_string(),
                format!("grants-{ns}"),
            )])
            .collect(),
    );
    let out = run(
        kubectl().args(["apply", "--server-side", "--field-manager=helm", "-f", "-"]),
        Some(&to_yaml(&identity)),
    );
    assert!(out.ok, "installing the chart's RBAC: {}", out.stderr);

    // The default account: a Secret, delivered as files (one per key, as the kubelet does).
    let account: Secret = serde_json::from_value(json!({
        "metadata": {"name": "hwcloud-account"},
        "stringData": {"accessKey": AK, "secretKey": SK, "region": REGION, "projectId": PROJECT},
    }))
    .expect("Secret");
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    secrets
        .create(&PostParams::default(), &account)
        .await
        .expect("credentials Secret");
    let mounted = secrets.get("hwcloud-account").await.expect("read back");
    let dir = scratch(&ns).join("credentials");
    std::fs::create_dir_all(&dir).expect("credentials dir");
    for (key, value) in mounted.data.expect("data") {
        let file = dir.join(&key);
        std::fs::write(&file, &value.0).expect("credential file");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o440)).expect("mode");
    }

    let sa_name = deployment(&objs)["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .expect("serviceAccountName")
        .to_string();
    let kubeconfig = service_account_kubeconfig(&admin, &ns, &sa_name).await;

    // The identity really is the ServiceAccount: it cannot do what the chart does not grant.
    let sa = client_from(&kubeconfig).await;
    let policy: AppAuthPolicy = serde_json::from_value(json!({
        "metadata": {"name": format!("never-{ns}")},
        "spec": {"namespaces": {"names": [ns]}, "services": ["apig"], "instances": ["*"]},
    }))
    .expect("AppAuthPolicy");
    let denied = Api::<AppAuthPolicy>::all(sa.clone())
        .create(&PostParams::default(), &policy)
        .await
        .expect_err("the ServiceAccount cannot grant itself anything");
    assert!(
        matches!(&denied, kube::Error::Api(e) if e.code == 403),
        "{denied}"
    );
    let other_grants = Api::<AppAuthGrantSet>::all(sa.clone())
        .get_opt("appauth-operator")
        .await;
    assert!(
        matches!(&other_grants, Err(kube::Error::Api(e)) if e.code == 403),
        "only its own grant set: {other_grants:?}"
    );
    let namespaces = Api::<Namespace>::all(sa.clone())
        .list(&ListParams::default())
        .await;
    if single_namespace {
        assert!(
            matches!(&namespaces, Err(kube::Error::Api(e)) if e.code == 403),
            "single-namespace install: only its own namespace's labels: {namespaces:?}"
        );
    } else {
        assert!(
            namespaces.is_ok(),
            "cluster-wide install reads namespace labels: {namespaces:?}"
        );
    }
    let other_ns_secrets = Api::<Secret>::namespaced(sa.clone(), "default")
        .list(&ListParams::default())
        .await;
    if single_namespace {
        assert!(
            matches!(&other_ns_secrets, Err(kube::Error::Api(e)) if e.code == 403),
            "single-namespace install: no Secrets outside {ns}: {other_ns_secrets:?}"
        );
    } else {
        assert!(
            other_ns_secrets.is_ok(),
            "cluster-wide install reads Secrets everywhere (documented): {other_ns_secrets:?}"
        );
    }

    // The authorizer sees new roles through its informers: wait until the grants are in effect,
    // so that a refusal in the operator's log can only mean a missing rule.
    let lease_name = fullname.clone();
    wait::until(T, "the chart's RBAC in effect", || async {
        let apps = Api::<GatewayApp>::namespaced(sa.clone(), &ns)
            .list(&ListParams::default())
            .await;
        let secrets = Api::<Secret>::namespaced(sa.clone(), &ns)
            .list(&ListParams::default())
            .await;
        let lease = Api::<Lease>::namespaced(sa.clone(), &ns)
            .get_opt(&lease_name)
            .await;
        let policies = Api::<AppAuthPolicy>::all(sa.clone())
            .list(&ListParams::default())
            .await;
        let own_namespace = Api::<Namespace>::all(sa.clone())
            .list(&ListParams::default().fields(&format!("metadata.name={ns}")))
            .await;
        (apps.is_ok()
            && secrets.is_ok()
            && lease.is_ok()
            && policies.is_ok()
            && own_namespace.is_ok())
        .then_some(())
    })
    .await;

    // The grant set the admission policy reads: the operator writes and deletes its own, as it
    // does when the first AppAuthPolicy comes and the last one goes (no policy is created here:
    // the operators of other tests would obey it).
    let grant_sets = Api::<AppAuthGrantSet>::all(sa.clone());
    let grants_name = format!("grants-{ns}");
    let set = AppAuthGrantSet::new(&grants_name, Default::default());
    grant_sets
        .patch(
            &grants_name,
            &PatchParams::apply("appauth-operator").force(),
            &Patch::Apply(&set),
        )
        .await
        .expect("the ServiceAccount writes its grant set");
    grant_sets
        .delete(&grants_name, &Default::default())
        .await
        .expect("the ServiceAccount deletes its grant set");

    let op = ChartOperator::start(&objs, &ns, &kubeconfig, &dir);
    let apps = Ns {
        client: admin.clone(),
        name: ns.clone(),
    };
    apps.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "description": "chart rbac"}),
    )
    .await;
    let app = wait::until(Duration::from_secs(60), "app Ready", || async {
        let app = apps.get("app").await?;
        let st = app.status.as_ref()?;
        let ready = st
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        (ready && st.observed_generation == app.metadata.generation).then_some(app)
    })
    .await;
    let st = app.status.clone().expect("status");
    assert_eq!(st.service.as_deref(), Some("apig"));
    let id = st.app_id.clone().expect("appId");
    let secret_name = st.secret_name.clone().expect("secretName");
    let secret = apps.secret(&secret_name).await.expect("credential Secret");
    let key = Ns::value(&secret, "app_key").expect("app_key");
    let value = Ns::value(&secret, "app_secret").expect("app_secret");
    assert!(
        credentials_work(&sim_url, &key, &value).await,
        "the delivered credentials work"
    );
    assert_eq!(sim.apps("apig").len(), 1, "exactly one cloud app");
    let cloud = sim.app(&id).expect("cloud app");
    assert_eq!(
        cloud["project"], PROJECT,
        "project id read from the mounted file"
    );

    // Events were written under the chart's permissions.
    let events = Api::<Event>::namespaced(admin.clone(), &ns);
    wait::until(T, "an Event about the app", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("app")
                    && e.reporting_controller.as_deref() == Some("appauth-operator")
            })
            .then_some(())
    })
    .await;
    {
        // Leader election ran with the chart's Lease Role.
        let lease = Api::<Lease>::namespaced(admin.clone(), &ns)
            .get(&fullname)
            .await
            .expect("the Lease named by the chart");
        assert!(
            lease
                .spec
                .and_then(|s| s.holder_identity)
                .is_some_and(|h| !h.is_empty()),
            "the operator holds the Lease"
        );
    }

    // The InferenceApi controller runs in the same process under the same permissions: an API
    // authorized to a ModelArts app, with its connection Secret, created and deleted.
    apps.create("caller", json!({"modelarts": {}})).await;
    let inference: Api<InferenceApi> = Api::namespaced(admin.clone(), &ns);
    let api_obj: InferenceApi = serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "InferenceApi",
        "metadata": {"name": "api"},
        "spec": {"serviceId": "ae20fc9f-b37c-48c2-8ebc-3f3a638c9f48",
                 "appRefs": [{"name": "caller"}], "secret": {"name": "api-endpoint"}},
    }))
    .expect("InferenceApi");
    inference
        .create(&PostParams::default(), &api_obj)
        .await
        .expect("create the InferenceApi");
    let ready_api = wait::until(Duration::from_secs(60), "InferenceApi Ready", || async {
        let a = inference.get_opt("api").await.ok().flatten()?;
        let st = a.status.as_ref()?;
        let ready = st
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        (ready && st.observed_generation == a.metadata.generation).then_some(a)
    })
    .await;
    let api_status = ready_api.status.expect("status");
    assert_eq!(
        api_status
            .authorized_apps
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        vec!["caller"]
    );
    assert!(
        apps.secret("api-endpoint").await.is_some(),
        "connection Secret"
    );
    inference
        .delete("api", &Default::default())
        .await
        .expect("delete the InferenceApi");
    wait::until(T, "InferenceApi deleted", || async {
        inference
            .get_opt("api")
            .await
            .ok()
            .and_then(|a| a.is_none().then_some(()))
    })
    .await;
    apps.delete("caller").await;
    apps.wait_gone("caller", T).await;

    apps.delete("app").await;
    apps.wait_gone("app", T).await;
    assert!(sim.apps("apig").is_empty(), "cloud app deleted");
    wait::until(
        Duration::from_secs(90),
        "Secret garbage-collected",
        || async { apps.secret(&secret_name).await.is_none().then_some(()) },
    )
    .await;

    let logs = op.logs();
    let refused: Vec<&str> = logs.lines().filter(|l| refusal(l)).collect();
    assert!(
        refused.is_empty(),
        "the operator was refused something under the chart's RBAC:\n{}",
        refused.join("\n")
    );
    assert!(
        logs.contains("became leader"),
        "leader election ran:\n{logs}"
    );
    // Passed: the token kubeconfig and the credential files go (the log stays on failure).
    drop(op);
    let _ = std::fs::remove_dir_all(scratch(&ns));
}

#[tokio::test]
async fn operator_passes_lifecycle_with_exactly_the_chart_rbac_cluster_wide() {
    lifecycle_with_chart_rbac("chart-rbac-cluster", false).await;
}

#[tokio::test]
async fn operator_passes_lifecycle_with_exactly_the_chart_rbac_single_namespace() {
    lifecycle_with_chart_rbac("chart-rbac-ns", true).await;
}
