//! Simulator configuration: accounts, strictness settings, and who may exchange tokens for
//! temporary credentials.
//!
//! Everything here can also be changed at run time through `PUT /_sim/config`
//! (see [`Config::apply_patch`]), `POST /_sim/accounts`, `PUT /_sim/identity-providers/{id}`
//! and `PUT /_sim/pod-identity`. The binary reads the same structure from `--config FILE`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::federation::{IdentityProvider, PodIdentity};

/// Default access key of the first account.
pub const DEFAULT_ACCESS_KEY: &str = "HWSIMAK0000000000000";
/// Default secret key of the first account.
pub const DEFAULT_SECRET_KEY: &str = "hwsim-secret-key-0000000000000000000000";
/// Default project id of the first account.
pub const DEFAULT_PROJECT_ID: &str = "0833a5737480d53b2f250010d01a7b88";
/// Default region of the first account.
pub const DEFAULT_REGION: &str = "cn-north-4";
/// Default IAM domain (account name) of the first account.
pub const DEFAULT_IAM_DOMAIN: &str = "hwsim-domain";
/// Default IAM user of the first account.
pub const DEFAULT_IAM_USER: &str = "hwsim-user";
/// Default IAM password of the first account.
pub const DEFAULT_IAM_PASSWORD: &str = "hwsim-password";

/// One cloud account: AK/SK credentials, the IAM user and the single project it owns.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Account {
    pub access_key: String,
    pub secret_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_token: Option<String>,
    pub project_id: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// IAM domain (account name); when added through `/_sim/accounts` and left empty,
    /// `hwsim-domain-<n>`.
    #[serde(default)]
    pub domain: String,
    /// IAM user name; when added through `/_sim/accounts` and left empty, `hwsim-user-<n>`.
    #[serde(default)]
    pub user: String,
    #[serde(default = "default_password")]
    pub password: String,
}

fn default_region() -> String {
    DEFAULT_REGION.to_string()
}
fn default_password() -> String {
    DEFAULT_IAM_PASSWORD.to_string()
}

impl Default for Account {
    fn default() -> Self {
        Account {
            access_key: DEFAULT_ACCESS_KEY.to_string(),
            secret_key: DEFAULT_SECRET_KEY.to_string(),
            security_token: None,
            project_id: DEFAULT_PROJECT_ID.to_string(),
            region: default_region(),
            domain: DEFAULT_IAM_DOMAIN.to_string(),
            user: DEFAULT_IAM_USER.to_string(),
            password: default_password(),
        }
    }
}

fn stable_id(kind: &str, value: &str) -> String {
    let digest = Sha256::digest(format!("{kind}:{value}").as_bytes());
    hex::encode(digest)[..32].to_string()
}

impl Account {
    /// An account with the given keys and project, region `cn-north-4`, password
    /// `hwsim-password`, and domain/user filled in as `hwsim-domain-<n>`/`hwsim-user-<n>`
    /// when it is added to a running simulator.
    pub fn new(access_key: &str, secret_key: &str, project_id: &str) -> Self {
        Account {
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            security_token: None,
            project_id: project_id.to_string(),
            region: default_region(),
            domain: String::new(),
            user: String::new(),
            password: default_password(),
        }
    }

    /// Deterministic IAM user id (32 hex chars) derived from domain and user name.
    pub fn user_id(&self) -> String {
        stable_id("user", &format!("{}/{}", self.domain, self.user))
    }

    /// Deterministic domain (account) id derived from the domain name.
    pub fn domain_id(&self) -> String {
        stable_id("domain", &self.domain)
    }

    /// A public view of the account, without secret key, token or password.
    pub fn public_view(&self) -> Value {
        serde_json::json!({
            "access_key": self.access_key,
            "project_id": self.project_id,
            "region": self.region,
            "domain": self.domain,
            "domain_id": self.domain_id(),
            "user": self.user,
            "user_id": self.user_id(),
            "has_security_token": self.security_token.is_some(),
        })
    }
}

/// Whether app names must be unique, per service.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UniqueNames {
    pub apig: bool,
    pub roma: bool,
    pub dataarts: bool,
    pub modelarts: bool,
}

impl Default for UniqueNames {
    fn default() -> Self {
        UniqueNames {
            apig: true,
            roma: true,
            dataarts: false,
            modelarts: false,
        }
    }
}

/// The simulator's configuration. Every key is optional in JSON (defaults below).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Accounts accepted (AK/SK, IAM password). The first is the default account.
    pub accounts: Vec<Account>,
    /// Name uniqueness per service.
    pub unique_names: UniqueNames,
    /// Maximum ModelArts app-auth apps per IAM user (documented: 5).
    pub modelarts_quota: usize,
    /// Maximum APIG apps per gateway instance.
    pub apig_quota: usize,
    /// `None`: any ModelArts service id is a live service; `Some(ids)`: only these.
    pub modelarts_services: Option<Vec<String>>,
    /// Name of the ModelArts "show AppSecret in plaintext" query flag.
    pub modelarts_plaintext_flag: String,
    /// Lifetime of IAM tokens issued by the simulator.
    pub token_ttl_secs: u64,
    /// Maximum allowed distance of `X-Sdk-Date` from the simulator's clock.
    pub max_clock_skew_secs: u64,
    /// Latency added to every cloud operation (not to `/_sim/*`).
    pub latency_ms: u64,
    /// Seed of the RNG that decides probabilistic faults.
    pub seed: u64,
    /// OIDC identity providers for `POST /v3.0/OS-AUTH/id-token/tokens`.
    pub identity_providers: Vec<IdentityProvider>,
    /// CCE Pod Identity for `POST /cce-pod-identity/v1/credentials`; `None`: not configured.
    pub pod_identity: Option<PodIdentity>,
    /// IAM user name of the account the ECS metadata service's agency acts as; `None`: the
    /// server has no agency.
    pub metadata_agency: Option<String>,
    /// Upper bound of every temporary credential's lifetime (tests use 10-30 s); `None`: the
    /// requested or documented lifetime.
    pub temporary_credential_max_secs: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            accounts: vec![Account::default()],
            unique_names: UniqueNames::default(),
            modelarts_quota: 5,
            apig_quota: 10_000,
            modelarts_services: None,
            modelarts_plaintext_flag: "iphertext_enabled".to_string(),
            token_ttl_secs: 86_400,
            max_clock_skew_secs: 900,
            latency_ms: 0,
            seed: 0x5eed_cafe,
            identity_providers: Vec::new(),
            pod_identity: None,
            metadata_agency: None,
            temporary_credential_max_secs: None,
        }
    }
}

