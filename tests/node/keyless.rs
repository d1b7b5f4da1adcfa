//! A keyless install: the chart with an identity provider and no credentials Secret. The
//! kubelet projects the operator's ServiceAccount token (with the audience the chart sets),
//! the operator exchanges it at the simulator's IAM, whose identity provider trusts the real
//! apiserver's issuer and keys. A second namespace federates its own ServiceAccount through
//! an accountRef Secret; nobody can name the operator's own ServiceAccount.

use std::time::Duration;

use appauth_operator::api::InferenceApi;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};

use crate::common::federation;
use crate::common::objects::{Ns, creds};
use crate::common::operator::{AK, PROJECT, REGION, SK};
use crate::common::{cluster, wait};
use crate::support::{NodeSim, Release, SERIAL, SIM_HOST, node_ip};

const T: Duration = Duration::from_secs(90);
const SERVICE_ID: &str = "ae20fc9f-b37c-48c2-8ebc-3f3a638c9f48";
const LABEL: &str = "appauth.test/run";
const TENANT_PROJECT: &str = "7a1e0b4c7a2d4e9f8b3c6a1d0e2f4a6c";
const TENANT_AK: &str = "HWSIMNODETENANT00000";
const TENANT_SK: &str = "hwsim-node-tenant-secret-key-0000000000";

async fn app(ns: &Ns, run: &str, name: &str, spec: Value) {
    ns.create_labelled(name, json!({LABEL: run}), spec).await;
}

async fn account_secret(ns: &Ns, name: &str, data: Value) {
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data}))
            .expect("Secret");
    ns.secrets()
        .create(&PostParams::default(), &secret)
        .await
        .unwrap_or_else(|e| panic!("Secret {name}: {e}"));
}

