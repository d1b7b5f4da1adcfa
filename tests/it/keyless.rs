//! Keyless: no AK/SK anywhere in the cluster. The operator's default account federates a
//! ServiceAccount token (a file it re-reads, rewritten by the test as the kubelet does) at the
//! simulator's IAM, whose identity provider trusts the real apiserver's issuer and keys; a
//! second namespace federates its own ServiceAccount through an accountRef Secret
//! (TokenRequest). Renewal over short credential lifetimes, refused tokens, Pod Identity, the
//! instance metadata, and a credentials Secret changed under a running operator.

use crate::common;

use std::time::Duration;

use appauth_operator::api::{GatewayApp, InferenceApi};
use common::federation::{self, TokenFile};
use common::objects::Ns;
use common::operator::{Operator, RUN_LABEL, free_metrics_addr};
use common::sim::{Sim, credentials_work};
use common::{cluster, wait};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);
const AUDIENCE: &str = "appauth-test";
const SVC: &str = "ae20fc9f-b37c-48c2-8ebc-3f3a638c9f48";
const TENANT_PROJECT: &str = "5f1e0b4c7a2d4e9f8b3c6a1d0e2f4a6b";
const TENANT_AK: &str = "HWSIMTENANTB00000000";
const TENANT_SK: &str = "hwsim-tenant-b-secret-key-000000000000";

async fn namespace(test: &str) -> Ns {
    let client = cluster::client().await;
    let name = cluster::namespace(&client, test).await;
    Ns { client, name }
}

fn token_dir(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("appauth-keyless-{tag}-{}", std::process::id()))
}

/// An identity provider trusting the apiserver's issuer and keys, mapping `subjects` (`sub`,
/// IAM user) to simulator users.
async fn trust_the_apiserver(
    sim: &Sim,
    client: &kube::Client,
    id: &str,
    subjects: &[(String, &str)],
) {
    let (issuer, jwks) = federation::issuer_and_keys(client).await;
    let mappings: Vec<Value> = subjects
        .iter()
        .map(|(sub, user)| json!({"sub": sub, "user": user}))
        .collect();
    federation::identity_provider(
        sim,
        id,
        json!({"issuer": issuer, "client_id": AUDIENCE, "enabled": true, "jwks": jwks, "mappings": mappings}),
    )
    .await;
}

fn sub(ns: &str, sa: &str) -> String {
    format!("system:serviceaccount:{ns}:{sa}")
}

async fn labelled_app(ns: &Ns, run: &str, name: &str, spec: Value) {
    ns.create_labelled(name, json!({RUN_LABEL: run}), spec)
        .await;
}

fn ready_message(app: &GatewayApp) -> (String, String, String) {
    app.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| {
            (
                c.status.to_string(),
                c.reason.to_string(),
                c.message.to_string(),
            )
        })
        .unwrap_or_default()
}

fn no_secret_in(text: &str, secrets: &[String], what: &str) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "a token or key ({} chars) in {what}",
            s.len()
        );
    }
}

