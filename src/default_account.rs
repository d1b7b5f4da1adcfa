//! The operator's default account: where its credentials come from (flags, the environment the
//! official SDKs read, files mounted from a Secret, or an identity agent), read again at every
//! use so that a rotated key or a changed Secret needs no restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use futures::channel::mpsc;
use sha2::{Digest, Sha256};

use crate::cloud::federation::{Source, TokenFile};
use crate::cloud::{Account, Credentials, SecretString};

/// How often the files of `--credentials-dir` are looked at for a change.
pub const FILES_POLL: Duration = Duration::from_secs(5);

/// The files an account directory may hold.
const FILES: [&str; 8] = [
    "accessKey",
    "secretKey",
    "securityToken",
    "iamDomain",
    "iamUser",
    "iamPassword",
    "region",
    "projectId",
];

/// IAM issues temporary credentials for 15 minutes to 24 hours.
const DURATION_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(900)..=Duration::from_secs(86_400);

#[derive(clap::Args, Debug, Clone, Default)]
pub struct CredentialArgs {
    /// Default account's region.
    #[arg(long, env = "HWCLOUD_REGION")]
    pub region: Option<String>,
    /// Default account's project id (looked up from the region for temporary credentials when
    /// not given).
    #[arg(long, env = "HWCLOUD_PROJECT_ID")]
    pub project_id: Option<String>,
    /// Directory with the default account's credentials as files (accessKey, secretKey,
    /// securityToken, iamDomain, iamUser, iamPassword, region, projectId), mounted from a Secret;
    /// read again at each use.
    #[arg(long, env = "APPAUTH_CREDENTIALS_DIR")]
    pub credentials_dir: Option<PathBuf>,
    /// IAM identity provider that federates the operator's ServiceAccount token (keyless).
    #[arg(long, env = "HUAWEICLOUD_SDK_IDP_ID")]
    pub idp_id: Option<String>,
    /// The projected ServiceAccount token exchanged at the identity provider; read again at
    /// each renewal.
    #[arg(long, env = "HUAWEICLOUD_SDK_ID_TOKEN_FILE", value_name = "PATH")]
    pub id_token_file: Option<PathBuf>,
    /// IAM endpoint (the same as --endpoint iam=URL).
    #[arg(long, env = "HUAWEICLOUD_SDK_IAM_ENDPOINT", value_name = "URL")]
    pub iam_endpoint: Option<String>,
    /// Lifetime asked for temporary credentials from an identity provider (15m to 24h).
    #[arg(long, env = "APPAUTH_CREDENTIAL_DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    pub credential_duration: Duration,
    /// Audience of the tokens requested for namespaces' own ServiceAccounts (accountRef
    /// Secrets with serviceAccountName): the identity provider's client id.
    #[arg(
        long,
        env = "APPAUTH_TOKEN_AUDIENCE",
        default_value = "appauth-operator"
    )]
    pub token_audience: String,
    /// CCE Pod Identity: the agent's credentials URI.
    #[arg(long, env = "HC_CONTAINER_CREDENTIALS_FULL_URI", value_name = "URL")]
    pub pod_identity_uri: Option<String>,
    /// CCE Pod Identity: the Pod's token file.
    #[arg(
        long,
        env = "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        value_name = "PATH"
    )]
    pub pod_identity_token_file: Option<PathBuf>,
    /// Use the ECS metadata service's agency credentials when nothing else is configured. Every
    /// Pod on the node gets the same identity this way: not for shared clusters.
    #[arg(long, env = "APPAUTH_INSTANCE_METADATA", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub instance_metadata: bool,
    /// The ECS metadata service.
    #[arg(
        long,
        env = "APPAUTH_INSTANCE_METADATA_URL",
        default_value = "http://169.254.169.254"
    )]
    pub instance_metadata_url: String,
}