async fn refused_naming(ns: &Ns, name: &str, words: &[&str]) {
    wait::until(
        T,
        &format!("{name}: Unauthorized naming {words:?}"),
        || async {
            let app = ns.get(name).await?;
            let ready = app
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready")?;
            (ready.status == "False"
                && ready.reason == "Unauthorized"
                && words.iter().all(|w| ready.message.contains(w)))
            .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_keyless_install_serves_its_namespace_and_a_tenant_by_its_own_service_account() {
    let _one = SERIAL.lock().await;
    let sim = NodeSim::start("keyless");
    sim.sim
        .add_account(hwcloud_sim::Account {
            user: "tenant-node".into(),
            domain: "tenant-node-domain".into(),
            ..hwcloud_sim::Account::new(TENANT_AK, TENANT_SK, TENANT_PROJECT)
        })
        .expect("tenant account");
    let client = cluster::client().await;
    let tenant = Ns {
        client: client.clone(),
        name: cluster::namespace(&client, "keyless-tenant").await,
    };
    federation::service_account(&client, &tenant.name, "workload").await;

    let endpoints: serde_json::Map<String, Value> =
        ["iam", "apig", "modelarts", "dataarts", "roma"]
            .iter()
            .map(|s| (s.to_string(), json!(sim.pod_url())))
            .collect();
    let run = format!("keyless-{}", std::process::id());
    let idp = "cluster-oidc";
    let values = json!({
        "watchNamespace": "",
        "labelSelector": format!("{LABEL}={run}"),
        // No project id and no credentials Secret: the project is looked up.
        "cloud": {"region": REGION, "endpoints": endpoints,
                  "caBundle": {"configMapName": "sim-ca", "key": "ca.crt"}},
        "federation": {"idpId": idp, "namespaceServiceAccounts": true},
        "hostAliases": [{"ip": node_ip(), "hostnames": [SIM_HOST]}],
    });
    let ca = sim.ca.clone();
    let release = Release::install_with("keyless", values, move |client, system| async move {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "sim-ca"}, "data": {"ca.crt": ca}
        }))
        .expect("configmap");
        Api::<ConfigMap>::namespaced(client, &system)
            .create(&PostParams::default(), &cm)
            .await
            .expect("CA ConfigMap");
    })
    .await;
    let system = release.system.clone();
    let pods = release.wait_ready_pods(1, T).await;
    let spec = pods[0].spec.clone().expect("spec");
    let own_sa = spec.service_account_name.clone().expect("ServiceAccount");
    // Exact subjects, as the docs ask: the operator's and the tenant's ServiceAccounts.
    let (issuer, jwks) = federation::issuer_and_keys(&client).await;
    federation::identity_provider_at(
        &sim.client(),
        &sim.pod_url(),
        idp,
        json!({"issuer": issuer, "client_id": "appauth-operator", "enabled": true, "jwks": jwks,
               "mappings": [
                   {"sub": format!("system:serviceaccount:{system}:{own_sa}"), "user": "hwsim-user"},
                   {"sub": format!("system:serviceaccount:{}:workload", tenant.name), "user": "tenant-node"},
               ]}),
    )
    .await;

    let container = &spec.containers[0];
    let env: Vec<String> = container
        .env
        .iter()
        .flatten()
        .map(|e| e.name.clone())
        .collect();
    assert!(env.iter().any(|e| e == "HUAWEICLOUD_SDK_IDP_ID"), "{env:?}");
    assert!(
        env.iter().all(|e| !e.starts_with("HWCLOUD_ACCESS")),
        "{env:?}"
    );
    let projected = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| v.projected.as_ref())
        .flat_map(|p| p.sources.iter().flatten())
        .filter_map(|s| s.service_account_token.as_ref())
        .any(|t| t.audience.as_deref() == Some("appauth-operator"));
    assert!(projected, "the kubelet projects a token for the audience");

    // The operator's own namespace: a GatewayApp of each kind of use, and an InferenceApi.
    let work = &release.work;
    app(work, &run, "orders", json!({"apig": {"instanceId": "gw1"}})).await;
    app(work, &run, "scoring", json!({"modelarts": {}})).await;
    let apis: Api<InferenceApi> = Api::namespaced(client.clone(), &work.name);
    let api: InferenceApi = serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "InferenceApi",
        "metadata": {"name": "fraud", "labels": {LABEL: run}},
        "spec": {"serviceId": SERVICE_ID, "method": "POST", "appRefs": [{"name": "scoring"}], "secret": {"name": "fraud-endpoint"}}
    }))
    .expect("InferenceApi");
    apis.create(&PostParams::default(), &api)
        .await
        .expect("InferenceApi");
    // The tenant: its own ServiceAccount through its accountRef Secret.
    account_secret(
        &tenant,
        "acct",
        json!({"region": REGION, "idpId": idp, "serviceAccountName": "workload"}),
    )
    .await;
    app(
        &tenant,
        &run,
        "billing",
        json!({"apig": {"instanceId": "gw1"}, "accountRef": {"name": "acct"}}),
    )
    .await;

    for (ns, name) in [(work, "orders"), (work, "scoring"), (&tenant, "billing")] {
        let ready = ns.wait_ready(name, T).await;
        let secret = ready
            .status
            .and_then(|s| s.secret_name)
            .expect("secretName");
        let (key, value) = creds(ns, &secret).await;
        assert!(
            sim.credentials_work(&key, &value).await,
            "{name}'s credentials work"
        );
    }
    wait::until(T, "fraud Ready", || async {
        let st = apis.get_opt("fraud").await.ok().flatten()?.status?;
        st.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
            .then_some(())
    })
    .await;
    let projects: Vec<(String, String)> = sim
        .apps()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap_or_default().to_string(),
                a["project"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        projects
            .iter()
            .any(|(n, p)| n.contains("orders") && p == PROJECT),
        "{projects:?}"
    );
    assert!(
        projects
            .iter()
            .any(|(n, p)| n.contains("billing") && p == TENANT_PROJECT),
        "{projects:?}"
    );

    // Nobody may use the operator's own ServiceAccount: neither by naming it from another
    // namespace, nor from the operator's own namespace.
    account_secret(
        &tenant,
        "borrowed",
        json!({"region": REGION, "idpId": idp, "serviceAccountName": format!("{system}/{own_sa}")}),
    )
    .await;
    app(
        &tenant,
        &run,
        "borrowing",
        json!({"apig": {"instanceId": "gw1"}, "accountRef": {"name": "borrowed"}}),
    )
    .await;
    refused_naming(&tenant, "borrowing", &["namespace", &system]).await;
    let home = Ns {
        client: client.clone(),
        name: system.clone(),
    };
    account_secret(
        &home,
        "own",
        json!({"region": REGION, "idpId": idp, "serviceAccountName": own_sa}),
    )
    .await;
    app(
        &home,
        &run,
        "impersonating",
        json!({"apig": {"instanceId": "gw1"}, "accountRef": {"name": "own"}}),
    )
    .await;
    refused_naming(&home, "impersonating", &["operator's own ServiceAccount"]).await;

    let records = federation::exchanges_at(&sim.client(), &sim.pod_url()).await;
    for who in [
        format!("system:serviceaccount:{system}:{own_sa}"),
        format!("system:serviceaccount:{}:workload", tenant.name),
    ] {
        assert!(
            records.iter().any(|r| r["kind"] == "id_token"
                && r["sub"] == who.as_str()
                && r["outcome"] == "ok"),
            "{who}: {records:?}"
        );
    }
    assert_eq!(
        records.iter().filter(|r| r["outcome"] != "ok").count(),
        0,
        "the refused names never reached IAM: {records:?}"
    );

    // No key anywhere in the cluster's Secrets of these namespaces.
    for ns in [work, &tenant, &home] {
        let all = ns
            .secrets()
            .list(&ListParams::default())
            .await
            .expect("Secrets");
        let text = serde_json::to_string(&all.items).expect("json");
        for key in [AK, SK, TENANT_AK, TENANT_SK] {
            assert!(!text.contains(key), "a key in the Secrets of {}", ns.name);
        }
    }

    apis.delete("fraud", &DeleteParams::default())
        .await
        .expect("delete");
    for (ns, name) in [
        (work, "orders"),
        (work, "scoring"),
        (&tenant, "billing"),
        (&tenant, "borrowing"),
        (&home, "impersonating"),
    ] {
        ns.delete(name).await;
        ns.wait_gone(name, T).await;
    }
    assert!(sim.apps().is_empty(), "{:?}", sim.apps());
    release.uninstall();
}
