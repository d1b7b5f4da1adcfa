//! Keyless, the other paths: refused ID tokens end in `Unauthorized` naming the cause (and the
//! same operator gets to Ready once the token is right); CCE Pod Identity and the instance
//! metadata as default-account sources; a credentials Secret's files changed under a running
//! operator.

use crate::common;

use std::time::Duration;

use common::federation::{self, TokenFile};
use common::objects::Ns;
use common::operator::{AK, Operator, PROJECT, SK};
use common::sim::Sim;
use common::{cluster, wait};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);
const AUDIENCE: &str = "appauth-test";

async fn namespace(test: &str) -> Ns {
    let client = cluster::client().await;
    let name = cluster::namespace(&client, test).await;
    Ns { client, name }
}

fn dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("appauth-sources-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("dir");
    d
}

fn ready(app: &appauth_operator::api::GatewayApp) -> (String, String, String) {
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

async fn wait_refused(ns: &Ns, name: &str, words: &[&str]) -> String {
    wait::until(
        T,
        &format!("{name}: Unauthorized naming {words:?}"),
        || async {
            let (status, reason, message) = ready(&ns.get(name).await?);
            (status == "False"
                && reason == "Unauthorized"
                && words.iter().all(|w| message.contains(w)))
            .then_some(message)
        },
    )
    .await
}

/// A token signed by the simulator's test issuer.
async fn test_token(sim: &Sim, claims: Value) -> String {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/_sim/testing/id-token", sim.url()))
        .json(&claims)
        .send()
        .await
        .expect("simulator answers")
        .json()
        .await
        .expect("json");
    answer["token"].as_str().expect("token").to_string()
}

async fn test_jwks(sim: &Sim) -> Value {
    reqwest::get(format!("{}/_sim/testing/jwks", sim.url()))
        .await
        .expect("simulator answers")
        .json()
        .await
        .expect("json")
}

fn write(path: &std::path::Path, token: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, token).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// One operator, one identity provider (the apiserver's keys and, to tell a bad issuer from a
/// bad signature, the simulator's test key), and the token file changed between objects:
/// each refusal names its cause; then a good token brings every object to Ready.
#[tokio::test]
async fn refused_tokens_end_in_unauthorized_naming_the_cause() {
    let ns = namespace("keyless-refused").await;
    let client = ns.client.clone();
    let sim = Sim::start();
    federation::service_account(&client, &ns.name, "operator").await;
    federation::service_account(&client, &ns.name, "stranger").await;
    let (issuer, mut jwks) = federation::issuer_and_keys(&client).await;
    let sim_keys = test_jwks(&sim).await;
    if let (Some(keys), Some(more)) = (jwks["keys"].as_array_mut(), sim_keys["keys"].as_array()) {
        keys.extend(more.iter().cloned());
    }
    let idp = format!("k8s-{}", ns.name);
    let operator_sub = format!("system:serviceaccount:{}:operator", ns.name);
    federation::identity_provider(
        &sim,
        &idp,
        json!({"issuer": issuer, "client_id": AUDIENCE, "enabled": true, "jwks": jwks,
               "mappings": [{"sub": operator_sub, "user": "hwsim-user"}]}),
    )
    .await;
    let path = dir(&ns.name).join("token");
    let wrong_audience = federation::token(&client, &ns.name, "operator", "someone-else").await;
    write(&path, &wrong_audience);
    let token_file = path.display().to_string();
    let op = Operator::start_keyless(
        &ns.name,
        &sim.url(),
        &["--idp-id", &idp, "--id-token-file", &token_file],
        &[],
    );
    let app = json!({"apig": {"instanceId": "gw1"}});

    ns.create("audience", app.clone()).await;
    wait_refused(&ns, "audience", &["audience", AUDIENCE]).await;

    let expired = test_token(
        &sim,
        json!({"iss": issuer, "aud": AUDIENCE, "sub": operator_sub, "ttl_secs": -60}),
    )
    .await;
    write(&path, &expired);
    ns.create("expired", app.clone()).await;
    wait_refused(&ns, "expired", &["expired"]).await;

    let unknown_issuer = test_token(
        &sim,
        json!({"iss": "https://issuer.unknown.test", "aud": AUDIENCE, "sub": operator_sub, "ttl_secs": 600}),
    )
    .await;
    write(&path, &unknown_issuer);
    ns.create("issuer", app.clone()).await;
    wait_refused(&ns, "issuer", &["issuer", "https://issuer.unknown.test"]).await;

    let unmapped = federation::token(&client, &ns.name, "stranger", AUDIENCE).await;
    write(&path, &unmapped);
    ns.create("unmapped", app.clone()).await;
    wait_refused(&ns, "unmapped", &["mapping", "stranger"]).await;

    // A namespace's accountRef naming a ServiceAccount of another namespace: refused before
    // any token is asked for.
    let other = namespace("keyless-other").await;
    federation::service_account(&client, &other.name, "workload").await;
    let acct: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "borrowed"},
        "stringData": {"region": "cn-north-4", "idpId": idp,
                       "serviceAccountName": format!("{}/workload", other.name)}
    }))
    .expect("Secret");
    ns.secrets()
        .create(&Default::default(), &acct)
        .await
        .expect("Secret");
    ns.create(
        "borrowing",
        json!({"apig": {"instanceId": "gw1"}, "accountRef": {"name": "borrowed"}}),
    )
    .await;
    wait_refused(&ns, "borrowing", &["namespace", &other.name]).await;
    // Nor the ServiceAccount whose token the operator itself federates.
    let own: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "own"},
        "stringData": {"region": "cn-north-4", "idpId": idp, "serviceAccountName": "operator"}
    }))
    .expect("Secret");
    ns.secrets()
        .create(&Default::default(), &own)
        .await
        .expect("Secret");
    ns.create(
        "impersonating",
        json!({"apig": {"instanceId": "gw1"}, "accountRef": {"name": "own"}}),
    )
    .await;
    wait_refused(&ns, "impersonating", &["operator's own ServiceAccount"]).await;

    assert!(
        sim.all_apps().is_empty(),
        "nothing was made with a refused token"
    );
    let records = federation::exchanges(&sim).await;
    assert!(
        records.iter().all(|r| r["outcome"] == "refused"),
        "{records:?}"
    );
    assert!(
        !records
            .iter()
            .any(|r| r["sub"].as_str().is_some_and(|s| s.contains(&other.name))),
        "no token of the other namespace was exchanged: {records:?}"
    );

    // The same operator, a good token: every object it refused gets to Ready.
    let good = federation::token(&client, &ns.name, "operator", AUDIENCE).await;
    write(&path, &good);
    for name in ["audience", "expired", "issuer", "unmapped"] {
        ns.wait_ready(name, T).await;
    }
    let logs = op.logs();
    for (what, token) in [
        ("wrong audience", &wrong_audience),
        ("expired", &expired),
        ("unknown issuer", &unknown_issuer),
        ("unmapped", &unmapped),
        ("good", &good),
    ] {
        assert!(
            !logs.contains(token.as_str()),
            "the {what} token is in the logs"
        );
        // Nor its signature alone (a token cut at a dot is still most of it).
        let signature = token.rsplit('.').next().unwrap_or_default();
        assert!(
            !logs.contains(signature),
            "the {what} token's signature is in the logs"
        );
    }
}

