//! The operator's default account: where its credentials come from (flags, the environment the
//! official SDKs read, files mounted from a Secret, or an identity agent), read again at every
//! use so that a rotated key or a changed Secret needs no restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use futures::channel::mpsc;
use sha2::{Digest, Sha256};

mod args;

pub use args::CredentialArgs;

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
mod tests;
