//! Proxies: cloud calls go through `HTTPS_PROXY` (a CONNECT tunnel to the HTTPS simulator),
//! the apiserver connection does not (unless `--apiserver-proxy` asks for it), and a host in
//! `NO_PROXY` is reached directly, past a proxy that refuses everything.

use crate::common;

use std::time::Duration;

use common::objects::Ns;
use common::operator::Operator;
use common::proxy::ForwardProxy;
use common::sim::Sim;
use common::tls::PrivateCa;
use common::{cluster, wait};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

async fn setup(test: &str) -> (Ns, PrivateCa, Sim) {
    let client = cluster::client().await;
    let name = cluster::namespace(&client, test).await;
    let ca = PrivateCa::generate(test, &[]);
    let sim = Sim::start_tls(&ca);
    (Ns { client, name }, ca, sim)
}

/// host:port of a URL.
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or_default().to_string()
}

/// The apiserver's host:port, as the operator's kubeconfig names it.
fn apiserver() -> String {
    let path = std::env::var(cluster::KUBECONFIG_ENV).expect("kubeconfig");
    let config = kube::config::Kubeconfig::read_from(&path).expect("kubeconfig");
    let server = config
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .expect("server");
    authority(&server)
}

#[tokio::test]
async fn cloud_calls_go_through_https_proxy_and_the_apiserver_does_not() {
    let (ns, ca, sim) = setup("proxy").await;
    let proxy = ForwardProxy::start(false).await;
    let bundle = ca.ca_cert.display().to_string();
    let _op = Operator::start_with_env(
        &ns.name,
        &sim.url(),
        &["--ca-bundle", &bundle],
        &[("HTTPS_PROXY", &proxy.url)],
    );
    ns.create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    ns.wait_ready("app", T).await;
    let seen = proxy.seen();
    let tunnel = format!("CONNECT {} ", authority(&sim.url()));
    assert!(
        seen.iter().any(|l| l.starts_with(&tunnel)),
        "the cloud calls went through the proxy: {seen:?}"
    );
    let apiserver = apiserver();
    assert!(
        !seen.iter().any(|l| l.contains(&apiserver)),
        "the apiserver connection did not: {seen:?}"
    );

    // Asked for, the apiserver connection goes through the proxy too (and so the check above
    // could have failed).
    let asked = namespace_with_proxy_asked(&ns, &sim, &bundle, &proxy).await;
    assert!(asked.iter().any(|l| l.contains(&apiserver)), "{asked:?}");
}

async fn namespace_with_proxy_asked(
    ns: &Ns,
    sim: &Sim,
    bundle: &str,
    proxy: &ForwardProxy,
) -> Vec<String> {
    let other = cluster::namespace(&ns.client, "proxy-asked").await;
    let other = Ns {
        client: ns.client.clone(),
        name: other,
    };
    let _op = Operator::start_with_env(
        &other.name,
        &sim.url(),
        &["--ca-bundle", bundle, "--apiserver-proxy", &proxy.url],
        &[("HTTPS_PROXY", &proxy.url)],
    );
    other
        .create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    other.wait_ready("app", T).await;
    proxy.seen()
}

#[tokio::test]
async fn no_proxy_reaches_the_cloud_directly_past_a_refusing_proxy() {
    let (ns, ca, sim) = setup("no-proxy").await;
    let refusing = ForwardProxy::start(true).await;
    let bundle = ca.ca_cert.display().to_string();
    let mut op = Operator::start_with_env(
        &ns.name,
        &sim.url(),
        &["--ca-bundle", &bundle],
        &[("HTTPS_PROXY", &refusing.url)],
    );
    ns.create("app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    // Through the proxy, refused: the cause is the proxy's answer, and nothing was made.
    wait::until(T, "app refused by the proxy", || async {
        let app = ns.get("app").await?;
        let (status, reason) = Ns::ready(&app)?;
        (status == "False" && reason == "CloudUnavailable").then_some(())
    })
    .await;
    assert!(!refusing.seen().is_empty(), "the proxy was asked");
    assert!(sim.all_apps().is_empty());
    op.kill();

    let host = authority(&sim.url());
    let host = host.split(':').next().unwrap_or_default().to_string();
    let before = refusing.seen().len();
    let _direct = Operator::start_with_env(
        &ns.name,
        &sim.url(),
        &["--ca-bundle", &bundle],
        &[("HTTPS_PROXY", &refusing.url), ("NO_PROXY", &host)],
    );
    ns.wait_ready("app", T).await;
    assert_eq!(sim.apps("apig").len(), 1);
    assert_eq!(
        refusing.seen().len(),
        before,
        "NO_PROXY: nothing more went to the proxy: {:?}",
        refusing.seen()
    );
}