/// GatewayApps and an InferenceApi through their whole lifecycle with no AK/SK in the cluster:
/// the default account by federation of the operator's token file, a second namespace by its
/// own ServiceAccount.
#[tokio::test]
async fn keyless_lifecycle_for_the_default_account_and_a_namespace_of_its_own() {
    let home = namespace("keyless-home").await;
    let tenant = namespace("keyless-tenant").await;
    let client = home.client.clone();
    let sim = Sim::start();
    sim.handle
        .add_account(hwcloud_sim::Account {
            user: "tenant-b".into(),
            domain: "tenant-b-domain".into(),
            ..hwcloud_sim::Account::new(TENANT_AK, TENANT_SK, TENANT_PROJECT)
        })
        .expect("tenant account");
    federation::service_account(&client, &home.name, "operator").await;
    federation::service_account(&client, &tenant.name, "workload").await;
    let idp = format!("k8s-{}", home.name);
    trust_the_apiserver(
        &sim,
        &client,
        &idp,
        &[
            (sub(&home.name, "operator"), "hwsim-user"),
            (sub(&tenant.name, "workload"), "tenant-b"),
        ],
    )
    .await;
    let tokens = TokenFile::start(
        &client,
        &home.name,
        "operator",
        AUDIENCE,
        &token_dir(&home.name),
        Duration::from_secs(20),
    )
    .await;
    let run = home.name.clone();
    let token_file = tokens.path.display().to_string();
    let metrics = free_metrics_addr();
    // The default account as the official SDKs configure it: their environment variables.
    let sim_url = sim.url();
    let op = Operator::start_keyless(
        &format!("all:{run}"),
        &sim_url,
        &["--token-audience", AUDIENCE, "--metrics-addr", &metrics],
        &[
            ("HUAWEICLOUD_SDK_IDP_ID", &idp),
            ("HUAWEICLOUD_SDK_ID_TOKEN_FILE", &token_file),
            ("HUAWEICLOUD_SDK_IAM_ENDPOINT", &sim_url),
        ],
    );
    let acct: Secret = serde_json::from_value(json!({
        "metadata": {"name": "acct"},
        "stringData": {"region": "cn-north-4", "idpId": idp, "serviceAccountName": "workload"}
    }))
    .expect("Secret");
    tenant
        .secrets()
        .create(&PostParams::default(), &acct)
        .await
        .expect("account Secret");

    labelled_app(
        &home,
        &run,
        "orders",
        json!({"apig": {"instanceId": "gw1"}}),
    )
    .await;
    labelled_app(&home, &run, "scoring", json!({"modelarts": {}})).await;
    labelled_app(
        &tenant,
        &run,
        "billing",
        json!({"apig": {"instanceId": "gw1"}, "accountRef": {"name": "acct"}}),
    )
    .await;
    for (ns, name) in [(&home, "orders"), (&home, "scoring"), (&tenant, "billing")] {
        let app = ns.wait_ready(name, T).await;
        let st = app.status.expect("status");
        let secret = ns
            .secret(st.secret_name.as_deref().expect("secretName"))
            .await
            .expect("credentials Secret");
        let key = Ns::value(&secret, "app_key").expect("app_key");
        let value = Ns::value(&secret, "app_secret").expect("app_secret");
        assert!(
            credentials_work(&sim.url(), &key, &value).await,
            "{name}'s credentials work"
        );
    }
    // Each app lives in the project of the identity that made it: the default account's was
    // looked up from the region, the tenant's is its own.
    let apig = sim.apps("apig");
    let project_of = |name: &str| {
        apig.iter()
            .find(|a| a["name"].as_str().is_some_and(|n| n.contains(name)))
            .map(|a| a["project"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        project_of("orders").as_deref(),
        Some(common::operator::PROJECT),
        "{apig:?}"
    );
    assert_eq!(
        project_of("billing").as_deref(),
        Some(TENANT_PROJECT),
        "{apig:?}"
    );

    // An InferenceApi bound to the ModelArts app, on the same federated credentials.
    let apis: Api<InferenceApi> = Api::namespaced(client.clone(), &home.name);
    let api: InferenceApi = serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "InferenceApi",
        "metadata": {"name": "fraud", "labels": {RUN_LABEL: run}},
        "spec": {"serviceId": SVC, "method": "POST", "appRefs": [{"name": "scoring"}], "secret": {"name": "fraud-endpoint"}}
    }))
    .expect("InferenceApi");
    apis.create(&PostParams::default(), &api)
        .await
        .expect("InferenceApi");
    wait::until(T, "the InferenceApi Ready with scoring bound", || async {
        let api = apis.get_opt("fraud").await.ok().flatten()?;
        let st = api.status?;
        (st.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
            && st.authorized_apps.iter().any(|a| a.name == "scoring"))
        .then_some(())
    })
    .await;

    // The exchanges: both ServiceAccounts, through the identity provider, all accepted.
    let records = federation::exchanges(&sim).await;
    for who in [sub(&home.name, "operator"), sub(&tenant.name, "workload")] {
        assert!(
            records.iter().any(|r| r["kind"] == "id_token"
                && r["sub"] == who.as_str()
                && r["outcome"] == "ok"),
            "{who} exchanged: {records:?}"
        );
    }
    assert!(records.iter().all(|r| r["outcome"] == "ok"), "{records:?}");

    // Delete everything: the cloud resources go, through the same credentials.
    apis.delete("fraud", &DeleteParams::default())
        .await
        .expect("delete");
    wait::until(T, "fraud gone", || async {
        apis.get_opt("fraud").await.ok()?.is_none().then_some(())
    })
    .await;
    for (ns, name) in [(&home, "orders"), (&home, "scoring"), (&tenant, "billing")] {
        ns.delete(name).await;
        ns.wait_gone(name, T).await;
    }
    assert!(sim.all_apps().is_empty(), "{:?}", sim.all_apps());

    // No key in the cluster: no Secret in either namespace holds an access or secret key.
    let keys = [
        common::operator::AK.to_string(),
        common::operator::SK.to_string(),
        TENANT_AK.to_string(),
        TENANT_SK.to_string(),
    ];
    for ns in [&home, &tenant] {
        let secrets = ns
            .secrets()
            .list(&ListParams::default())
            .await
            .expect("Secrets");
        no_secret_in(
            &serde_json::to_string(&secrets.items).expect("json"),
            &keys,
            "Secrets",
        );
    }
    // Neither the ID tokens nor what IAM gave for them (nor the apps' secrets) reach the
    // logs, Events, statuses or metrics.
    let mut secrets = tokens.tokens();
    let temporary = sim.handle.temporary_secrets();
    assert!(
        temporary.len() >= 4,
        "two identities' credentials: {}",
        temporary.len()
    );
    secrets.extend(temporary);
    secrets.extend(common::converge::issued_secrets(&sim));
    // The tenant's tokens are requested by the operator itself, so the test cannot know them;
    // every token this apiserver signs starts with the same JWT header, so look for that.
    let own = tokens.tokens();
    assert!(
        !own.is_empty() && own.iter().all(|t| t.starts_with(JWT_HEADER)),
        "the apiserver's tokens start with {JWT_HEADER}"
    );
    secrets.push(JWT_HEADER.to_string());
    let (logs, page) = (op.logs(), Operator::metrics(&metrics).await);
    for ns in [&home, &tenant] {
        common::converge::hygiene(ns, &secrets, &logs, &page).await;
    }
}