impl CredentialArgs {
    /// Settings that cannot work, found at start (the default account itself may change later).
    pub fn check(&self) -> anyhow::Result<()> {
        if !DURATION_RANGE.contains(&self.credential_duration) {
            anyhow::bail!("--credential-duration must be between 15m and 24h");
        }
        match (&self.idp_id, &self.id_token_file) {
            (Some(_), None) => {
                anyhow::bail!("--idp-id needs --id-token-file (HUAWEICLOUD_SDK_ID_TOKEN_FILE)")
            }
            (None, Some(_)) => {
                anyhow::bail!("--id-token-file needs --idp-id (HUAWEICLOUD_SDK_IDP_ID)")
            }
            _ => {}
        }
        match (&self.pod_identity_uri, &self.pod_identity_token_file) {
            (Some(_), None) => anyhow::bail!(
                "--pod-identity-uri needs --pod-identity-token-file (HC_CONTAINER_AUTHORIZATION_TOKEN_FILE)"
            ),
            (None, Some(_)) => anyhow::bail!(
                "--pod-identity-token-file needs --pod-identity-uri (HC_CONTAINER_CREDENTIALS_FULL_URI)"
            ),
            _ => {}
        }
        Ok(())
    }
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The default account, read again at each use (the files of a mounted Secret change when
/// the Secret does).
pub struct DefaultAccount {
    args: CredentialArgs,
    /// What the last read gave, to log a change once.
    last: Mutex<Option<String>>,
}

impl DefaultAccount {
    pub fn new(args: CredentialArgs) -> Arc<Self> {
        Arc::new(Self {
            args,
            last: Mutex::new(None),
        })
    }

    /// The account now, `None` when none is configured; an error names what is wrong.
    pub fn current(&self) -> Result<Option<Account>, String> {
        let dir = self.args.credentials_dir.as_deref().map(snapshot);
        let read = |file: &str, env: &str| {
            dir.as_deref()
                .and_then(|d| nonempty(std::fs::read_to_string(d.join(file)).ok()))
                .or_else(|| nonempty(std::env::var(env).ok()))
        };
        let result = resolve(&self.args, &read);
        let summary = match &result {
            Ok(Some(a)) => format!("{} in {}", a.principal(), a.region),
            Ok(None) => "none".into(),
            Err(e) => format!("invalid: {e}"),
        };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_deref() != Some(summary.as_str()) {
            tracing::info!(default_account = %summary, "default account read");
            *last = Some(summary);
        }
        result
    }

    /// A signal for each of `subscribers` when the files of `--credentials-dir` change (every
    /// object is then checked again, so one that failed on the old files does not wait for its
    /// resync), and the future that looks for changes every `period`.
    pub fn watch(
        self: &Arc<Self>,
        subscribers: usize,
        period: Duration,
    ) -> (
        Vec<mpsc::UnboundedReceiver<()>>,
        impl Future<Output = ()> + Send + 'static,
    ) {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..subscribers).map(|_| mpsc::unbounded()).unzip();
        let dir = self.args.credentials_dir.clone();
        let poll = async move {
            let Some(dir) = dir else {
                return;
            };
            let mut seen = fingerprint(&dir);
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let now = fingerprint(&dir);
                if now != seen {
                    seen = now;
                    tracing::info!(dir = %dir.display(), "the default account's files changed; checking every object again");
                    for s in &senders {
                        let _ = s.unbounded_send(());
                    }
                }
            }
        };
        (receivers, poll)
    }
}

/// Where to read a mounted Secret's files from: the kubelet swaps a Secret volume's contents
/// by pointing `..data` at a new directory, so reading through the resolved link gives every
/// file from one version (never an old access key with a new secret key).
fn snapshot(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir.join("..data")).unwrap_or_else(|_| dir.to_path_buf())
}