/// Keys that `PUT /_sim/config` accepts.
pub const PATCHABLE_KEYS: &[&str] = &[
    "unique_names",
    "modelarts_quota",
    "apig_quota",
    "modelarts_services",
    "modelarts_plaintext_flag",
    "token_ttl_secs",
    "max_clock_skew_secs",
    "latency_ms",
    "seed",
    "metadata_agency",
    "temporary_credential_max_secs",
];

impl Config {
    /// The settings (everything but the accounts) as JSON.
    pub fn settings_json(&self) -> Value {
        serde_json::json!({
            "unique_names": self.unique_names,
            "modelarts_quota": self.modelarts_quota,
            "apig_quota": self.apig_quota,
            "modelarts_services": self.modelarts_services,
            "modelarts_plaintext_flag": self.modelarts_plaintext_flag,
            "token_ttl_secs": self.token_ttl_secs,
            "max_clock_skew_secs": self.max_clock_skew_secs,
            "latency_ms": self.latency_ms,
            "seed": self.seed,
            "metadata_agency": self.metadata_agency,
            "temporary_credential_max_secs": self.temporary_credential_max_secs,
        })
    }

    /// Checks what a config file may get wrong: provider fields and unique ids, Pod Identity.
    pub fn validate(&self) -> Result<(), String> {
        for (i, p) in self.identity_providers.iter().enumerate() {
            p.validate()
                .map_err(|e| format!("identity_providers[{i}]: {e}"))?;
            if self.identity_providers[..i].iter().any(|q| q.id == p.id) {
                return Err(format!("identity_providers: id {} appears twice", p.id));
            }
        }
        if let Some(pi) = &self.pod_identity {
            pi.validate().map_err(|e| format!("pod_identity: {e}"))?;
        }
        Ok(())
    }

    /// Merges a partial JSON object into the settings. Unknown keys or wrong types are
    /// an error and leave the configuration unchanged.
    pub fn apply_patch(&mut self, patch: &Value) -> Result<(), String> {
        let obj = patch
            .as_object()
            .ok_or_else(|| "config patch must be a JSON object".to_string())?;
        let mut next = self.clone();
        for (key, value) in obj {
            match key.as_str() {
                "unique_names" => {
                    let names = value
                        .as_object()
                        .ok_or("unique_names must be an object of booleans")?;
                    for (svc, flag) in names {
                        let flag = flag
                            .as_bool()
                            .ok_or_else(|| format!("unique_names.{svc} must be a boolean"))?;
                        match svc.as_str() {
                            "apig" => next.unique_names.apig = flag,
                            "roma" => next.unique_names.roma = flag,
                            "dataarts" => next.unique_names.dataarts = flag,
                            "modelarts" => next.unique_names.modelarts = flag,
                            other => {
                                return Err(format!("unknown service in unique_names: {other}"));
                            }
                        }
                    }
                }
                "modelarts_quota" => next.modelarts_quota = as_u64(key, value)? as usize,
                "apig_quota" => next.apig_quota = as_u64(key, value)? as usize,
                "modelarts_services" => {
                    next.modelarts_services = if value.is_null() {
                        None
                    } else {
                        let list = value
                            .as_array()
                            .ok_or("modelarts_services must be null or an array of strings")?;
                        let mut ids = Vec::with_capacity(list.len());
                        for item in list {
                            ids.push(
                                item.as_str()
                                    .ok_or("modelarts_services must contain strings")?
                                    .to_string(),
                            );
                        }
                        Some(ids)
                    }
                }
                "modelarts_plaintext_flag" => {
                    let flag = value
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .ok_or("modelarts_plaintext_flag must be a non-empty string")?;
                    next.modelarts_plaintext_flag = flag.to_string();
                }
                "token_ttl_secs" => next.token_ttl_secs = as_u64(key, value)?,
                "max_clock_skew_secs" => next.max_clock_skew_secs = as_u64(key, value)?,
                "latency_ms" => next.latency_ms = as_u64(key, value)?,
                "seed" => next.seed = as_u64(key, value)?,
                "metadata_agency" => {
                    next.metadata_agency = match value {
                        Value::Null => None,
                        Value::String(s) if !s.is_empty() => Some(s.clone()),
                        _ => {
                            return Err("metadata_agency must be null or a non-empty string".into());
                        }
                    }
                }
                "temporary_credential_max_secs" => {
                    next.temporary_credential_max_secs = match value {
                        Value::Null => None,
                        v => Some(as_u64(key, v)?),
                    }
                }
                other => {
                    return Err(format!(
                        "unknown config key {other}; known keys: {}",
                        PATCHABLE_KEYS.join(", ")
                    ));
                }
            }
        }
        *self = next;
        Ok(())
    }
}

fn as_u64(key: &str, value: &Value) -> Result<u64, String> {
    value
        .as_u64()
        .ok_or_else(|| format!("{key} must be a non-negative integer"))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
