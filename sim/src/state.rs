//! The simulator's in-memory state: apps, ModelArts APIs, tokens, counts and faults.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::auth::token::Token;
use crate::config::Config;
use crate::faults::Fault;
use crate::federation::store::FederationState;

/// The simulated services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Svc {
    Apig,
    ModelArts,
    DataArts,
    Roma,
    Iam,
    /// CCE Pod Identity's credential endpoint.
    Cce,
    /// The ECS metadata service.
    Metadata,
}

impl Svc {
    pub fn as_str(self) -> &'static str {
        match self {
            Svc::Apig => "apig",
            Svc::ModelArts => "modelarts",
            Svc::DataArts => "dataarts",
            Svc::Roma => "roma",
            Svc::Iam => "iam",
            Svc::Cce => "cce",
            Svc::Metadata => "metadata",
        }
    }

    pub fn parse(s: &str) -> Option<Svc> {
        match s {
            "apig" => Some(Svc::Apig),
            "modelarts" => Some(Svc::ModelArts),
            "dataarts" => Some(Svc::DataArts),
            "roma" => Some(Svc::Roma),
            "iam" => Some(Svc::Iam),
            "cce" => Some(Svc::Cce),
            "metadata" => Some(Svc::Metadata),
            _ => None,
        }
    }
}

/// An AppCode of an app (APIG, ROMA APIC, ModelArts).
#[derive(Clone, Debug)]
pub struct AppCode {
    pub id: String,
    pub code: String,
    pub created: DateTime<Utc>,
}

/// One app, whichever service holds it.
#[derive(Clone, Debug)]
pub struct App {
    pub service: Svc,
    pub project: String,
    /// APIG/ROMA instance id, ModelArts or DataArts workspace id.
    pub instance: String,
    pub id: String,
    pub name: String,
    pub key: String,
    pub secret: String,
    pub remark: String,
    pub app_codes: Vec<AppCode>,
    pub user_id: String,
    pub user_name: String,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// ROMA: favorite flag.
    pub favorite: bool,
    /// DataArts: APP | IAM.
    pub app_type: String,
    /// DataArts: SHARED | EXCLUSIVE.
    pub dlm_type: String,
    /// APIG: optional related ids.
    pub related_domain_id: Option<String>,
    pub related_project_id: Option<String>,
}

/// One app-to-API authorization.
#[derive(Clone, Debug)]
pub struct Binding {
    pub app_id: String,
    pub auth_id: String,
}

/// One ModelArts app-auth API.
#[derive(Clone, Debug)]
pub struct Api {
    pub project: String,
    pub service_id: String,
    pub workspace_id: String,
    pub id: String,
    pub name: String,
    pub remark: String,
    pub method: String,
    pub auth_type: String,
    pub support_app_code: bool,
    pub api_url: String,
    pub api_path: String,
    pub predict_url: String,
    pub user_id: String,
    pub created: DateTime<Utc>,
    pub bindings: Vec<Binding>,
}

/// Everything the simulator holds, behind one mutex.
pub struct State {
    pub config: Config,
    pub apps: Vec<App>,
    pub apis: Vec<Api>,
    pub tokens: HashMap<String, Token>,
    pub counts: BTreeMap<String, u64>,
    pub faults: Vec<Fault>,
    pub next_fault_id: u64,
    /// Seeded RNG for fault probabilities (repeatable runs).
    pub fault_rng: StdRng,
    /// Temporary credentials, JWKS caches, exchange records, the test issuer.
    pub fed: FederationState,
}

impl State {
    pub fn new(config: Config) -> Self {
        let seed = config.seed;
        State {
            config,
            apps: Vec::new(),
            apis: Vec::new(),
            tokens: HashMap::new(),
            counts: BTreeMap::new(),
            faults: Vec::new(),
            next_fault_id: 1,
            fault_rng: StdRng::seed_from_u64(seed),
            fed: FederationState::new(),
        }
    }

    pub fn count(&mut self, service: Svc, op: &str) {
        *self
            .counts
            .entry(format!("{}.{op}", service.as_str()))
            .or_insert(0) += 1;
    }

    /// Clears apps, APIs, faults, counts and the exchange records; keeps accounts, config
    /// (identity providers and Pod Identity included), IAM tokens, temporary credentials and
    /// metadata sessions, so that a client that is running keeps working across a reset.
    pub fn reset(&mut self) {
        self.fed.records.clear();
        self.apps.clear();
        self.apis.clear();
        self.faults.clear();
        self.counts.clear();
        self.fault_rng = StdRng::seed_from_u64(self.config.seed);
    }

    pub fn reseed(&mut self) {
        self.fault_rng = StdRng::seed_from_u64(self.config.seed);
    }