/// A digest of the account files' contents (no secret kept).
fn fingerprint(dir: &Path) -> Vec<u8> {
    let dir = snapshot(dir);
    let mut h = Sha256::new();
    for file in FILES {
        h.update(file.as_bytes());
        match std::fs::read(dir.join(file)) {
            Ok(bytes) => {
                h.update([1]);
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
            Err(_) => h.update([0]),
        }
    }
    h.finalize().to_vec()
}

/// Pure but for `read` (a file, else an environment variable): the default account from the
/// first source configured, in this order: an identity provider, keys or an IAM password, CCE
/// Pod Identity, the instance metadata (opt-in).
pub fn resolve(
    args: &CredentialArgs,
    read: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<Option<Account>, String> {
    let region = nonempty(args.region.clone()).or_else(|| read("region", "HWCLOUD_REGION"));
    let project =
        nonempty(args.project_id.clone()).or_else(|| read("projectId", "HWCLOUD_PROJECT_ID"));
    let temporary = |source: Source| Credentials::Temporary { source };
    let credentials = if let (Some(idp_id), Some(file)) = (&args.idp_id, &args.id_token_file) {
        temporary(Source::IdToken {
            idp_id: idp_id.clone(),
            token: Arc::new(TokenFile(file.clone())),
            duration: args.credential_duration,
        })
    } else if let Some(access_key) = read("accessKey", "HWCLOUD_ACCESS_KEY") {
        Credentials::AkSk {
            access_key,
            secret_key: SecretString::from(read("secretKey", "HWCLOUD_SECRET_KEY").ok_or(
                "HWCLOUD_SECRET_KEY (or the secretKey file) is required with an access key",
            )?),
            security_token: read("securityToken", "HWCLOUD_SECURITY_TOKEN").map(SecretString::from),
        }
    } else if let Some(user) = read("iamUser", "HWCLOUD_IAM_USER") {
        Credentials::Password {
            domain: read("iamDomain", "HWCLOUD_IAM_DOMAIN")
                .ok_or("HWCLOUD_IAM_DOMAIN (or the iamDomain file) is required with an IAM user")?,
            user,
            password: SecretString::from(read("iamPassword", "HWCLOUD_IAM_PASSWORD").ok_or(
                "HWCLOUD_IAM_PASSWORD (or the iamPassword file) is required with an IAM user",
            )?),
        }
    } else if let (Some(uri), Some(token_file)) =
        (&args.pod_identity_uri, &args.pod_identity_token_file)
    {
        temporary(Source::PodIdentity {
            uri: uri.clone(),
            token_file: token_file.clone(),
        })
    } else if args.instance_metadata {
        temporary(Source::InstanceMetadata {
            url: args.instance_metadata_url.clone(),
        })
    } else {
        return Ok(None);
    };
    let region = region.ok_or("--region (HWCLOUD_REGION) is required with a default account")?;
    if !crate::cloud::endpoints::valid_region(&region) {
        return Err("--region must match ^[a-z]+(-[a-z0-9]+)+$".into());
    }
    let project_id = match (project, &credentials) {
        (Some(p), _) => p,
        // Looked up from the region at first use.
        (None, Credentials::Temporary { .. }) => String::new(),
        (None, _) => {
            return Err(
                "--project-id (HWCLOUD_PROJECT_ID) is required with keys or an IAM password".into(),
            );
        }
    };
    Ok(Some(Account {
        region,
        project_id,
        credentials,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn args() -> CredentialArgs {
        CredentialArgs {
            credential_duration: Duration::from_secs(3600),
            instance_metadata_url: "http://169.254.169.254".into(),
            token_audience: "appauth-operator".into(),
            ..CredentialArgs::default()
        }
    }

    fn kind(account: &Result<Option<Account>, String>) -> String {
        match account {
            Ok(None) => "none".into(),
            Ok(Some(a)) => match &a.credentials {
                Credentials::AkSk { .. } => format!("aksk project={}", a.project_id),
                Credentials::Password { .. } => format!("password project={}", a.project_id),
                Credentials::Temporary { source } => {
                    format!("{} project={}", source.describe(), a.project_id)
                }
            },
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn the_first_source_configured_wins() {
        let federated = CredentialArgs {
            idp_id: Some("k8s".into()),
            id_token_file: Some("/var/run/token".into()),
            ..args()
        };
        let pod = CredentialArgs {
            pod_identity_uri: Some("http://agent/credentials".into()),
            pod_identity_token_file: Some("/var/run/pod-token".into()),
            ..args()
        };
        let metadata = CredentialArgs {
            instance_metadata: true,
            ..args()
        };
        let keys: &[(&str, &str)] = &[("HWCLOUD_ACCESS_KEY", "AK"), ("HWCLOUD_SECRET_KEY", "SK")];
        let region: &[(&str, &str)] = &[("HWCLOUD_REGION", "cn-north-4")];
        let project: &[(&str, &str)] = &[("HWCLOUD_PROJECT_ID", "p1")];
        type Case<'a> = (&'a str, CredentialArgs, Vec<(&'a str, &'a str)>, &'a str);
        let cases: Vec<Case> = vec![
            ("nothing", args(), vec![], "none"),
            (
                "keys",
                args(),
                [keys, region, project].concat(),
                "aksk project=p1",
            ),
            (
                "keys without a project",
                args(),
                [keys, region].concat(),
                "error: --project-id (HWCLOUD_PROJECT_ID) is required with keys or an IAM password",
            ),
            (
                "federation wins over keys; the project is looked up",
                federated.clone(),
                [keys, region].concat(),
                "identity provider k8s (token file /var/run/token) project=",
            ),
            (
                "keys win over Pod Identity",
                pod.clone(),
                [keys, region, project].concat(),
                "aksk project=p1",
            ),
            (
                "Pod Identity",
                pod,
                region.to_vec(),
                "Pod Identity at http://agent/credentials project=",
            ),
            (
                "metadata only when asked",
                metadata,
                [region, project].concat(),
                "instance metadata at http://169.254.169.254 project=p1",
            ),
            (
                "no region",
                federated,
                vec![],
                "error: --region (HWCLOUD_REGION) is required with a default account",
            ),
        ];
        for (name, args, env, want) in cases {
            let env: HashMap<&str, &str> = env.into_iter().collect();
            let read = |_: &str, var: &str| env.get(var).map(|v| v.to_string());
            assert_eq!(kind(&resolve(&args, &read)), want, "{name}");
        }
    }

    #[test]
    fn files_are_read_again_at_each_use() {
        let dir = std::env::temp_dir().join(format!("appauth-default-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for (file, value) in [
            ("accessKey", "AK1"),
            ("secretKey", "SK1"),
            ("region", "cn-north-4"),
            ("projectId", "p1"),
        ] {
            std::fs::write(dir.join(file), value).expect("write");
        }
        let account = DefaultAccount::new(CredentialArgs {
            credentials_dir: Some(dir.clone()),
            ..args()
        });
        let principal =
            |a: &DefaultAccount| a.current().expect("valid").expect("configured").principal();
        assert_eq!(principal(&account), "ak:AK1");
        std::fs::write(dir.join("accessKey"), "AK2").expect("write");
        assert_eq!(principal(&account), "ak:AK2");
        std::fs::remove_file(dir.join("secretKey")).expect("rm");
        let e = account.current().expect_err("no secret key");
        assert!(e.contains("secretKey"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_changed_file_signals_every_subscriber() {
        let dir = std::env::temp_dir().join(format!("appauth-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("accessKey"), "AK1").expect("write");
        let account = DefaultAccount::new(CredentialArgs {
            credentials_dir: Some(dir.clone()),
            ..args()
        });
        let (mut signals, poll) = account.watch(2, Duration::from_millis(20));
        let poll = tokio::spawn(poll);
        use futures::StreamExt;
        // Nothing changed: no signal within several polls.
        let quiet = tokio::time::timeout(Duration::from_millis(200), signals[0].next()).await;
        assert!(quiet.is_err(), "no change, no signal");
        std::fs::write(dir.join("accessKey"), "AK2").expect("write");
        for s in signals.iter_mut() {
            let got = tokio::time::timeout(Duration::from_secs(5), s.next()).await;
            assert!(matches!(got, Ok(Some(()))), "signalled");
        }
        poll.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_mounted_secret_is_read_through_its_current_version() {
        let dir = std::env::temp_dir().join(format!("appauth-snapshot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let version = dir.join("..2026_12_03_21_00_00.1");
        std::fs::create_dir_all(&version).expect("dir");
        std::fs::write(version.join("accessKey"), "AK-v1").expect("write");
        std::os::unix::fs::symlink("..2026_12_03_21_00_00.1", dir.join("..data")).expect("link");
        std::os::unix::fs::symlink("..data/accessKey", dir.join("accessKey")).expect("link");
        assert_eq!(
            snapshot(&dir),
            std::fs::canonicalize(&version).expect("path")
        );
        assert_eq!(
            std::fs::read_to_string(snapshot(&dir).join("accessKey")).expect("read"),
            "AK-v1"
        );
        // A plain directory is read as it is.
        let plain = dir.join("plain");
        std::fs::create_dir_all(&plain).expect("dir");
        assert_eq!(snapshot(&plain), plain);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
