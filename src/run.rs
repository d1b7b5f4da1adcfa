//! `appauth-operator run`: configuration (flags with env fallbacks), the default account, the
//! controllers, and the metrics and health server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::cloud::ratelimit::Rate;
use crate::cloud::{CaBundle, Cloud, CloudConfig, ErrorCodes};
use crate::controller::{Context, Settings};
use crate::default_account::{CredentialArgs, DefaultAccount};
use crate::metrics::{CloudObserver, Metrics};

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "APPAUTH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Watch only objects matching this label selector (split objects between deployments).
    #[arg(long, env = "APPAUTH_LABEL_SELECTOR")]
    pub label_selector: Option<String>,
    /// Objects reconciled at once.
    #[arg(long, env = "APPAUTH_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Drift check period (the objects spread evenly over it).
    #[arg(long, env = "APPAUTH_RESYNC_PERIOD", default_value = "10m", value_parser = humantime::parse_duration)]
    pub resync_period: Duration,
    /// The default account's credentials.
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// PEM file with CA certificates trusted for cloud endpoints, in addition to the built-in
    /// and the platform's roots (private endpoints, TLS-inspecting proxies).
    #[arg(long, env = "APPAUTH_CA_BUNDLE", value_name = "PATH")]
    pub ca_bundle: Option<PathBuf>,
    /// Proxy for the apiserver connection. HTTPS_PROXY is used for cloud calls only.
    #[arg(long, env = "APPAUTH_APISERVER_PROXY", value_name = "URL")]
    pub apiserver_proxy: Option<String>,
    /// Endpoint override SERVICE=URL (iam, apig, modelarts, dataarts, roma); repeatable.
    #[arg(long = "endpoint", env = "APPAUTH_ENDPOINTS", value_delimiter = ',')]
    pub endpoints: Vec<String>,
    /// Cloud rate limit SERVICE=RPS[/BURST]; repeatable (default 50/s, burst 100, per service).
    #[arg(
        long = "rate-limit",
        env = "APPAUTH_RATE_LIMITS",
        value_delimiter = ','
    )]
    pub rate_limits: Vec<String>,
    /// Classify an unconfirmed cloud error code: CODE=Category; repeatable.
    #[arg(
        long = "error-code",
        env = "APPAUTH_ERROR_CODES",
        value_delimiter = ','
    )]
    pub error_codes: Vec<String>,
    /// Timeout of one cloud request.
    #[arg(long, env = "APPAUTH_REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Name of ModelArts' plaintext-secret query flag (the docs spell it iphertext_enabled).
    #[arg(
        long,
        env = "APPAUTH_MODELARTS_PLAINTEXT_FLAG",
        default_value = "iphertext_enabled"
    )]
    pub modelarts_plaintext_flag: String,
    /// Cluster name: part of default cloud names and of the fingerprint in each app's
    /// description. Clusters that share a Huawei Cloud account need distinct names.
    #[arg(long, env = "APPAUTH_CLUSTER_NAME", default_value = "default")]
    pub cluster_name: String,
    /// Allow binding objects to cloud apps that already exist (annotation
    /// appauth.hwcloud.dev/adopt: "true", or appauth.hwcloud.dev/app-id on an object not yet
    /// bound) while no AppAuthPolicy exists; once one does, policies decide.
    #[arg(long, env = "APPAUTH_ALLOW_ADOPTION", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_adoption: bool,
    /// Only AppAuthPolicies matching this label selector count (several installs in one
    /// cluster, each with its own policies).
    #[arg(long, env = "APPAUTH_POLICY_SELECTOR")]
    pub policy_selector: Option<String>,
    /// Name of the AppAuthGrantSet the operator writes for the admission policy.
    #[arg(long, env = "APPAUTH_GRANTS_NAME", default_value = "appauth-operator")]
    pub grants_name: String,
    /// Also mirror each new app id into annotation appauth.hwcloud.dev/app-id (for tools that
    /// read it there); costs one more write per new app. Restores do not need it: the pending
    /// marker left on every object finds the app.
    #[arg(long, env = "APPAUTH_APP_ID_ANNOTATION", default_value_t = false, action = clap::ArgAction::Set)]
    pub app_id_annotation: bool,
    /// Metrics (/metrics) and health (/healthz, /readyz) address.
    #[arg(long, env = "APPAUTH_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Log format: text or json (anything else is refused at start).
    #[arg(long, env = "APPAUTH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Lease duration used for leader election; with the request timeout it sets how long a
    /// foreign pending marker must age before a create runs again.
    #[arg(long, env = "APPAUTH_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
    /// First wait after a QuotaExceeded answer (doubles per attempt, at most 30m).
    #[arg(long, env = "APPAUTH_QUOTA_BACKOFF", default_value = "60s", value_parser = humantime::parse_duration)]
    pub quota_backoff: Duration,
    /// Run only while holding a coordination.k8s.io Lease (for several replicas).
    #[arg(long, env = "APPAUTH_LEADER_ELECT", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub leader_elect: bool,
    /// Namespace of the Lease (default: POD_NAMESPACE, else the watched namespace, else default).
    #[arg(long, env = "APPAUTH_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Name of the Lease; deployments that split objects by namespace or label use distinct ids.
    #[arg(
        long,
        env = "APPAUTH_LEADER_ELECTION_ID",
        default_value = "appauth-operator"
    )]
    pub leader_election_id: String,
    /// This process's identity in pending markers and Events (default: hostname and pid).
    #[arg(long, env = "APPAUTH_INSTANCE")]
    pub instance: Option<String>,
}

