//! `hwcloud-sim --listen 127.0.0.1:PORT [--tls-cert PATH --tls-key PATH] [--config FILE]`: the
//! simulator as a process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use hwcloud_sim::config::{
    DEFAULT_ACCESS_KEY, DEFAULT_IAM_DOMAIN, DEFAULT_IAM_PASSWORD, DEFAULT_IAM_USER,
    DEFAULT_PROJECT_ID, DEFAULT_REGION, DEFAULT_SECRET_KEY,
};
use hwcloud_sim::{Account, Config, Tls};

/// A Huawei Cloud simulator (IAM, ModelArts app-auth, DataArts DataService, APIG, ROMA Connect).
#[derive(Parser, Debug)]
#[command(name = "hwcloud-sim", version)]
struct Cli {
    /// Address to listen on (port 0 picks a free port; the real one is printed).
    #[arg(long, env = "HWCLOUD_SIM_LISTEN", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// PEM certificate chain (leaf first) to serve HTTPS with; needs --tls-key.
    #[arg(
        long,
        env = "HWCLOUD_SIM_TLS_CERT",
        value_name = "PATH",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the --tls-cert leaf; needs --tls-cert.
    #[arg(
        long,
        env = "HWCLOUD_SIM_TLS_KEY",
        value_name = "PATH",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// Access key (AK) of the default account.
    #[arg(long, env = "HWCLOUD_SIM_ACCESS_KEY", default_value = DEFAULT_ACCESS_KEY)]
    access_key: String,
    /// Secret key (SK) of the default account.
    #[arg(long, env = "HWCLOUD_SIM_SECRET_KEY", default_value = DEFAULT_SECRET_KEY, hide_default_value = true)]
    secret_key: String,
    /// Security token required with the AK/SK (temporary credentials); none by default.
    #[arg(long, env = "HWCLOUD_SIM_SECURITY_TOKEN", hide_env_values = true)]
    security_token: Option<String>,
    /// Project id owned by the default account.
    #[arg(long, env = "HWCLOUD_SIM_PROJECT_ID", default_value = DEFAULT_PROJECT_ID)]
    project_id: String,
    /// Region (also the project's name for IAM scopes and project discovery).
    #[arg(long, env = "HWCLOUD_SIM_REGION", default_value = DEFAULT_REGION)]
    region: String,
    /// IAM domain (account) name for password tokens.
    #[arg(long, env = "HWCLOUD_SIM_IAM_DOMAIN", default_value = DEFAULT_IAM_DOMAIN)]
    iam_domain: String,
    /// IAM user name for password tokens.
    #[arg(long, env = "HWCLOUD_SIM_IAM_USER", default_value = DEFAULT_IAM_USER)]
    iam_user: String,
    /// IAM password for password tokens.
    #[arg(long, env = "HWCLOUD_SIM_IAM_PASSWORD", default_value = DEFAULT_IAM_PASSWORD, hide_default_value = true, hide_env_values = true)]
    iam_password: String,
    /// Seed of the fault-probability RNG.
    #[arg(long, env = "HWCLOUD_SIM_SEED")]
    seed: Option<u64>,
    /// JSON file with settings, identity providers, Pod Identity, more accounts (a partial
    /// `Config`; its accounts come after the one the flags describe).
    #[arg(long, env = "HWCLOUD_SIM_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The flags' account first, then the file's settings and accounts. `--seed` wins over the
/// file's `seed`.
fn load_config(path: Option<&PathBuf>, first: Account) -> anyhow::Result<Config> {
    let mut config = match path {
        None => Config {
            accounts: Vec::new(),
            ..Config::default()
        },
        Some(path) => {
            let fail = |e: String| anyhow::anyhow!("--config {}: {e}", path.display());
            let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
            // Without "accounts" serde fills in the default account; only the flags' one leads.
            let has_accounts = value.get("accounts").is_some();
            let mut file: Config =
                serde_json::from_value(value).map_err(|e| fail(e.to_string()))?;
            if !has_accounts {
                file.accounts.clear();
            }
            file.validate().map_err(fail)?;
            file
        }
    };
    if config
        .accounts
        .iter()
        .any(|a| a.access_key == first.access_key)
    {
        anyhow::bail!("--config: an account repeats the access key of --access-key");
    }
    config.accounts.insert(0, first);
    Ok(config)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    let first = Account {
        access_key: cli.access_key,
        secret_key: cli.secret_key,
        security_token: cli.security_token.filter(|t| !t.is_empty()),
        project_id: cli.project_id,
        region: cli.region,
        domain: cli.iam_domain,
        user: cli.iam_user,
        password: cli.iam_password,
    };
    let mut config = load_config(cli.config.as_ref(), first)?;
    if let Some(seed) = cli.seed {
        config.seed = seed;
    }
    // clap makes the two flags come together: both or neither.
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some(
            Tls::from_pem_files(cert, key)
                .map_err(|e| anyhow::anyhow!("--tls-cert/--tls-key: {e}"))?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cli.listen).await?;
        let addr = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "hwcloud-sim listening on {scheme}://{addr}")?;
            out.flush()?;
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        hwcloud_sim::serve(listener, config, tls, stop_rx).await;
        anyhow::Ok(())
    })?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
