//! spec.secret.template end to end: rendered keys in the Secret, rendered again on rotation and
//! on a template change (and removed with their template), a bad template refused before any
//! cloud call, and nothing secret or rendered in the operator's logs, Events, statuses or metrics.

use crate::common;

use std::time::Duration;

use common::objects::{Ns, creds, setup};
use common::operator::{Operator, free_metrics_addr};
use common::sim::Sim;
use common::wait;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

const ENV: &str = "APP_KEY={{ appKey }}\nAPP_SECRET={{ appSecret }}\n";
const JSON: &str = r#"{"key": {{ appKey|tojson }}, "secret": {{ appSecret|tojson }}, "namespace": {{ namespace|tojson }}}"#;
const URL: &str = "https://gw.example.com/{{ name }}?app_key={{ appKey|urlencode }}";

/// What the three templates render to for these credentials.
fn expected(ns: &str, key: &str, secret: &str) -> [(&'static str, String); 3] {
    [
        (".env", format!("APP_KEY={key}\nAPP_SECRET={secret}\n")),
        (
            "config.json",
            format!(
                "{{\"key\": {}, \"secret\": {}, \"namespace\": {}}}",
                json!(key),
                json!(secret),
                json!(ns)
            ),
        ),
        ("url", format!("https://gw.example.com/app?app_key={key}")),
    ]
}

/// Waits until the Secret's rendered keys are those of the credentials it holds, with
/// `secret` different from `not` (a rotation); returns (key, secret).
async fn rendered(ns: &Ns, not: Option<&str>) -> (String, String) {
    wait::until(T, "rendered keys match the credentials", || async {
        let s = ns.secret("app").await?;
        let key = Ns::value(&s, "app_key")?;
        let secret = Ns::value(&s, "app_secret")?;
        if not == Some(secret.as_str()) {
            return None;
        }
        expected(&ns.name, &key, &secret)
            .iter()
            .all(|(k, want)| Ns::value(&s, k).as_deref() == Some(want.as_str()))
            .then_some((key, secret))
    })
    .await
}

/// No secret the simulator issued and none of `rendered` is in the operator's logs, the
/// namespace's Events and statuses, or the metrics page (raw or encoded).
async fn assert_nowhere(op: &Operator, ns: &Ns, sim: &Sim, metrics: &str, rendered: &[&str]) {
    let logs = op.logs();
    assert!(!logs.is_empty(), "the operator's logs were captured");
    let mut needles = common::converge::issued_secrets(sim);
    needles.extend(rendered.iter().map(|s| s.to_string()));
    let page = Operator::metrics(metrics).await;
    common::converge::hygiene(ns, &needles, &logs, &page).await;
}

#[tokio::test]
async fn templates_render_follow_rotation_and_changes_and_never_reach_logs() {
    let (ns, sim) = setup("tmpl-render").await;
    let metrics = free_metrics_addr();
    let op = Operator::start(&ns.name, &sim.url(), &["--metrics-addr", &metrics]);
    ns.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "secret": {"template": {
            ".env": ENV, "config.json": JSON, "url": URL}}}),
    )
    .await;
    ns.wait_ready("app", T).await;
    let (key, first) = rendered(&ns, None).await;
    let first_json = expected(&ns.name, &key, &first)[1].1.clone();

    // Rotation: the rendered keys follow the new secret.
    ns.patch(
        "app",
        json!({"metadata": {"annotations": {"appauth.hwcloud.dev/rotate": "t1"}}}),
    )
    .await;
    let (_, second) = rendered(&ns, Some(&first)).await;
    assert_ne!(first, second);

    // A template changed and one removed: rendered again, the removed key gone.
    ns.patch(
        "app",
        json!({"spec": {"secret": {"template": {".env": "KEY={{ appKey }}\n", "url": null}}}}),
    )
    .await;
    wait::until(T, "template change rendered", || async {
        let s = ns.secret("app").await?;
        (Ns::value(&s, ".env")? == format!("KEY={key}\n") && Ns::value(&s, "url").is_none())
            .then_some(())
    })
    .await;
    let (_, now) = creds(&ns, "app").await;
    assert_eq!(now, second, "a template change does not rotate");
    ns.wait_ready("app", T).await;
    assert_eq!(sim.apps("apig").len(), 1);

    let env = expected(&ns.name, &key, &second)[0].1.clone();
    assert_nowhere(
        &op,
        &ns,
        &sim,
        &metrics,
        &[&first, &second, &first_json, &env],
    )
    .await;
}

