//! The operator's Huawei Cloud client against the simulator over real HTTP: every operation,
//! every error class, and fault injection (retries only where safe).

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use appauth_operator::cloud::apig::AppInput;
use appauth_operator::cloud::modelarts::ApiInput;
use appauth_operator::cloud::roma::RomaInput;
use appauth_operator::cloud::{
    Account, Cloud, CloudClient, CloudConfig, Credentials, ErrorCategory, ExposeSecret,
    SecretString, Service,
};
use serde_json::{Value, json};

const AK: &str = "HWSIMAK0000000000000";
const SK: &str = "hwsim-secret-key-0000000000000000000000";
const PROJECT: &str = "0833a5737480d53b2f250010d01a7b88";
const REGION: &str = "cn-north-4";

struct Sim {
    handle: hwcloud_sim::Handle,
    http: reqwest::Client,
}

impl Sim {
    async fn start() -> Sim {
        let handle = hwcloud_sim::spawn(
            hwcloud_sim::Config::default(),
            "127.0.0.1:0".parse().expect("addr"),
        )
        .expect("simulator starts");
        Sim {
            handle,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self) -> String {
        self.handle.url()
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url()))
            .send()
            .await
            .expect("sim")
            .json()
            .await
            .expect("json")
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.url()))
            .json(&body)
            .send()
            .await
            .expect("sim");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
    }

    async fn fault(&self, fault: Value) {
        self.send(reqwest::Method::POST, "/_sim/faults", fault)
            .await;
    }

    async fn count(&self, key: &str) -> u64 {
        self.get("/_sim/counts").await[key].as_u64().unwrap_or(0)
    }

    async fn apps(&self, service: &str) -> Vec<Value> {
        let state = self.get("/_sim/state").await;
        state["apps"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["service"] == service)
            .collect()
    }

    fn config(&self, tweak: impl FnOnce(&mut CloudConfig)) -> CloudConfig {
        let mut config = CloudConfig {
            backoff_base: Duration::from_millis(20),
            ..CloudConfig::default()
        };
        for service in Service::ALL {
            config
                .endpoints
                .add_override(&format!("{service}={}", self.url()))
                .expect("loopback override");
        }
        tweak(&mut config);
        config
    }

    fn client_with(
        &self,
        tweak: impl FnOnce(&mut CloudConfig),
        credentials: Credentials,
    ) -> CloudClient {
        let cloud = Cloud::new(self.config(tweak), None).expect("cloud");
        cloud.client(&Account {
            region: REGION.into(),
            project_id: PROJECT.into(),
            credentials,
        })
    }

    fn client(&self) -> CloudClient {
        self.client_with(|_| {}, aksk(SK))
    }

    /// The app-credential check: a request signed with the app's key and secret.
    async fn credentials_work(&self, key: &str, secret: &SecretString) -> bool {
        common::sim::credentials_work(&self.url(), key, secret.expose_secret()).await
    }
}

