//! `appauth-operator run`: configuration (flags with env fallbacks), the default account, the
//! controllers, and the metrics and health server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use kube::Client;

use crate::cloud::ratelimit::Rate;
use crate::cloud::{Account, CaBundle, Cloud, CloudConfig, Credentials, ErrorCodes, SecretString};
use crate::controller::{Context, Settings};
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
    /// Drift check period (jittered by ±10%).
    #[arg(long, env = "APPAUTH_RESYNC_PERIOD", default_value = "10m", value_parser = humantime::parse_duration)]
    pub resync_period: Duration,
    /// Default account's region.
    #[arg(long, env = "HWCLOUD_REGION")]
    pub region: Option<String>,
    /// Default account's project id.
    #[arg(long, env = "HWCLOUD_PROJECT_ID")]
    pub project_id: Option<String>,
    /// Directory with the default account's credentials as files (accessKey, secretKey,
    /// securityToken, iamDomain, iamUser, iamPassword, region, projectId), mounted from a Secret.
    #[arg(long, env = "APPAUTH_CREDENTIALS_DIR")]
    pub credentials_dir: Option<PathBuf>,
    /// PEM file with CA certificates trusted for cloud endpoints, in addition to the built-in
    /// and the platform's roots (private endpoints, TLS-inspecting proxies).
    #[arg(long, env = "APPAUTH_CA_BUNDLE", value_name = "PATH")]
    pub ca_bundle: Option<PathBuf>,
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
    /// Mirror each new app id into annotation appauth.hwcloud.dev/app-id, so that an object
    /// restored from a backup without status finds its app; costs one more write per new app.
    #[arg(long, env = "APPAUTH_APP_ID_ANNOTATION", default_value_t = true, action = clap::ArgAction::Set)]
    pub app_id_annotation: bool,
    /// Metrics (/metrics) and health (/healthz, /readyz) address.
    #[arg(long, env = "APPAUTH_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Log format: text or json.
    #[arg(long, env = "APPAUTH_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
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

fn env_or_file(dir: Option<&PathBuf>, file: &str, env: &str) -> Option<String> {
    if let Some(dir) = dir
        && let Ok(v) = std::fs::read_to_string(dir.join(file))
    {
        let v = v.trim().to_string();
        if !v.is_empty() {
            return Some(v);
        }
    }
    std::env::var(env).ok().filter(|v| !v.is_empty())
}

/// The default account from flags, env and files; `None` when no credentials are configured.
pub fn default_account(args: &RunArgs) -> anyhow::Result<Option<Account>> {
    let dir = args.credentials_dir.as_ref();
    let get = |file: &str, env: &str| env_or_file(dir, file, env);
    let credentials = match (
        get("accessKey", "HWCLOUD_ACCESS_KEY"),
        get("iamUser", "HWCLOUD_IAM_USER"),
    ) {
        (Some(access_key), _) => Credentials::AkSk {
            access_key,
            secret_key: SecretString::from(get("secretKey", "HWCLOUD_SECRET_KEY").context(
                "HWCLOUD_SECRET_KEY (or secretKey file) is required with an access key",
            )?),
            security_token: get("securityToken", "HWCLOUD_SECURITY_TOKEN").map(SecretString::from),
        },
        (None, Some(user)) => Credentials::Password {
            domain: get("iamDomain", "HWCLOUD_IAM_DOMAIN")
                .context("HWCLOUD_IAM_DOMAIN is required with HWCLOUD_IAM_USER")?,
            user,
            password: SecretString::from(
                get("iamPassword", "HWCLOUD_IAM_PASSWORD")
                    .context("HWCLOUD_IAM_PASSWORD is required with HWCLOUD_IAM_USER")?,
            ),
        },
        (None, None) => return Ok(None),
    };
    let region = args
        .region
        .clone()
        .or_else(|| get("region", "HWCLOUD_REGION"))
        .context("--region is required with default credentials")?;
    if !crate::cloud::endpoints::valid_region(&region) {
        bail!("--region must match ^[a-z]+(-[a-z0-9]+)+$");
    }
    let project_id = args
        .project_id
        .clone()
        .or_else(|| get("projectId", "HWCLOUD_PROJECT_ID"))
        .context("--project-id is required with default credentials")?;
    Ok(Some(Account {
        region,
        project_id,
        credentials,
    }))
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

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,kube=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
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
    init_logging(&args.log_format);
    let client = Client::try_default()
        .await
        .context("connecting to Kubernetes")?;
    let metrics = Arc::new(Metrics::default());
    let cloud = Cloud::new(
        cloud_config(&args)?,
        Some(Arc::new(CloudObserver(metrics.clone()))),
    )?;
    let account = default_account(&args)?;
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
    };
    tracing::info!(instance = %settings.instance, namespace = ?settings.namespace, default_account = account.is_some(), "starting appauth-operator");
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
    let ctx = Context::new(client.clone(), cloud, account, settings, metrics);
    let controllers = crate::controller::wiring::run_controllers(client, ctx, ready);
    tokio::select! {
        r = server => r.context("metrics server task")?.context("metrics server"),
        () = controllers => {
            // The controllers stopped on a signal and finished their reconciles: the standby
            // may start now.
            if let Some(leadership) = leadership {
                leadership.release().await;
            }
            Ok(())
        }
    }
}