#[tokio::test]
async fn a_bad_template_fails_naming_the_key_and_creates_nothing_in_the_cloud() {
    let (ns, sim) = setup("tmpl-bad").await;
    let metrics = free_metrics_addr();
    let op = Operator::start(&ns.name, &sim.url(), &["--metrics-addr", &metrics]);
    let spec = |template: &str| -> Value {
        json!({"apig": {"instanceId": "gw1"}, "secret": {"template": {"config.json": template}}})
    };
    // The same spec with a good template creates an app: the check below means something.
    ns.create("good", spec("{{ appKey }}")).await;
    ns.wait_ready("good", T).await;
    assert_eq!(sim.apps("apig").len(), 1);

    ns.create("bad", spec("{\"secret\": \"{{ appScret }}\"}"))
        .await;
    let app = ns.wait_reason("bad", "InvalidSpec", T).await;
    let (_, message) = app
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| (c.reason.clone(), c.message.clone()))
        .expect("Ready condition");
    assert!(
        message.contains(r#"spec.secret.template["config.json"]"#) && message.contains("appScret"),
        "{message}"
    );
    let stalled = app
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Stalled"))
        .map(|c| c.status.clone());
    assert_eq!(stalled.as_deref(), Some("True"));
    // Give a wrong order (the create first) time to show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        sim.apps("apig").len(),
        1,
        "no cloud app for the bad template"
    );
    assert!(ns.secret("bad").await.is_none(), "no Secret either");

    // Fixed: created and delivered.
    ns.patch(
        "bad",
        json!({"spec": {"secret": {"template": {"config.json": "{{ appKey }}"}}}}),
    )
    .await;
    ns.wait_ready("bad", T).await;
    assert_eq!(sim.apps("apig").len(), 2);
    let s = ns.secret("bad").await.expect("Secret");
    assert_eq!(Ns::value(&s, "config.json"), Ns::value(&s, "app_key"));
    // The failed template's message names the key and the mistake, never what it would render.
    assert_nowhere(&op, &ns, &sim, &metrics, &[]).await;
}

/// Where the cloud shows the secret only masked, a template change is rendered from the values
/// the Secret already holds: asking the cloud would reset the secret under its consumers.
#[tokio::test]
async fn a_template_change_where_the_cloud_masks_the_secret_resets_nothing() {
    let (ns, sim) = setup("tmpl-masked").await;
    // The operator's plaintext flag is not the one this cloud knows: shows are masked.
    sim.handle
        .set_config(json!({"modelarts_plaintext_flag": "not_the_operators_flag"}))
        .expect("config");
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create(
        "app",
        json!({"modelarts": {}, "secret": {"template": {".env": "SECRET={{ appSecret }}\n"}}}),
    )
    .await;
    ns.wait_ready("app", T).await;
    let (key, secret) = creds(&ns, "app").await;
    ns.patch(
        "app",
        json!({"spec": {"secret": {"template": {".env": "KEY={{ appKey }}\nSECRET={{ appSecret }}\n"}}}}),
    )
    .await;
    wait::until(T, "template change rendered", || async {
        let s = ns.secret("app").await?;
        (Ns::value(&s, ".env")? == format!("KEY={key}\nSECRET={secret}\n")).then_some(())
    })
    .await;
    ns.wait_ready("app", T).await;
    assert_eq!(
        creds(&ns, "app").await,
        (key.clone(), secret.clone()),
        "same credentials"
    );
    assert_eq!(sim.handle.count("modelarts.reset_secret"), 0, "no reset");
    // Credentials edited by hand cannot be told from the Secret: those are delivered again from
    // the cloud, which here means a reset. It shows the reset above would have been counted.
    ns.secrets()
        .patch(
            "app",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"data": {"app_secret": "ZWRpdGVk"}})),
        )
        .await
        .expect("edit the Secret");
    wait::until(T, "the edited secret replaced by a reset one", || async {
        (sim.handle.count("modelarts.reset_secret") == 1).then_some(())
    })
    .await;
    ns.wait_ready("app", T).await;
    let (_, reset) = creds(&ns, "app").await;
    assert_ne!(reset, secret);
}
