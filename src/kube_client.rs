//! The Kubernetes client. `HTTPS_PROXY` is meant for the cloud calls: kube's kubeconfig loader
//! would send the apiserver traffic through it too, so it is used for the apiserver only when
//! asked (`--apiserver-proxy`, or a kubeconfig's own `proxy-url`).

use anyhow::Context as _;
use kube::Client;
use kube::api::{Api, PostParams};

/// The apiserver's proxy: the flag's; else the kubeconfig's own; never the one kube took from
/// `HTTPS_PROXY`.
pub fn apiserver_proxy(
    from_config: Option<http::Uri>,
    env_https_proxy: Option<&str>,
    asked: Option<&str>,
) -> anyhow::Result<Option<http::Uri>> {
    if let Some(asked) = asked.filter(|a| !a.trim().is_empty()) {
        let uri = asked
            .trim()
            .parse::<http::Uri>()
            .context("--apiserver-proxy is not a URL")?;
        return Ok(Some(uri));
    }
    let from_env = env_https_proxy.and_then(|v| v.trim().parse::<http::Uri>().ok());
    Ok(from_config.filter(|uri| Some(uri) != from_env.as_ref()))
}

/// The apiserver client; `metrics` counts its requests by verb and code.
pub async fn client(
    asked_proxy: Option<&str>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) -> anyhow::Result<Client> {
    let mut config = kube::Config::infer()
        .await
        .context("loading the Kubernetes client configuration")?;
    let env = std::env::var("HTTPS_PROXY")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var("https_proxy").ok());
    config.proxy_url = apiserver_proxy(config.proxy_url.take(), env.as_deref(), asked_proxy)?;
    if let Some(proxy) = &config.proxy_url {
        tracing::info!(proxy = %proxy, "reaching the apiserver through a proxy");
    }
    let builder =
        kube::client::ClientBuilder::try_from(config).context("connecting to Kubernetes")?;
    Ok(builder
        .with_layer(&crate::kube_metrics::CountRequests(metrics))
        .build())
}

/// Who the operator is to the apiserver (SelfSubjectReview): its ServiceAccount when it runs
/// as one, so that no namespace can name it for federation.
pub async fn own_service_account(client: &Client) -> anyhow::Result<Option<(String, String)>> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let (params, review) = (PostParams::default(), SelfSubjectReview::default());
    let review = patiently("who the operator is", transient, || {
        api.create(&params, &review)
    })
    .await
    .context("asking the apiserver who the operator is (SelfSubjectReview)")?;
    let user = review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .unwrap_or_default();
    Ok(service_account_of(&user))
}

/// A request of the start, asked again while the apiserver is restarting (`is_transient`:
/// refused connections, 5xx, 429) for up to `START_PATIENCE`, so a start during an apiserver
/// restart does not end the process. Other errors end it at once.
pub async fn patiently<T, E, Fut>(
    what: &str,
    is_transient: impl Fn(&E) -> bool,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, E>
where
    E: std::fmt::Display,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = std::time::Instant::now() + START_PATIENCE;
    let mut pause = std::time::Duration::from_millis(250);
    loop {
        match attempt().await {
            Err(e) if is_transient(&e) && std::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "the apiserver did not answer {what}; asking again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
            }
            result => return result,
        }
    }
}

/// How long a start waits for an apiserver that does not answer.
const START_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Whether an apiserver error may pass by itself: no connection, a server error, throttling.
pub fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// `system:serviceaccount:<namespace>:<name>` -> (namespace, name).
pub fn service_account_of(user: &str) -> Option<(String, String)> {
    let (ns, name) = user
        .strip_prefix("system:serviceaccount:")?
        .split_once(':')?;
    Some((ns.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cloud_proxy_is_not_the_apiservers() {
        let uri = |s: &str| s.parse::<http::Uri>().expect("uri");
        let cases = [
            ("nothing", None, None, None, None),
            (
                "HTTPS_PROXY only: kube took it, dropped",
                Some(uri("http://proxy:3128")),
                Some("http://proxy:3128"),
                None,
                None,
            ),
            (
                "the kubeconfig's own proxy-url",
                Some(uri("http://kube-proxy:8888")),
                Some("http://proxy:3128"),
                None,
                Some(uri("http://kube-proxy:8888")),
            ),
            (
                "asked for",
                Some(uri("http://proxy:3128")),
                Some("http://proxy:3128"),
                Some("http://proxy:3128"),
                Some(uri("http://proxy:3128")),
            ),
        ];
        for (name, from_config, env, asked, want) in cases {
            assert_eq!(
                apiserver_proxy(from_config, env, asked).expect(name),
                want,
                "{name}"
            );
        }
        assert!(apiserver_proxy(None, None, Some("http://bad host")).is_err());
    }

    #[test]
    fn transient_apiserver_errors() {
        let status = |code: u16| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..Default::default()
            }))
        };
        for (code, want) in [
            (500, true),
            (503, true),
            (429, true),
            (403, false),
            (404, false),
        ] {
            assert_eq!(transient(&status(code)), want, "{code}");
        }
        assert!(transient(&kube::Error::Service(
            "connection refused".into()
        )));
        assert!(!transient(&kube::Error::LinesCodecMaxLineLengthExceeded));
    }

    #[test]
    fn service_account_users() {
        assert_eq!(
            service_account_of("system:serviceaccount:appauth-system:appauth-operator"),
            Some(("appauth-system".into(), "appauth-operator".into()))
        );
        assert_eq!(service_account_of("kubernetes-admin"), None);
        assert_eq!(service_account_of("system:serviceaccount:broken"), None);
    }
}
