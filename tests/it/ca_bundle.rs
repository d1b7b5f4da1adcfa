//! Cloud endpoints behind a private CA: the simulator over HTTPS with a certificate from a CA
//! made for the test. With `--ca-bundle` (or the platform store, `SSL_CERT_FILE`) the operator
//! gets to Ready; without, it refuses the endpoint and says why in the status, and nothing
//! reaches the cloud. A bundle it cannot use stops it at start.

use crate::common;

use std::time::Duration;

use appauth_operator::cloud::{
    Account, CaBundle, Cloud, CloudConfig, Credentials, ErrorCategory, SecretString, Service,
};
use common::cluster;
use common::objects::Ns;
use common::operator::{AK, Operator, PROJECT, REGION, SK};
use common::sim::{Sim, credentials_work_with};
use common::tls::PrivateCa;
use serde_json::json;

const T: Duration = Duration::from_secs(30);

async fn setup(test: &str) -> (Ns, PrivateCa, Sim) {
    let client = cluster::client().await;
    let name = cluster::namespace(&client, test).await;
    let ca = PrivateCa::generate(test, &[]);
    let sim = Sim::start_tls(&ca);
    assert!(sim.url().starts_with("https://127.0.0.1:"), "{}", sim.url());
    (Ns { client, name }, ca, sim)
}

fn bundle_flag(ca: &PrivateCa) -> Vec<String> {
    vec!["--ca-bundle".into(), ca.ca_cert.display().to_string()]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The cloud client alone (no cluster): the bundle's CA is trusted, and without it the same
/// call fails before anything is sent, as a retryable transport error that says what to do.
#[tokio::test]
async fn the_client_trusts_the_bundle_and_refuses_without_it() {
    let ca = PrivateCa::generate("client", &[]);
    let sim = Sim::start_tls(&ca);
    let call = |bundle: Option<CaBundle>| {
        let mut config = CloudConfig {
            max_attempts: 1,
            ca_bundle: bundle,
            ..CloudConfig::default()
        };
        for service in Service::ALL {
            config
                .endpoints
                .add_override(&format!("{service}={}", sim.url()))
                .expect("https override");
        }
        let client = Cloud::new(config, None).expect("cloud").client(&Account {
            region: REGION.into(),
            project_id: PROJECT.into(),
            credentials: Credentials::AkSk {
                access_key: AK.into(),
                secret_key: SecretString::from(SK.to_string()),
                security_token: None,
            },
        });
        async move { client.apig("gw1").find_by_name("orders").await }
    };
    let bundle = CaBundle::load(&ca.ca_cert).expect("the test CA loads");
    assert!(call(Some(bundle)).await.expect("trusted").is_empty());
    let seen = sim.handle.counts();

    let e = call(None).await.expect_err("not trusted");
    assert_eq!(e.category(), ErrorCategory::Transient, "{e}");
    assert!(!e.outcome_unknown(), "nothing was sent: {e}");
    let text = e.to_string();
    for want in ["UnknownIssuer", "not trusted", "--ca-bundle"] {
        assert!(text.contains(want), "{want:?} in {text}");
    }
    assert_eq!(
        sim.handle.counts(),
        seen,
        "the refused call reached nothing"
    );
}

/// Create -> Ready -> the delivered credentials work -> delete, all over HTTPS.
#[tokio::test]
async fn ca_bundle_trusts_a_private_ca_end_to_end() {
    let (ns, ca, sim) = setup("ca-bundle").await;
    let flags = bundle_flag(&ca);
    let op = Operator::start(&ns.name, &sim.url(), &strs(&flags));
    ns.create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    let app = ns.wait_ready("app", T).await;
    let st = app.status.expect("status");
    assert_eq!(sim.apps("apig").len(), 1, "exactly one cloud app");
    let secret = ns
        .secret(st.secret_name.as_deref().expect("secretName"))
        .await
        .expect("Secret exists");
    let key = Ns::value(&secret, "app_key").expect("app_key");
    let value = Ns::value(&secret, "app_secret").expect("app_secret");
    assert!(
        credentials_work_with(&ca.client(), &sim.url(), &key, &value).await,
        "the delivered credentials work at the HTTPS endpoint"
    );
    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    assert!(sim.apps("apig").is_empty(), "cloud app deleted");
    assert!(
        op.logs().contains("trusting the CA bundle"),
        "the operator says it loaded the bundle"
    );
}

/// The same simulator, CA and binary: first with the bundle (so the endpoint is known to
/// work), then without it, where the certificate is refused and no request gets through.
#[tokio::test]
async fn without_the_ca_bundle_the_endpoint_is_refused() {
    let (ns, ca, sim) = setup("no-ca-bundle").await;
    let flags = bundle_flag(&ca);
    let mut trusting = Operator::start(&ns.name, &sim.url(), &strs(&flags));
    ns.create("control", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    ns.wait_ready("control", T).await;
    trusting.kill();
    let counts = sim.handle.counts();
    assert_eq!(sim.handle.count("apig.create"), 1, "{counts:?}");

    let plain = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create("refused", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    let app = ns.wait_reason("refused", "CloudUnavailable", T).await;
    let ready = app
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .expect("Ready condition")
        .clone();
    assert_eq!(ready.status, "False");
    for want in ["certificate", "not trusted", "--ca-bundle"] {
        assert!(
            ready.message.contains(want),
            "{want:?} in {:?}",
            ready.message
        );
    }
    assert!(!ready.message.contains(SK), "{:?}", ready.message);
    assert!(
        app.status
            .as_ref()
            .and_then(|s| s.app_id.as_ref())
            .is_none(),
        "no app id"
    );
    assert!(ns.secret("refused").await.is_none(), "no Secret");
    // Not one request got past the handshake: the simulator saw nothing more.
    assert_eq!(sim.handle.counts(), counts, "no request reached the cloud");
    assert_eq!(sim.apps("apig").len(), 1, "only the control's app");
    assert!(!plain.logs().contains(SK), "the secret key in the logs");
}

/// The platform store counts too: the CA given through `SSL_CERT_FILE`, no `--ca-bundle`.
#[tokio::test]
async fn the_platform_trust_store_is_honoured() {
    let (ns, ca, sim) = setup("ssl-cert-file").await;
    let ca_file = ca.ca_cert.display().to_string();
    let _op = Operator::start_with_env(&ns.name, &sim.url(), &[], &[("SSL_CERT_FILE", &ca_file)]);
    ns.create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    ns.wait_ready("app", T).await;
    assert_eq!(sim.apps("apig").len(), 1);
}

/// A bundle the operator cannot use stops it at start, naming the flag and the file and
/// nothing of what the file holds.
#[tokio::test]
async fn an_unusable_ca_bundle_stops_the_operator_at_start() {
    let dir = std::env::temp_dir().join(format!("appauth-bad-bundle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "hunter2: not a certificate\n").expect("write");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let missing = dir.join("missing.pem");
    for (file, why) in [
        (&missing, "cannot read it"),
        (&empty, "no PEM certificate"),
        (&garbage, "no PEM certificate"),
    ] {
        let path = file.display().to_string();
        // Nothing is watched or called before the check: the namespace need not exist.
        let mut op = Operator::start(
            "ca-bundle-start",
            "https://127.0.0.1:9",
            &["--ca-bundle", &path],
        );
        let code = op.wait_exit(T);
        assert!(code.is_some_and(|c| c != 0), "{path}: exit code {code:?}");
        let logs = op.logs();
        assert!(
            logs.contains(&format!("--ca-bundle {path}: {why}")),
            "{path}: {logs}"
        );
        assert!(!logs.contains("hunter2"), "the file's contents in {logs}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