fn aksk(sk: &str) -> Credentials {
    Credentials::AkSk {
        access_key: AK.into(),
        secret_key: SecretString::from(sk.to_string()),
        security_token: None,
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

#[tokio::test]
async fn apig_every_operation() {
    let sim = Sim::start().await;
    let c = sim.client();
    let apig = c.apig("gw1");

    let app = apig
        .create(&AppInput {
            name: "orders_client",
            remark: Some("Orders [appauth:1a2b3c4d]"),
            ..Default::default()
        })
        .await
        .expect("create");
    let key = app.app_key.clone().expect("key");
    let first = app.app_secret.clone().expect("unmasked secret on create");
    assert!(!appauth_operator::cloud::secret::is_masked(&first));
    assert!(sim.credentials_work(&key, &first).await);

    // Client-chosen key and secret.
    let chosen = secret("Chosen_secret-1234!");
    let own = apig
        .create(&AppInput {
            name: "byo_app",
            app_key: Some("byo-key-12345678"),
            app_secret: Some(&chosen),
            ..Default::default()
        })
        .await
        .expect("create with key");
    assert_eq!(own.app_key.as_deref(), Some("byo-key-12345678"));
    assert_eq!(
        own.app_secret
            .as_ref()
            .map(|s| s.expose_secret().to_string()),
        Some(chosen.expose_secret().to_string())
    );

    let found = apig.find_by_name("orders_client").await.expect("find");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, app.id);
    assert!(
        apig.find_by_name("orders").await.expect("find").is_empty(),
        "precise search, no prefix match"
    );

    let shown = apig.show(&app.id).await.expect("show");
    assert_eq!(shown.remark.as_deref(), Some("Orders [appauth:1a2b3c4d]"));
    assert_eq!(
        shown
            .app_secret
            .as_ref()
            .map(|s| s.expose_secret().to_string()),
        Some(first.expose_secret().to_string())
    );
    apig.verify(&app.id).await.expect("verify");

    let updated = apig
        .update(
            &app.id,
            &AppInput {
                name: "orders_client",
                remark: Some("changed"),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(updated.remark.as_deref(), Some("changed"));

    let reset = apig
        .reset_secret(&app.id, None)
        .await
        .expect("reset")
        .app_secret
        .expect("new secret");
    assert_ne!(reset.expose_secret(), first.expose_secret());
    assert!(
        !sim.credentials_work(&key, &first).await,
        "old secret stops working"
    );
    assert!(sim.credentials_work(&key, &reset).await);
    let given = secret("Given_secret_98765");
    let reset2 = apig
        .reset_secret(&app.id, Some(&given))
        .await
        .expect("reset to value")
        .app_secret
        .expect("secret");
    assert_eq!(reset2.expose_secret(), given.expose_secret());

    let code = apig
        .generate_app_code(&app.id)
        .await
        .expect("generate code");
    let value = secret(&format!("Code{}", "x".repeat(70)));
    let code2 = apig
        .create_app_code(&app.id, &value)
        .await
        .expect("create code");
    let codes = apig.list_app_codes(&app.id).await.expect("list codes");
    assert_eq!(codes.len(), 2);
    apig.delete_app_code(&app.id, &code.id)
        .await
        .expect("delete code");
    let codes = apig.list_app_codes(&app.id).await.expect("list codes");
    assert_eq!(
        codes.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        vec![code2.id.clone()]
    );

    apig.delete(&app.id).await.expect("delete");
    let gone = apig.show(&app.id).await.expect_err("gone");
    assert_eq!(gone.category(), ErrorCategory::NotFound, "{gone}");
    assert_eq!(sim.apps("apig").await.len(), 1);
}

#[tokio::test]
async fn apig_error_classes() {
    let sim = Sim::start().await;
    let c = sim.client();
    let apig = c.apig("gw1");
    apig.create(&AppInput {
        name: "taken_name",
        ..Default::default()
    })
    .await
    .expect("create");
    let dup = apig
        .create(&AppInput {
            name: "taken_name",
            ..Default::default()
        })
        .await
        .expect_err("duplicate");
    assert_eq!(
        (dup.category(), dup.code()),
        (ErrorCategory::AlreadyExists, Some("APIG.3203"))
    );
    let bad = apig
        .create(&AppInput {
            name: "1-bad name",
            ..Default::default()
        })
        .await
        .expect_err("invalid");
    assert_eq!(bad.category(), ErrorCategory::InvalidInput, "{bad}");
    assert!(bad.to_string().contains("name"), "{bad}");
    let leaked = secret("Leaky_secret_value_1");
    let dup_key = apig
        .create(&AppInput {
            name: "other_app",
            app_key: Some("shared-key-0001"),
            app_secret: Some(&leaked),
            ..Default::default()
        })
        .await;
    dup_key.expect("first key use");
    let err = apig
        .create(&AppInput {
            name: "third_app",
            app_key: Some("shared-key-0001"),
            app_secret: Some(&leaked),
            ..Default::default()
        })
        .await
        .expect_err("dup key");
    assert_eq!(
        (err.category(), err.code()),
        (ErrorCategory::KeyTaken, Some("APIG.3310"))
    );
    assert!(!format!("{err} {err:?}").contains("Leaky_secret_value_1"));

    let wrong = sim.client_with(|_| {}, aksk("not-the-secret-key"));
    let unauthorized = wrong
        .apig("gw1")
        .show("anything")
        .await
        .expect_err("bad signature");
    assert_eq!(
        unauthorized.category(),
        ErrorCategory::Unauthorized,
        "{unauthorized}"
    );
    assert!(!format!("{unauthorized:?}").contains("not-the-secret-key"));
}

#[tokio::test]
async fn modelarts_apps_apis_and_bindings() {
    let sim = Sim::start().await;
    let c = sim.client();
    let ma = c.modelarts("0");
    let a = ma
        .create_app("fraud_caller", Some("r [appauth:00000001]"))
        .await
        .expect("create");
    let _duplicate = ma
        .create_app("fraud_caller", None)
        .await
        .expect("duplicate names are allowed by default");
    assert!(
        a.app_secret
            .as_ref()
            .is_some_and(|s| !appauth_operator::cloud::secret::is_masked(s))
    );
    assert!(ma.app_exists("fraud_caller").await.expect("exists"));
    assert!(!ma.app_exists("nobody").await.expect("exists"));
    assert_eq!(
        ma.find_apps_by_name("fraud_caller", false)
            .await
            .expect("find")
            .len(),
        2
    );
    assert!(
        ma.find_apps_by_name("fraud", false)
            .await
            .expect("find")
            .is_empty()
    );

    let masked = ma.show_app(&a.app_id, false).await.expect("show");
    assert!(
        masked
            .app_secret
            .as_ref()
            .is_some_and(appauth_operator::cloud::secret::is_masked)
    );
    let plain = ma.show_app(&a.app_id, true).await.expect("show plaintext");
    assert_eq!(
        plain
            .app_secret
            .as_ref()
            .map(|s| s.expose_secret().to_string()),
        a.app_secret.as_ref().map(|s| s.expose_secret().to_string())
    );
    let key = a.app_key.clone().expect("key");
    let reset = ma
        .reset_secret(&a.app_id, "fraud_caller", None)
        .await
        .expect("reset")
        .app_secret
        .expect("secret");
    assert!(sim.credentials_work(&key, &reset).await);
    let with_code = ma
        .add_app_code(&a.app_id, "fraud_caller", None)
        .await
        .expect("app code");
    assert_eq!(with_code.app_codes.len(), 1);

    let api = ma
        .create_api(
            "svc-1",
            &ApiInput {
                workspace_id: "0".into(),
                auth_type: "APP".into(),
                api_method: "POST".into(),
                api_remark: Some("x [appauth:00000002]".into()),
                ..Default::default()
            },
        )
        .await
        .expect("create api");
    assert!(
        api.predict_url
            .as_deref()
            .is_some_and(|u| u.contains("svc-1")),
        "{api:?}"
    );
    assert_eq!(ma.list_apis("svc-1").await.expect("list").len(), 1);

    let results = ma
        .bind("svc-1", &api.api_id, &[&a.app_id, "no-such-app"])
        .await
        .expect("bind");
    let ok: Vec<_> = results
        .iter()
        .filter(|r| r.success)
        .map(|r| r.app_id.clone())
        .collect();
    assert_eq!(ok, vec![a.app_id.clone()], "{results:?}");
    assert_eq!(
        ma.bindings("svc-1", &api.api_id)
            .await
            .expect("bindings")
            .len(),
        1
    );
    assert_eq!(ma.app_apis(&a.app_id).await.expect("app apis").len(), 1);

    let refused = ma.delete_app(&a.app_id).await.expect_err("bound app");
    assert_eq!(refused.category(), ErrorCategory::Conflict, "{refused}");
    let unbound = ma
        .unbind("svc-1", &api.api_id, &[&a.app_id])
        .await
        .expect("unbind");
    assert!(unbound.iter().all(|r| r.success));
    ma.delete_app(&a.app_id).await.expect("delete after unbind");
    ma.delete_api("svc-1", &api.api_id)
        .await
        .expect("delete api");
    assert_eq!(
        ma.show_app(&a.app_id, false)
            .await
            .expect_err("gone")
            .category(),
        ErrorCategory::NotFound
    );

    // Quota: 5 apps per user (b, plus four more), the sixth is refused.
    for i in 0..4 {
        ma.create_app(&format!("filler_{i}"), None)
            .await
            .expect("within quota");
    }
    let quota = ma
        .create_app("one_too_many", None)
        .await
        .expect_err("quota");
    assert_eq!(quota.category(), ErrorCategory::QuotaExceeded, "{quota}");
}

#[tokio::test]
async fn dataarts_every_operation() {
    let sim = Sim::start().await;
    let c = sim.client();
    let da = c.dataarts("w1", "SHARED");
    let app = da.create("reports", Some("d")).await.expect("create");
    da.create("reports_extra", None).await.expect("create");
    assert!(app.app_secret.is_some());
    let found = da
        .find_by_name("reports")
        .await
        .expect("fuzzy list, exact filter");
    assert_eq!(
        found.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        vec![app.id.clone()]
    );
    assert_eq!(da.show(&app.id).await.expect("show").app_key, app.app_key);
    assert_eq!(
        da.update(&app.id, "reports", Some("new"))
            .await
            .expect("update")
            .description
            .as_deref(),
        Some("new")
    );
    // Another workspace does not see the app.
    assert!(
        c.dataarts("w2", "SHARED")
            .find_by_name("reports")
            .await
            .expect("list")
            .is_empty()
    );
    da.delete(&app.id).await.expect("delete");
    let gone = da.show(&app.id).await.expect_err("gone");
    assert_eq!(
        (gone.category(), gone.status(), gone.code()),
        (ErrorCategory::NotFound, Some(400), Some("DLM.4063"))
    );
}

#[tokio::test]
async fn roma_every_operation() {
    let sim = Sim::start().await;
    let c = sim.client();
    let roma = c.roma("r1");
    let chosen = secret("Roma-secret.001");
    let app = roma
        .create(&RomaInput {
            name: "Billing sync (prod)",
            remark: Some("r"),
            key: Some("roma-key-001"),
            secret: Some(&chosen),
            favorite: Some(false),
        })
        .await
        .expect("create");
    assert_eq!(app.key.as_deref(), Some("roma-key-001"));
    assert_eq!(
        roma.get_secret(&app.id)
            .await
            .expect("secret")
            .expose_secret(),
        chosen.expose_secret()
    );
    assert!(sim.credentials_work("roma-key-001", &chosen).await);
    assert_eq!(
        roma.find_by_name("Billing sync (prod)")
            .await
            .expect("validate")
            .map(|a| a.id),
        Some(app.id.clone())
    );
    assert!(
        roma.find_by_name("Billing sync")
            .await
            .expect("validate")
            .is_none(),
        "exact"
    );
    let updated = roma
        .update(&app.id, "Billing sync (prod)", Some("changed"), Some(true))
        .await
        .expect("update");
    assert_eq!(updated.remark.as_deref(), Some("changed"));
    let fresh = roma.reset_secret(&app.id, None).await.expect("reset");
    assert_ne!(fresh.expose_secret(), chosen.expose_secret());
    assert_eq!(
        roma.get_secret(&app.id)
            .await
            .expect("secret")
            .expose_secret(),
        fresh.expose_secret()
    );
    let dup = roma
        .create(&RomaInput {
            name: "Billing sync (prod)",
            ..Default::default()
        })
        .await
        .expect_err("dup");
    assert_eq!(dup.category(), ErrorCategory::AlreadyExists);
    roma.delete(&app.id).await.expect("delete");
    assert_eq!(
        roma.show(&app.id).await.expect_err("gone").category(),
        ErrorCategory::NotFound
    );
}

#[tokio::test]
async fn iam_tokens_are_cached_shared_and_renewed() {
    let sim = Sim::start().await;
    let password = Credentials::Password {
        domain: "hwsim-domain".into(),
        user: "hwsim-user".into(),
        password: secret("hwsim-password"),
    };
    let c = sim.client_with(|_| {}, password.clone());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.apig("gw1")
                .create(&AppInput {
                    name: &format!("tok_app_{i}"),
                    ..Default::default()
                })
                .await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("create with a token");
    }
    assert_eq!(
        sim.count("iam.token").await,
        1,
        "one token for 20 concurrent calls"
    );

    // Short-lived tokens are renewed before they expire.
    sim.send(
        reqwest::Method::PUT,
        "/_sim/config",
        json!({"token_ttl_secs": 31}),
    )
    .await;
    let short = sim.client_with(
        |_| {},
        Credentials::Password {
            domain: "hwsim-domain".into(),
            user: "hwsim-user".into(),
            password: secret("hwsim-password"),
        },
    );
    short
        .apig("gw1")
        .list(&Default::default())
        .await
        .expect("first call");
    let before = sim.count("iam.token").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    short
        .apig("gw1")
        .list(&Default::default())
        .await
        .expect("after renewal margin");
    assert_eq!(
        sim.count("iam.token").await,
        before + 1,
        "renewed inside the margin"
    );

    let wrong = sim.client_with(
        |_| {},
        Credentials::Password {
            domain: "hwsim-domain".into(),
            user: "hwsim-user".into(),
            password: secret("wrong"),
        },
    );
    let err = wrong
        .apig("gw1")
        .list(&Default::default())
        .await
        .expect_err("wrong password");
    assert_eq!(err.category(), ErrorCategory::Unauthorized);
    assert!(!format!("{err:?}").contains("wrong"), "{err:?}");
}

#[tokio::test]
async fn temporary_credentials_need_the_security_token() {
    let sim = Sim::start().await;
    sim.send(reqwest::Method::POST, "/_sim/accounts", json!({"access_key": "TMPAK0000000000000001", "secret_key": "tmp-sk-0000000000000000", "security_token": "tmp-security-token", "project_id": PROJECT})).await;
    let with = sim.client_with(
        |_| {},
        Credentials::AkSk {
            access_key: "TMPAK0000000000000001".into(),
            secret_key: secret("tmp-sk-0000000000000000"),
            security_token: Some(secret("tmp-security-token")),
        },
    );
    with.apig("gw1")
        .list(&Default::default())
        .await
        .expect("temporary credentials");
    let without = sim.client_with(
        |_| {},
        Credentials::AkSk {
            access_key: "TMPAK0000000000000001".into(),
            secret_key: secret("tmp-sk-0000000000000000"),
            security_token: None,
        },
    );
    assert_eq!(
        without
            .apig("gw1")
            .list(&Default::default())
            .await
            .expect_err("no token")
            .category(),
        ErrorCategory::Unauthorized
    );
}

#[tokio::test]
async fn idempotent_calls_retry_transient_errors_creates_never_do() {
    let sim = Sim::start().await;
    let c = sim.client();
    let apig = c.apig("gw1");
    let app = apig
        .create(&AppInput {
            name: "retry_app",
            ..Default::default()
        })
        .await
        .expect("create");

    sim.fault(json!({"service": "apig", "op": "show", "status": 500, "times": 2}))
        .await;
    apig.show(&app.id)
        .await
        .expect("show succeeds on the third attempt");
    assert_eq!(sim.count("apig.show").await, 3);

    sim.fault(json!({"service": "apig", "op": "create", "status": 503, "times": 1}))
        .await;
    let err = apig
        .create(&AppInput {
            name: "never_retried",
            ..Default::default()
        })
        .await
        .expect_err("create fails");
    assert_eq!(err.category(), ErrorCategory::Transient);
    assert_eq!(
        sim.count("apig.create").await,
        2,
        "one create before, one now: no retry"
    );

    sim.fault(json!({"service": "apig", "op": "reset_secret", "status": 500, "times": 1}))
        .await;
    apig.reset_secret(&app.id, None)
        .await
        .expect_err("reset fails");
    assert_eq!(
        sim.count("apig.reset_secret").await,
        1,
        "resets are never retried"
    );

    // A persistent fault: bounded attempts (4), then the error.
    sim.fault(json!({"service": "apig", "op": "delete", "status": 500}))
        .await;
    assert_eq!(
        apig.delete(&app.id)
            .await
            .expect_err("persistent")
            .category(),
        ErrorCategory::Transient
    );
    assert_eq!(sim.count("apig.delete").await, 4);
}

#[tokio::test]
async fn throttling_honours_retry_after() {
    let sim = Sim::start().await;
    let c = sim.client();
    sim.fault(
        json!({"service": "roma", "op": "list", "status": 429, "retry_after": 1, "times": 1}),
    )
    .await;
    let started = Instant::now();
    c.roma("r1")
        .list(None, 0, 10)
        .await
        .expect("after Retry-After");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    sim.fault(
        json!({"service": "roma", "op": "create", "status": 429, "retry_after": 7, "times": 1}),
    )
    .await;
    let err = c
        .roma("r1")
        .create(&RomaInput {
            name: "throttled",
            ..Default::default()
        })
        .await
        .expect_err("not retried");
    assert_eq!(
        (err.category(), err.retry_after()),
        (ErrorCategory::Throttled, Some(Duration::from_secs(7)))
    );
}

#[tokio::test]
async fn a_dropped_create_is_reported_as_outcome_unknown_and_did_commit() {
    let sim = Sim::start().await;
    let c = sim.client();
    sim.fault(json!({"service": "apig", "op": "create", "drop_after_commit": true, "times": 1}))
        .await;
    let err = c
        .apig("gw1")
        .create(&AppInput {
            name: "dropped_app",
            ..Default::default()
        })
        .await
        .expect_err("dropped");
    assert!(err.outcome_unknown(), "{err}");
    assert_eq!(sim.count("apig.create").await, 1, "not retried");
    let found = c
        .apig("gw1")
        .find_by_name("dropped_app")
        .await
        .expect("lookup");
    assert_eq!(found.len(), 1, "the create took effect");
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried_within_bounds() {
    let sim = Sim::start().await;
    let c = sim.client_with(
        |cfg| {
            cfg.timeout = Duration::from_millis(300);
            cfg.max_attempts = 2;
        },
        aksk(SK),
    );
    sim.fault(json!({"service": "dataarts", "op": "list", "latency_ms": 1500}))
        .await;
    let started = Instant::now();
    let err = c
        .dataarts("w1", "SHARED")
        .list(None, 0, 10)
        .await
        .expect_err("timeout");
    assert!(err.outcome_unknown(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sim.count("dataarts.list").await, 2);
}

#[tokio::test]
async fn rate_limits_space_out_bursts() {
    let sim = Sim::start().await;
    let c = sim.client_with(
        |cfg| {
            let (svc, rate) =
                appauth_operator::cloud::ratelimit::Rate::parse_for("roma=10/1").expect("rate");
            cfg.rates.insert(svc, rate);
        },
        aksk(SK),
    );
    let c = Arc::new(c);
    let started = Instant::now();
    for _ in 0..6 {
        c.roma("r1").list(None, 0, 1).await.expect("list");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
}