    pub fn app(&self, service: Svc, project: &str, id: &str) -> Option<&App> {
        self.apps
            .iter()
            .find(|a| a.service == service && a.project == project && a.id == id)
    }

    pub fn app_mut(&mut self, service: Svc, project: &str, id: &str) -> Option<&mut App> {
        self.apps
            .iter_mut()
            .find(|a| a.service == service && a.project == project && a.id == id)
    }

    pub fn remove_app(&mut self, service: Svc, project: &str, id: &str) -> Option<App> {
        let pos = self
            .apps
            .iter()
            .position(|a| a.service == service && a.project == project && a.id == id)?;
        Some(self.apps.remove(pos))
    }

    /// Number of ModelArts APIs an app is bound to.
    pub fn bound_api_count(&self, app_id: &str) -> usize {
        self.apis
            .iter()
            .filter(|api| api.bindings.iter().any(|b| b.app_id == app_id))
            .count()
    }

    pub fn snapshot(&self) -> StateSnapshot {
        StateSnapshot {
            apps: self
                .apps
                .iter()
                .map(|a| SimApp {
                    service: a.service.as_str().to_string(),
                    project: a.project.clone(),
                    instance: a.instance.clone(),
                    id: a.id.clone(),
                    name: a.name.clone(),
                    key: a.key.clone(),
                    secret: a.secret.clone(),
                    remark: a.remark.clone(),
                    app_codes: a.app_codes.iter().map(|c| c.code.clone()).collect(),
                    user: a.user_id.clone(),
                    user_name: a.user_name.clone(),
                    dlm_type: (a.service == Svc::DataArts).then(|| a.dlm_type.clone()),
                    created: rfc3339(a.created),
                })
                .collect(),
            apis: self
                .apis
                .iter()
                .map(|api| SimApi {
                    project: api.project.clone(),
                    service_id: api.service_id.clone(),
                    workspace_id: api.workspace_id.clone(),
                    id: api.id.clone(),
                    name: api.name.clone(),
                    remark: api.remark.clone(),
                    auth_type: api.auth_type.clone(),
                    method: api.method.clone(),
                    predict_url: api.predict_url.clone(),
                    bound_app_ids: api.bindings.iter().map(|b| b.app_id.clone()).collect(),
                })
                .collect(),
        }
    }
}

/// `GET /_sim/state`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct StateSnapshot {
    pub apps: Vec<SimApp>,
    pub apis: Vec<SimApi>,
}

/// An app in `GET /_sim/state`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimApp {
    pub service: String,
    pub project: String,
    pub instance: String,
    pub id: String,
    pub name: String,
    pub key: String,
    pub secret: String,
    pub remark: String,
    pub app_codes: Vec<String>,
    pub user: String,
    #[serde(default)]
    pub user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dlm_type: Option<String>,
    #[serde(default)]
    pub created: String,
}

/// A ModelArts API in `GET /_sim/state`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SimApi {
    pub project: String,
    pub service_id: String,
    #[serde(default)]
    pub workspace_id: String,
    pub id: String,
    pub name: String,
    pub remark: String,
    #[serde(default)]
    pub auth_type: String,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub predict_url: String,
    pub bound_app_ids: Vec<String>,
}

// ---- id, secret and time helpers ----

const HEX: &[u8] = b"0123456789abcdef";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// `len` random letters and digits.
pub fn random_alnum(len: usize) -> String {
    random_from(ALNUM, len)
}

/// 32 lowercase hex characters.
pub fn hex32() -> String {
    random_from(HEX, 32)
}

/// A UUID-v4-shaped random id.
pub fn uuid_like() -> String {
    let h = random_from(HEX, 32);
    let variant = ["8", "9", "a", "b"][rand::rng().random_range(0..4)];
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        variant,
        &h[17..20],
        &h[20..32]
    )
}

/// A random AppCode: 64 characters, starting with a letter.
pub fn app_code_value() -> String {
    let first = random_from(&ALNUM[..52], 1);
    format!("{first}{}", random_from(ALNUM, 63))
}

/// An opaque token.
pub fn token_value() -> String {
    format!("MIIsim{}", random_from(ALNUM, 90))
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn rfc3339_nanos(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Masks a secret as the ModelArts list/show do without the plaintext flag.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 6 {
        return "******".to_string();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}******{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_have_expected_shapes() {
        assert_eq!(hex32().len(), 32);
        let u = uuid_like();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
        let code = app_code_value();
        assert_eq!(code.len(), 64);
        assert!(code.as_bytes()[0].is_ascii_alphabetic());
        assert_eq!(mask("c736b99bdc33403ab0652bf91c00e99e"), "c73******99e");
        assert_eq!(mask("short"), "******");
    }
}