/// CCE Pod Identity: the Pod's token (audience service.cce.pods) posted to the agent.
#[tokio::test]
async fn pod_identity_as_the_default_account() {
    let ns = namespace("keyless-pod-identity").await;
    let sim = Sim::start();
    federation::service_account(&ns.client, &ns.name, "operator").await;
    let (issuer, jwks) = federation::issuer_and_keys(&ns.client).await;
    let answer = reqwest::Client::new()
        .put(format!("{}/_sim/pod-identity", sim.url()))
        .json(&json!({"issuer": issuer, "jwks": jwks, "associations": [
            {"namespace": ns.name, "service_account": "operator", "user": "hwsim-user"}]}))
        .send()
        .await
        .expect("simulator answers");
    assert!(answer.status().is_success(), "{:?}", answer.text().await);
    let tokens = TokenFile::start(
        &ns.client,
        &ns.name,
        "operator",
        "service.cce.pods",
        &dir(&format!("{}-pod", ns.name)),
        Duration::from_secs(60),
    )
    .await;
    let uri = format!("{}/cce-pod-identity/v1/credentials", sim.url());
    let token_file = tokens.path.display().to_string();
    let op = Operator::start_keyless(
        &ns.name,
        &sim.url(),
        &[],
        &[
            ("HC_CONTAINER_CREDENTIALS_FULL_URI", &uri),
            ("HC_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file),
        ],
    );
    ns.create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    ns.wait_ready("app", T).await;
    let records = federation::exchanges(&sim).await;
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "pod_identity" && r["outcome"] == "ok"),
        "{records:?}"
    );
    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    assert!(sim.all_apps().is_empty());
    assert!(!op.logs().contains(&tokens.tokens()[0]));
}