/// `{"alg":` base64url-encoded: how every ServiceAccount token (a JWS) begins.
const JWT_HEADER: &str = "eyJhbGciOi";

/// Credentials that last 12 s, renewed a quarter before expiry, over several lifetimes while
/// drift checks keep calling the cloud: every call is accepted, every renewal reads the token
/// file again (the exchanged tokens are the ones the test wrote since), and renewals are not
/// constant.
#[tokio::test]
async fn renewal_over_short_lifetimes_never_fails_a_call() {
    let ns = namespace("keyless-renewal").await;
    let sim = Sim::start();
    sim.handle
        .set_config(json!({"temporary_credential_max_secs": 12}))
        .expect("short credentials");
    federation::service_account(&ns.client, &ns.name, "operator").await;
    federation::service_account(&ns.client, &ns.name, "keys-reader").await;
    let idp = format!("k8s-{}", ns.name);
    // This provider fetches the keys from the apiserver's jwks_uri itself, over TLS with the
    // cluster's CA, as a ServiceAccount (the issuer-discovery role every one has).
    let files = token_dir(&format!("{}-jwks", ns.name));
    std::fs::create_dir_all(&files).expect("dir");
    let (ca, bearer) = (files.join("ca.crt"), files.join("bearer"));
    federation::write_cluster_ca(&ca);
    let reader = federation::apiserver_token(&ns.client, &ns.name, "keys-reader").await;
    std::fs::write(&bearer, &reader).expect("bearer");
    let discovery = federation::get_json(&ns.client, "/.well-known/openid-configuration").await;
    federation::identity_provider(
        &sim,
        &idp,
        json!({"issuer": discovery["issuer"], "client_id": AUDIENCE, "enabled": true,
               "jwks_url": discovery["jwks_uri"], "jwks_ca_file": ca, "jwks_bearer_token_file": bearer,
               "mappings": [{"sub": sub(&ns.name, "operator"), "user": "hwsim-user"}]}),
    )
    .await;
    let tokens = TokenFile::start(
        &ns.client,
        &ns.name,
        "operator",
        AUDIENCE,
        &token_dir(&ns.name),
        Duration::from_secs(4),
    )
    .await;
    let metrics = free_metrics_addr();
    let token_file = tokens.path.display().to_string();
    let op = Operator::start_keyless(
        &ns.name,
        &sim.url(),
        &[
            "--idp-id",
            &idp,
            "--id-token-file",
            &token_file,
            "--resync-period",
            "2s",
            "--metrics-addr",
            &metrics,
        ],
        &[],
    );
    for name in ["a", "b", "c"] {
        ns.create(name, json!({"apig": {"instanceId": "gw1"}}))
            .await;
    }
    for name in ["a", "b", "c"] {
        ns.wait_ready(name, T).await;
    }
    let ok_exchanges = || async {
        federation::exchanges(&sim)
            .await
            .into_iter()
            .filter(|r| r["kind"] == "id_token" && r["outcome"] == "ok")
            .collect::<Vec<_>>()
    };
    // Five exchanges: four renewals, about 36 s of 12-second credentials.
    let done = wait::until(Duration::from_secs(120), "five exchanges", || async {
        let ok = ok_exchanges().await;
        (ok.len() >= 5).then_some(ok)
    })
    .await;
    let reads_after = sim.handle.count("apig.show") + sim.handle.count("apig.list");
    assert!(
        reads_after >= 10,
        "drift checks kept calling: {:?}",
        sim.handle.counts()
    );

    let written = tokens.jtis();
    let used: std::collections::BTreeSet<String> = done
        .iter()
        .map(|r| r["jti"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        used.iter().all(|j| written.contains(j)),
        "only tokens the test wrote: {used:?}"
    );
    assert!(
        used.len() >= 3,
        "the file was read again at renewals: {used:?}"
    );
    let records = federation::exchanges(&sim).await;
    assert!(records.iter().all(|r| r["outcome"] == "ok"), "{records:?}");
    // Renewed before expiry, not constantly: about one exchange per 9 s.
    let first =
        chrono::DateTime::parse_from_rfc3339(done[0]["at"].as_str().expect("at")).expect("time");
    let last =
        chrono::DateTime::parse_from_rfc3339(done[done.len() - 1]["at"].as_str().expect("at"))
            .expect("time");
    let per = (last - first).num_milliseconds() as f64 / (done.len() - 1) as f64 / 1000.0;
    assert!((6.0..=12.0).contains(&per), "one exchange per {per:.1} s");
    println!(
        "renewal: {} exchanges, one per {per:.1} s of 12 s credentials, {} distinct tokens, {reads_after} reads",
        done.len(),
        used.len()
    );

    let page = Operator::metrics(&metrics).await;
    let refused: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("appauth_cloud_requests_total") && l.contains("code=\"401\""))
        .collect();
    assert!(refused.is_empty(), "no call refused: {refused:?}");
    assert_eq!(
        sim.handle.count("apig.security_token_expired"),
        0,
        "{:?}",
        sim.handle.counts()
    );
    for name in ["a", "b", "c"] {
        let (status, reason, _) = ready_message(&ns.get(name).await.expect("app"));
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("True", "Available"),
            "{name}"
        );
    }
    no_secret_in(&op.logs(), &tokens.tokens(), "the operator's logs");
}