pub fn cloud_config(args: &RunArgs) -> anyhow::Result<CloudConfig> {
    let mut config = CloudConfig {
        timeout: args.request_timeout,
        modelarts_plaintext_flag: args.modelarts_plaintext_flag.clone(),
        ..CloudConfig::default()
    };
    for e in &args.endpoints {
        config
            .endpoints
            .add_override(e)
            .map_err(|m| anyhow::anyhow!("--endpoint: {m}"))?;
    }
    if let Some(url) = &args.credentials.iam_endpoint {
        if args.endpoints.iter().any(|e| e.starts_with("iam=")) {
            bail!("--iam-endpoint and --endpoint iam=... both name the IAM endpoint: keep one");
        }
        config
            .endpoints
            .add_override(&format!("iam={url}"))
            .map_err(|m| anyhow::anyhow!("--iam-endpoint: {m}"))?;
    }
    let mut rates = HashMap::new();
    for r in &args.rate_limits {
        let (service, rate) =
            Rate::parse_for(r).map_err(|m| anyhow::anyhow!("--rate-limit: {m}"))?;
        rates.insert(service, rate);
    }
    config.rates = rates;
    let mut codes = ErrorCodes::default();
    for c in &args.error_codes {
        codes
            .set_from_str(c)
            .map_err(|m| anyhow::anyhow!("--error-code: {m}"))?;
    }
    config.codes = codes;
    if let Some(path) = &args.ca_bundle {
        let bundle = CaBundle::load(path)
            .map_err(|e| anyhow::anyhow!("--ca-bundle {}: {e}", path.display()))?;
        tracing::info!(certificates = bundle.certificates().len(), path = %path.display(), "trusting the CA bundle for cloud endpoints");
        config.ca_bundle = Some(bundle);
    }
    Ok(config)
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,kube=warn".into());
    // Colours only on a terminal: a Pod's log (or a file) would keep the escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn instance_id(args: &RunArgs) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".into());
    let base = args.instance.clone().unwrap_or(host);
    // A fresh suffix per process: after a restart, our own old markers count as foreign.
    format!(
        "{base}/{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

async fn serve_metrics(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    use axum::{Router, http::StatusCode, routing::get};
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready.load(Ordering::Relaxed) {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "starting")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            "content-type",
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encode(),
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics address {addr}"))?;
    axum::serve(listener, app).await?;
    Ok(())
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let metrics = Arc::new(Metrics::default());
    let failure_reasons: Vec<&str> = crate::controller::status::Reason::failures()
        .map(|r| r.as_str())
        .chain([crate::controller::driver::KUBERNETES_API_FAILURE])
        .collect();
    metrics.start_series(
        &[
            &<crate::api::GatewayApp as kube::Resource>::kind(&()),
            &<crate::api::InferenceApi as kube::Resource>::kind(&()),
        ],
        &failure_reasons,
    );
    let client =
        crate::kube_client::client(args.apiserver_proxy.as_deref(), metrics.clone()).await?;
    let cloud = Cloud::new(
        cloud_config(&args)?,
        Some(Arc::new(CloudObserver(metrics.clone()))),
    )?;
    args.credentials.check()?;
    let account = DefaultAccount::new(args.credentials.clone());
    // A configuration that cannot work is refused at start; a later change is reported on
    // the objects that use the account.
    let configured = account.current().map_err(|e| anyhow::anyhow!(e))?.is_some();
    let settings = Settings {
        cluster_name: args.cluster_name.clone(),
        allow_adoption: args.allow_adoption,
        policy_selector: args.policy_selector.clone(),
        grants_name: args.grants_name.clone(),
        mirror_app_id: args.app_id_annotation,
        resync: args.resync_period,
        marker_grace: args.request_timeout + args.lease_duration,
        instance: instance_id(&args),
        namespace: args.namespace.clone(),
        label_selector: args.label_selector.clone(),
        concurrency: args.concurrency,
        quota_backoff: args.quota_backoff,
        token_audience: args.credentials.token_audience.clone(),
        credential_duration: args.credentials.credential_duration,
    };
    tracing::info!(instance = %settings.instance, namespace = ?settings.namespace, default_account = configured, "starting appauth-operator");
    let ready = Arc::new(AtomicBool::new(false));
    let server = tokio::spawn(serve_metrics(
        args.metrics_addr,
        metrics.clone(),
        ready.clone(),
    ));
    let mut leadership = None;
    if args.leader_elect {
        // A standby replica is healthy and ready; only the leader reconciles.
        ready.store(true, Ordering::Relaxed);
        let namespace = args
            .leader_election_namespace
            .clone()
            .or_else(|| {
                std::env::var("POD_NAMESPACE")
                    .ok()
                    .filter(|v| !v.is_empty())
            })
            .or_else(|| args.namespace.clone())
            .unwrap_or_else(|| "default".into());
        let election = crate::leader::Election {
            namespace,
            name: args.leader_election_id.clone(),
            identity: settings.instance.clone(),
            duration: args.lease_duration,
        };
        leadership = Some(crate::leader::acquire(client.clone(), election).await?);
    }
    // From here on this process reconciles (a lost Lease ends it).
    metrics.leader.set(1);
    let mut own: Vec<(String, String)> = crate::kube_client::own_service_account(&client)
        .await?
        .into_iter()
        .collect();
    // The token file may be another ServiceAccount's (a process given one): not lent either.
    if let Some(file) = &args.credentials.id_token_file
        && let Ok(token) = std::fs::read_to_string(file)
        && let Some(sa) = crate::cloud::federation::subject(token.trim())
            .as_deref()
            .and_then(crate::kube_client::service_account_of)
    {
        own.push(sa);
    }
    let ctx = Context::new(
        client.clone(),
        cloud,
        account,
        own,
        settings,
        metrics.clone(),
    );
    let controllers = crate::controller::wiring::run_controllers(client, ctx, ready);
    tokio::select! {
        r = server => r.context("metrics server task")?.context("metrics server"),
        () = controllers => {
            // The controllers stopped on a signal and finished their reconciles: the standby
            // may start now.
            if let Some(leadership) = leadership {
                metrics.leader.set(0);
                leadership.release().await;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn a_log_format_is_text_or_json_and_anything_else_names_the_flag() {
        for (value, parsed) in [("text", true), ("json", true), ("jsn", false), ("", false)] {
            let result = Cli::try_parse_from(["appauth-operator", "--log-format", value]);
            match result {
                Ok(cli) => {
                    assert!(parsed, "{value:?} was accepted");
                    assert_eq!(format!("{:?}", cli.run.log_format).to_lowercase(), value);
                }
                Err(e) => {
                    assert!(!parsed, "{value:?} was refused: {e}");
                    let text = e.to_string();
                    assert!(text.contains("--log-format"), "{text}");
                    assert!(text.contains("text") && text.contains("json"), "{text}");
                }
            }
        }
    }
}