/// The ECS metadata service, opted into: refused while the node has no agency (the cause is
/// named), then the agency's credentials.
#[tokio::test]
async fn instance_metadata_only_when_asked() {
    let ns = namespace("keyless-metadata").await;
    let sim = Sim::start();
    let url = sim.url();
    let _op = Operator::start_keyless(
        &ns.name,
        &url,
        &["--instance-metadata", "--instance-metadata-url", &url],
        &[],
    );
    ns.create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    wait_refused(&ns, "app", &["Cloud Service Agency"]).await;
    sim.handle
        .set_config(json!({"metadata_agency": "hwsim-user"}))
        .expect("agency");
    ns.wait_ready("app", T).await;
    let records = federation::exchanges(&sim).await;
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "metadata" && r["outcome"] == "ok"),
        "{records:?}"
    );

    // Without the flag, the metadata service is never asked: no default account at all.
    let quiet = namespace("keyless-no-metadata").await;
    let before = federation::exchanges(&sim).await.len();
    let _plain = Operator::start_keyless(&quiet.name, &url, &[], &[]);
    quiet
        .create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    quiet.wait_reason("app", "AccountInvalid", T).await;
    assert_eq!(federation::exchanges(&sim).await.len(), before);
}

/// The default account's files (a mounted Secret) changed under a running operator: a key
/// that no longer works is reported on the next object, and a new working key is used without
/// a restart; the object refused meanwhile is checked again at once, not at its resync.
#[tokio::test]
async fn a_changed_credentials_secret_needs_no_restart() {
    let ns = namespace("credentials-files").await;
    let sim = Sim::start();
    let files = dir(&ns.name);
    // Laid out as the kubelet mounts a Secret: each version in a directory of its own,
    // `..data` pointing at the current one (swapped in one rename), the keys linked through it.
    let version = std::sync::atomic::AtomicUsize::new(0);
    let put = |ak: &str, sk: &str| {
        let n = version.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("..version-{n}");
        std::fs::create_dir_all(files.join(&name)).expect("version dir");
        for (file, value) in [
            ("accessKey", ak),
            ("secretKey", sk),
            ("region", "cn-north-4"),
            ("projectId", PROJECT),
        ] {
            std::fs::write(files.join(&name).join(file), value).expect("key file");
            let link = files.join(file);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(format!("..data/{file}"), &link).expect("key link");
            }
        }
        let tmp = files.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&name, &tmp).expect("data link");
        std::fs::rename(&tmp, files.join("..data")).expect("swap");
    };
    put(AK, SK);
    let files_flag = files.display().to_string();
    let mut op = Operator::start_keyless(
        &ns.name,
        &sim.url(),
        // A resync far away: only the watch of the files brings a refused object back.
        &["--credentials-dir", &files_flag, "--resync-period", "10m"],
        &[],
    );
    let pid = op.pid();
    ns.create("first", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    ns.wait_ready("first", T).await;

    put(
        "HWSIMREVOKED00000000",
        "revoked-secret-key-00000000000000000000",
    );
    ns.create("second", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    wait::until(T, "second refused with the revoked key", || async {
        let (status, reason, _) = ready(&ns.get("second").await?);
        (status == "False" && reason == "Unauthorized").then_some(())
    })
    .await;

    let (new_ak, new_sk) = (
        "HWSIMROTATED00000000",
        "rotated-secret-key-00000000000000000000",
    );
    sim.handle
        .add_account(hwcloud_sim::Account {
            user: "rotated".into(),
            domain: "rotated-domain".into(),
            ..hwcloud_sim::Account::new(new_ak, new_sk, PROJECT)
        })
        .expect("rotated key");
    put(new_ak, new_sk);
    ns.wait_ready("second", T).await;
    assert_eq!(op.pid(), pid, "the same process");
    assert_eq!(
        op.wait_exit(Duration::from_millis(10)),
        None,
        "still running"
    );
    assert!(
        op.logs().contains("ak:HWSIMROTATED00000000"),
        "the operator says which account it now reads"
    );
    assert!(!op.logs().contains(new_sk));
}
