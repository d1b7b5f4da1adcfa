//! Time-bounded fuzzing of everything the operator parses from the cloud, and of the signer.
//!
//! Targets: error bodies and their classification, each service's app and list answers (down
//! to the operator's `CloudApp`), IAM token answers, and the AK/SK signer's canonical forms.
//! Every target runs proptest's `TestRunner` until a deadline: `APPAUTH_FUZZ_SECS` seconds per
//! target (default 3), from the seed in `APPAUTH_FUZZ_SEED` when set (printed either way, so
//! that a failure reproduces). A failure fails the test with proptest's minimal input.
//!
//! Answers reach the real client over HTTP, from an in-process fake (one per target) that
//! answers with the case's status, headers and body: what is fuzzed is the path production
//! uses (`call_json`, the error-body parser, the `Target` conversions), not a copy of it.
//! Secret fields carry a `SEKRET-` marker that must never reach an error's text or a `Debug`.
//! The tests in `properties.rs` cover the simpler signer and parser properties.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use appauth_operator::api::DlmType;
use appauth_operator::backend::{CloudApp, Target};
use appauth_operator::cloud::apig::{ApigApp, AppCode, AppInput, ListFilter};
use appauth_operator::cloud::dataarts::DataArtsApp;
use appauth_operator::cloud::error::UNCONFIRMED_DEFAULTS;
use appauth_operator::cloud::iam::TokenCache;
use appauth_operator::cloud::modelarts::{ApiInput, AuthResult, InferenceApiInfo, ModelArtsApp};
use appauth_operator::cloud::ratelimit::Rate;
use appauth_operator::cloud::roma::{RomaApp, RomaInput};
use appauth_operator::cloud::signer::{
    DATE_FORMAT, HEADER_CONTENT_SHA256, HEADER_DATE, SigningRequest, canonical_query,
    canonical_request, canonical_uri, prepare_headers, sign, signed_header_names, url_encode,
};
use appauth_operator::cloud::{
    Account, Cloud, CloudClient, CloudConfig, CloudError, Credentials, ErrorCategory, ErrorCodes,
    ExposeSecret, SecretString, Service,
};
use futures::future::BoxFuture;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{
    Config, RngAlgorithm, TestCaseError, TestCaseResult, TestError, TestRng, TestRunner,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// The time-bounded runner.

/// Prefix of every secret the fake puts in an answer. Nothing else generates it.
const MARK: &str = "SEKRET-";
/// The name `find_by_name` looks for; generated app names are often exactly this.
const NAME: &str = "fuzz-app";

fn fuzz_secs() -> f64 {
    match std::env::var("APPAUTH_FUZZ_SECS") {
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or_else(|| panic!("APPAUTH_FUZZ_SECS={v:?}: expected a number of seconds")),
        Err(_) => 3.0,
    }
}

fn fuzz_seed() -> u64 {
    match std::env::var("APPAUTH_FUZZ_SEED") {
        Ok(v) => {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            }
            .unwrap_or_else(|_| panic!("APPAUTH_FUZZ_SEED={v:?}: expected a u64"))
        }
        Err(_) => rand::random(),
    }
}

/// Runs `test` on values of `strategy` until the deadline; panics with the minimal failing
/// input. Each target derives its own ChaCha seed from the run's seed and its name.
fn fuzz<S>(target: &str, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let seed = fuzz_seed();
    let secs = fuzz_secs();
    println!("fuzz {target}: seed {seed} (APPAUTH_FUZZ_SEED={seed} replays this target)");
    let key: [u8; 32] = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(target.as_bytes())
        .finalize()
        .into();
    let config = Config {
        failure_persistence: None,
        fork: false,
        timeout: 0,
        max_shrink_time: 120_000,
        max_shrink_iters: 50_000,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut cases = 0u64;
    loop {
        let tree = strategy
            .new_tree(&mut runner)
            .unwrap_or_else(|e| panic!("fuzz {target}: cannot generate a case: {e}"));
        match runner.run_one(tree, &test) {
            Ok(_) => cases += 1,
            Err(TestError::Fail(reason, minimal)) => panic!(
                "fuzz {target}: case {} failed (APPAUTH_FUZZ_SEED={seed}): {reason}\n\
                 minimal failing input: {minimal:#?}",
                cases + 1
            ),
            Err(TestError::Abort(reason)) => panic!("fuzz {target}: aborted: {reason}"),
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    println!(
        "fuzz {target}: {cases} cases in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

fn fail<T>(why: impl Into<String>) -> Result<T, TestCaseError> {
    Err(TestCaseError::fail(why.into()))
}

// ---------------------------------------------------------------------------------------------
// The fake cloud: answers every request with the scripted reply for the first route whose
// fragment the path contains, and records what it was asked.

/// A response body and how it was made. `exact` is the JSON value the bytes serialise, when
/// they do: then the schema oracle is exact in both directions.
#[derive(Clone)]
struct Payload {
    kind: &'static str,
    exact: Option<Value>,
    bytes: Vec<u8>,
}

impl Payload {
    fn json(kind: &'static str, value: Value) -> Self {
        let bytes = serde_json::to_vec(&value).expect("a Value serialises");
        Payload {
            kind,
            exact: Some(value),
            bytes,
        }
    }

    fn raw(kind: &'static str, bytes: Vec<u8>) -> Self {
        Payload {
            kind,
            exact: None,
            bytes,
        }
    }
}

impl Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Payload");
        d.field("kind", &self.kind);
        match std::str::from_utf8(&self.bytes) {
            Ok(text) => d.field("text", &text),
            Err(_) => d.field("bytes_hex", &hex::encode(&self.bytes)),
        };
        d.finish()
    }
}

#[derive(Clone, Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    payload: Payload,
}

impl Reply {
    fn new(status: u16, payload: Payload) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            payload,
        }
    }
}

#[derive(Clone, Debug)]
struct Seen {
    path: String,
    body: Vec<u8>,
}

#[derive(Default)]
struct Script {
    routes: Vec<(&'static str, Reply)>,
    seen: Vec<Seen>,
}

struct Fake {
    rt: tokio::runtime::Runtime,
    url: String,
    script: Arc<Mutex<Script>>,
}

async fn answer(
    axum::extract::State(script): axum::extract::State<Arc<Mutex<Script>>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::{HeaderName, HeaderValue, StatusCode};
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let reply = {
        let mut script = script.lock().unwrap_or_else(|e| e.into_inner());
        script.seen.push(Seen {
            path: path.clone(),
            body,
        });
        script
            .routes
            .iter()
            .find(|(fragment, _)| path.contains(fragment))
            .map(|(_, r)| r.clone())
    };
    let Some(reply) = reply else {
        let mut resp = axum::response::Response::new(axum::body::Body::from("no route"));
        *resp.status_mut() = StatusCode::IM_A_TEAPOT;
        return resp;
    };
    let mut resp = axum::response::Response::new(axum::body::Body::from(reply.payload.bytes));
    *resp.status_mut() = StatusCode::from_u16(reply.status).expect("a valid status");
    for (k, v) in &reply.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_bytes(v),
        ) {
            resp.headers_mut().append(k, v);
        }
    }
    resp
}

impl Fake {
    fn start() -> Fake {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let script = Arc::new(Mutex::new(Script::default()));
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        rt.spawn(async move { axum::serve(listener, app).await.expect("fake serves") });
        Fake { rt, url, script }
    }

    fn script(&self, routes: Vec<(&'static str, Reply)>) {
        let mut script = self.script.lock().unwrap_or_else(|e| e.into_inner());
        script.routes = routes;
        script.seen.clear();
    }

    fn seen(&self) -> Vec<Seen> {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .clone()
    }

    fn run<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// A client of every service at the fake: one attempt per call, no rate limit to speak of.
    fn client(&self) -> CloudClient {
        let mut config = CloudConfig {
            max_attempts: 1,
            ..CloudConfig::default()
        };
        let fast = NonZeroU32::new(1_000_000).expect("non-zero");
        for service in Service::ALL {
            config
                .endpoints
                .add_override(&format!("{service}={}", self.url))
                .expect("loopback override");
            config.rates.insert(service, Rate::new(fast, fast));
        }
        Cloud::new(config, None).expect("cloud").client(&Account {
            region: "cn-north-4".into(),
            project_id: "proj".into(),
            credentials: Credentials::AkSk {
                access_key: "AK".into(),
                secret_key: SecretString::from("the-signing-key"),
                security_token: None,
            },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Schemas of the answers (field order = declaration order: serde also accepts a struct as a
// JSON array of its fields) and an oracle that says what serde must make of a JSON value.

#[derive(Clone, Copy, Debug)]
enum Ty {
    Str,
    /// A string, often `NAME`.
    Name,
    /// A string that is a secret: generated as `SEKRET-…`, sometimes masked with `*`.
    Secret,
    /// A string, often an RFC 3339 time.
    Time,
    /// A string, often a known error code.
    Code,
    I64,
    Bool,
    Opt(&'static Ty),
    List(&'static Ty),
    Obj(&'static [Field]),
}

#[derive(Clone, Copy, Debug)]
struct Field {
    name: &'static str,
    ty: Ty,
    /// `#[serde(default)]`: may be missing.
    default: bool,
}

const fn req(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        default: false,
    }
}

const fn opt(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        default: true,
    }
}

const OS: Ty = Ty::Opt(&Ty::Str);
const OI: Ty = Ty::Opt(&Ty::I64);
const OB: Ty = Ty::Opt(&Ty::Bool);
const OSECRET: Ty = Ty::Opt(&Ty::Secret);

static APIG_APP_F: [Field; 8] = [
    req("id", Ty::Str),
    req("name", Ty::Name),
    opt("remark", OS),
    opt("app_key", OS),
    opt("app_secret", OSECRET),
    opt("status", OI),
    opt("creator", OS),
    opt("bind_num", OI),
];
static APIG_APP: Ty = Ty::Obj(&APIG_APP_F);
static APIG_APP_LIST_F: [Field; 3] = [
    opt("total", Ty::I64),
    opt("size", Ty::I64),
    opt("apps", Ty::List(&APIG_APP)),
];
static APIG_APP_LIST: Ty = Ty::Obj(&APIG_APP_LIST_F);
static APP_CODE_F: [Field; 3] = [
    req("id", Ty::Str),
    req("app_code", Ty::Secret),
    opt("app_id", OS),
];
static APP_CODE: Ty = Ty::Obj(&APP_CODE_F);
static APP_CODE_LIST_F: [Field; 2] = [opt("total", Ty::I64), opt("app_codes", Ty::List(&APP_CODE))];
static APP_CODE_LIST: Ty = Ty::Obj(&APP_CODE_LIST_F);

static MA_APP_F: [Field; 7] = [
    req("app_id", Ty::Str),
    req("app_name", Ty::Name),
    opt("app_key", OS),
    opt("app_secret", OSECRET),
    opt("app_remark", OS),
    opt("app_codes", Ty::List(&Ty::Secret)),
    opt("bounded_api_count", OI),
];
static MA_APP: Ty = Ty::Obj(&MA_APP_F);
static MA_APP_BODY_F: [Field; 1] = [req("app", MA_APP)];
static MA_APP_BODY: Ty = Ty::Obj(&MA_APP_BODY_F);
static MA_APP_LIST_F: [Field; 2] = [opt("apps", Ty::List(&MA_APP)), opt("total_count", OI)];
static MA_APP_LIST: Ty = Ty::Obj(&MA_APP_LIST_F);
static MA_API_F: [Field; 8] = [
    req("api_id", Ty::Str),
    opt("api_name", OS),
    opt("api_method", OS),
    opt("api_remark", OS),
    opt("auth_type", OS),
    opt("predict_url", OS),
    opt("service_id", OS),
    opt("support_app_code", OB),
];
static MA_API: Ty = Ty::Obj(&MA_API_F);
static MA_API_BODY_F: [Field; 1] = [req("api", MA_API)];
static MA_API_BODY: Ty = Ty::Obj(&MA_API_BODY_F);
static MA_API_LIST_F: [Field; 1] = [opt("apis", Ty::List(&MA_API))];
static MA_API_LIST: Ty = Ty::Obj(&MA_API_LIST_F);
static AUTH_RESULT_F: [Field; 5] = [
    opt("api_id", OS),
    req("app_id", Ty::Str),
    opt("auth_id", OS),
    opt("reason", OS),
    opt("success", Ty::Bool),
];
static AUTH_RESULT: Ty = Ty::Obj(&AUTH_RESULT_F);
static MA_BIND_F: [Field; 1] = [opt("auth_result", Ty::List(&AUTH_RESULT))];
static MA_BIND: Ty = Ty::Obj(&MA_BIND_F);
static MA_UNBIND_F: [Field; 1] = [opt("unauth_result", Ty::List(&AUTH_RESULT))];
static MA_UNBIND: Ty = Ty::Obj(&MA_UNBIND_F);
static MA_BINDINGS_F: [Field; 1] = [opt("auths", Ty::List(&MA_APP))];
static MA_BINDINGS: Ty = Ty::Obj(&MA_BINDINGS_F);
static MA_EXISTS_F: [Field; 1] = [req("exists", Ty::Bool)];
static MA_EXISTS: Ty = Ty::Obj(&MA_EXISTS_F);

static DA_APP_F: [Field; 6] = [
    req("id", Ty::Str),
    req("name", Ty::Name),
    opt("description", OS),
    opt("app_key", OS),
    opt("app_secret", OSECRET),
    opt("app_type", OS),
];
static DA_APP: Ty = Ty::Obj(&DA_APP_F);
static DA_APP_LIST_F: [Field; 2] = [opt("total", Ty::I64), opt("apps", Ty::List(&DA_APP))];
static DA_APP_LIST: Ty = Ty::Obj(&DA_APP_LIST_F);

static ROMA_APP_F: [Field; 6] = [
    req("id", Ty::Str),
    req("name", Ty::Name),
    opt("remark", OS),
    opt("key", OS),
    opt("favorite", OB),
    opt("owner", OB),
];
static ROMA_APP: Ty = Ty::Obj(&ROMA_APP_F);
static ROMA_BRIEF_F: [Field; 3] = [req("id", Ty::Str), req("name", Ty::Name), opt("remark", OS)];
static ROMA_BRIEF: Ty = Ty::Obj(&ROMA_BRIEF_F);
static ROMA_APP_LIST_F: [Field; 2] = [opt("total", Ty::I64), opt("apps", Ty::List(&ROMA_APP))];
static ROMA_APP_LIST: Ty = Ty::Obj(&ROMA_APP_LIST_F);
static ROMA_SECRET_F: [Field; 1] = [req("secret", Ty::Secret)];
static ROMA_SECRET: Ty = Ty::Obj(&ROMA_SECRET_F);

static TOKEN_INFO_F: [Field; 2] = [
    req("expires_at", Ty::Time),
    opt("issued_at", Ty::Opt(&Ty::Time)),
];
static TOKEN_BODY_F: [Field; 1] = [req("token", Ty::Obj(&TOKEN_INFO_F))];
static TOKEN_BODY: Ty = Ty::Obj(&TOKEN_BODY_F);

static ERROR_BODY_F: [Field; 2] = [opt("error_code", Ty::Opt(&Ty::Code)), opt("error_msg", OS)];
static ERROR_BODY: Ty = Ty::Obj(&ERROR_BODY_F);

/// Every field name above, so that arbitrary JSON often hits a real field.
const FIELD_NAMES: &[&str] = &[
    "id",
    "name",
    "remark",
    "app_key",
    "app_secret",
    "status",
    "creator",
    "bind_num",
    "total",
    "size",
    "apps",
    "app_code",
    "app_codes",
    "app_id",
    "app_name",
    "app_remark",
    "bounded_api_count",
    "app",
    "total_count",
    "api",
    "apis",
    "api_id",
    "api_name",
    "support_app_code",
    "auth_result",
    "unauth_result",
    "auths",
    "success",
    "exists",
    "description",
    "key",
    "favorite",
    "owner",
    "secret",
    "token",
    "expires_at",
    "issued_at",
    "error_code",
    "error_msg",
];

/// Codes the classifier knows (confirmed first), plus near misses.
const CONFIRMED: &[(&str, ErrorCategory)] = &[
    ("APIG.3004", ErrorCategory::NotFound),
    ("APIG.3002", ErrorCategory::NotFound),
    ("APIG.3082", ErrorCategory::NotFound),
    ("APIG.3203", ErrorCategory::AlreadyExists),
    ("APIG.3310", ErrorCategory::AlreadyExists),
    ("APIG.3103", ErrorCategory::QuotaExceeded),
    ("APIG.3131", ErrorCategory::QuotaExceeded),
    ("APIG.2011", ErrorCategory::InvalidInput),
    ("APIG.2012", ErrorCategory::InvalidInput),
    ("APIG.1000", ErrorCategory::Unauthorized),
    ("APIG.1001", ErrorCategory::Unauthorized),
    ("APIG.1002", ErrorCategory::Unauthorized),
    ("APIG.0301", ErrorCategory::Unauthorized),
    ("APIG.0303", ErrorCategory::Unauthorized),
    ("APIG.1005", ErrorCategory::Forbidden),
    ("APIG.1104", ErrorCategory::Forbidden),
    ("APIG.9999", ErrorCategory::Transient),
    ("DLM.4063", ErrorCategory::NotFound),
];

fn known_codes() -> Vec<String> {
    let mut codes: Vec<String> = CONFIRMED
        .iter()
        .map(|(c, _)| c.to_string())
        .chain(UNCONFIRMED_DEFAULTS.iter().map(|(c, _)| c.to_string()))
        .collect();
    codes.extend(
        [
            "apig.3004",
            "APIG.3004 ",
            " DLM.4063",
            "APIG.30040",
            "APIG.",
            "ROMA.404",
            "",
        ]
        .map(String::from),
    );
    codes
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn default_of(ty: &Ty) -> Value {
    match ty {
        Ty::I64 => json!(0),
        Ty::Bool => json!(false),
        Ty::List(_) => json!([]),
        _ => Value::Null,
    }
}

/// What serde must make of `v` as `ty`: the value with every schema field present (defaults
/// filled in) and nothing else, or why it must be rejected.
fn conform(ty: &Ty, v: &Value) -> Result<Value, String> {
    match (ty, v) {
        (Ty::Str | Ty::Name | Ty::Secret | Ty::Time | Ty::Code, Value::String(_)) => Ok(v.clone()),
        (Ty::I64, Value::Number(n)) if n.as_i64().is_some() => Ok(v.clone()),
        (Ty::Bool, Value::Bool(_)) => Ok(v.clone()),
        (Ty::Opt(_), Value::Null) => Ok(Value::Null),
        (Ty::Opt(inner), _) => conform(inner, v),
        (Ty::List(inner), Value::Array(items)) => items
            .iter()
            .map(|i| conform(inner, i))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (Ty::Obj(fields), Value::Object(members)) => {
            let mut out = serde_json::Map::new();
            for f in fields.iter() {
                let value = match members.get(f.name) {
                    Some(m) => conform(&f.ty, m).map_err(|e| format!("{}: {e}", f.name))?,
                    None if f.default => default_of(&f.ty),
                    None => return Err(format!("missing {}", f.name)),
                };
                out.insert(f.name.to_string(), value);
            }
            Ok(Value::Object(out))
        }
        (Ty::Obj(fields), Value::Array(items)) => {
            if items.len() > fields.len() {
                return Err("too many elements".into());
            }
            let mut out = serde_json::Map::new();
            for (i, f) in fields.iter().enumerate() {
                let value = match items.get(i) {
                    Some(m) => conform(&f.ty, m).map_err(|e| format!("[{i}]: {e}"))?,
                    None if f.default => default_of(&f.ty),
                    None => return Err(format!("missing element {i}")),
                };
                out.insert(f.name.to_string(), value);
            }
            Ok(Value::Object(out))
        }
        (ty, v) => Err(format!("{v} is not {ty:?}")),
    }
}

/// The oracle's verdict on a payload: `(exact, verdict)`, or `None` when there is no JSON
/// value to judge (or one too deep for serde's recursion limit).
fn oracle(ty: &Ty, payload: &Payload) -> Option<(bool, Result<Value, String>)> {
    match &payload.exact {
        Some(v) => (depth(v) <= 100).then(|| (true, conform(ty, v))),
        None => serde_json::from_slice::<Value>(&payload.bytes)
            .ok()
            .filter(|v| depth(v) <= 100)
            .map(|v| (false, conform(ty, &v))),
    }
}

// ---------------------------------------------------------------------------------------------
// Generators: arbitrary bytes, arbitrary JSON, and valid answers with mutated fields.

/// A regex strategy compiled once (a `&str` strategy compiles its regex for every case).
fn re(pattern: &str) -> BoxedStrategy<String> {
    thread_local! {
        static COMPILED: std::cell::RefCell<HashMap<String, BoxedStrategy<String>>> =
            std::cell::RefCell::new(HashMap::new());
    }
    COMPILED.with(|c| {
        c.borrow_mut()
            .entry(pattern.to_string())
            .or_insert_with(|| {
                proptest::string::string_regex(pattern)
                    .unwrap_or_else(|e| panic!("{pattern}: {e}"))
                    .boxed()
            })
            .clone()
    })
}

const ODD: &[&str] = &[
    "",
    " ",
    "null",
    "true",
    "0",
    "-1",
    "\"",
    "\\",
    "\\u0000",
    "\u{0}",
    "\u{7f}",
    "\u{85}",
    "\u{feff}",
    "\u{202e}",
    "\u{fffd}",
    "%00",
    "%zz",
    "%2F",
    ".",
    "..",
    "../..",
    "*",
    "***",
    "APIG.3004",
    "DLM.4063",
    "ROMA.00100404",
    "{}",
    "[]",
    NAME,
    "FUZZ-APP",
    "fuzz-app ",
];

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        6 => re("[a-zA-Z0-9_.-]{0,12}"),
        3 => re("\\PC{0,16}"),
        2 => vec(any::<char>(), 0..16).prop_map(String::from_iter),
        2 => select(ODD).prop_map(String::from),
        1 => (select(&['a', 'é', '中', '𝕊', ' ', '\u{0}', '"', '\\', '*'][..]), 200usize..70_000)
            .prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
    .boxed()
}

fn secret() -> BoxedStrategy<String> {
    prop_oneof![
        3 => re("[A-Za-z0-9]{8,16}"),
        1 => re("[A-Za-z0-9]{2}\\*{3,8}[A-Za-z0-9]{2}"),
    ]
    .prop_map(|s| format!("{MARK}{s}"))
    .boxed()
}

fn time_text() -> BoxedStrategy<String> {
    use chrono::{FixedOffset, SecondsFormat};
    let now = chrono::Utc::now().timestamp();
    let stamp = prop_oneof![
        3 => (-3 * 86_400i64..3 * 86_400).prop_map(move |d| now + d),
        1 => 0i64..4_102_444_800,
    ];
    prop_oneof![
        4 => (stamp, 0u32..1_000_000_000, -14 * 60i32..=14 * 60, any::<bool>(), any::<bool>())
            .prop_map(|(secs, nanos, offset_min, z, fraction)| {
                let t = chrono::DateTime::from_timestamp(secs, if fraction { nanos } else { 0 })
                    .expect("in range");
                let offset = FixedOffset::east_opt(offset_min * 60).expect("in range");
                t.with_timezone(&offset).to_rfc3339_opts(SecondsFormat::AutoSi, z)
            }),
        1 => select(&["2020-13-45T25:61:61Z", "2024-02-30T00:00:00Z", "2024-01-01", "2024-01-01T00:00:00", "9999-12-31T23:59:60Z", "+20000-01-01T00:00:00Z"][..]).prop_map(String::from),
        1 => text(),
    ]
    .boxed()
}

fn int() -> BoxedStrategy<i64> {
    prop_oneof![
        3 => -3i64..30,
        1 => any::<i64>(),
        1 => select(&[i64::MIN, i64::MAX, 0][..]),
    ]
    .boxed()
}

fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        int().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![3 => select(FIELD_NAMES).prop_map(String::from), 1 => text()].boxed()
}

/// A value of the wrong type (or an odd one of the right type) for any field. No secrets.
fn wrong() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => any_json(),
        1 => select(vec![
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.5),
            json!(-0.0),
            json!(1e300),
            json!(""),
            json!({}),
            json!([]),
            json!("true"),
            json!("12"),
            json!([null]),
        ]),
    ]
    .boxed()
}

/// A valid value of `ty`; objects sometimes in serde's positional (array) form.
fn valid(ty: &'static Ty) -> BoxedStrategy<Value> {
    match ty {
        Ty::Str => text().prop_map(Value::String).boxed(),
        Ty::Name => prop_oneof![2 => Just(NAME.to_string()), 1 => text()]
            .prop_map(Value::String)
            .boxed(),
        Ty::Secret => secret().prop_map(Value::String).boxed(),
        Ty::Time => time_text().prop_map(Value::String).boxed(),
        Ty::Code => prop_oneof![2 => select(known_codes()), 1 => text()]
            .prop_map(Value::String)
            .boxed(),
        Ty::I64 => int().prop_map(Value::from).boxed(),
        Ty::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Ty::Opt(inner) => prop_oneof![1 => Just(Value::Null), 3 => valid(inner)].boxed(),
        Ty::List(inner) => vec(valid(inner), 0..4).prop_map(Value::Array).boxed(),
        Ty::Obj(fields) => {
            let members: Vec<BoxedStrategy<Option<Value>>> = fields
                .iter()
                .map(|f| {
                    if f.default {
                        prop_oneof![1 => Just(None), 4 => valid(&f.ty).prop_map(Some)].boxed()
                    } else {
                        valid(&f.ty).prop_map(Some).boxed()
                    }
                })
                .collect();
            (members, any::<u8>())
                .prop_map(move |(values, form)| {
                    if form < 20 {
                        let required = fields.iter().rposition(|f| !f.default).map_or(0, |i| i + 1);
                        let keep = required + form as usize % (fields.len() - required + 1);
                        Value::Array(
                            fields
                                .iter()
                                .zip(values)
                                .take(keep)
                                .map(|(f, v)| v.unwrap_or_else(|| default_of(&f.ty)))
                                .collect(),
                        )
                    } else {
                        Value::Object(
                            fields
                                .iter()
                                .zip(values)
                                .filter_map(|(f, v)| v.map(|v| (f.name.to_string(), v)))
                                .collect(),
                        )
                    }
                })
                .boxed()
        }
    }
}

/// A change to a valid answer. Node numbers are taken modulo the number of nodes (pre-order).
#[derive(Clone, Debug)]
enum Mutation {
    Remove(usize),
    Null(usize),
    Replace(usize, Value),
    /// Wrap a node in `depth` arrays (even) or objects (odd).
    Wrap(usize, u8, u16),
    /// Add a member to an object, or an element to an array.
    Junk(usize, String, Value),
    /// Change the shape around a secret: `"s"` -> `["s"]`, `{"value": "s"}`, `[["s"]]`;
    /// `["s", …]` -> `"s"`, `{"items": […]}`, `"s,…"`.
    Reshape(usize, u8),
}

fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        2 => any::<usize>().prop_map(Mutation::Remove),
        2 => any::<usize>().prop_map(Mutation::Null),
        4 => (any::<usize>(), wrong()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        1 => (any::<usize>(), any::<u8>(), prop_oneof![4 => 1u16..4, 1 => 90u16..200])
            .prop_map(|(i, k, d)| Mutation::Wrap(i, k, d)),
        2 => (any::<usize>(), key(), any_json()).prop_map(|(i, k, v)| Mutation::Junk(i, k, v)),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, how)| Mutation::Reshape(i, how)),
    ]
    .boxed()
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(m) => m.values().map(count_nodes).sum(),
        _ => 0,
    }
}

fn nth_mut<'a>(v: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
    if *n == 0 {
        return Some(v);
    }
    *n -= 1;
    match v {
        Value::Array(a) => a.iter_mut().find_map(|x| nth_mut(x, n)),
        Value::Object(m) => m.values_mut().find_map(|x| nth_mut(x, n)),
        _ => None,
    }
}

fn is_secret(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.starts_with(MARK))
}

/// Pre-order numbers of the nodes that are a secret or a list holding one.
fn secret_nodes(v: &Value, next: &mut usize, out: &mut Vec<usize>) {
    let me = *next;
    *next += 1;
    if is_secret(v) || v.as_array().is_some_and(|a| a.iter().any(is_secret)) {
        out.push(me);
    }
    match v {
        Value::Array(a) => a.iter().for_each(|x| secret_nodes(x, next, out)),
        Value::Object(m) => m.values().for_each(|x| secret_nodes(x, next, out)),
        _ => {}
    }
}

const TOMBSTONE: &str = "\u{0}fuzz-removed\u{0}";

fn sweep(v: &mut Value) {
    let gone = |x: &Value| x.as_str() == Some(TOMBSTONE);
    match v {
        Value::Array(a) => {
            a.retain(|x| !gone(x));
            a.iter_mut().for_each(sweep);
        }
        Value::Object(m) => {
            m.retain(|_, x| !gone(x));
            m.values_mut().for_each(sweep);
        }
        _ => {}
    }
}

fn mutate(mut v: Value, mutations: &[Mutation]) -> Value {
    for m in mutations {
        let nodes = count_nodes(&v);
        let node = |i: &usize| i % nodes;
        match m {
            Mutation::Remove(i) => {
                // The root stays: an empty body is the byte-level generators' business.
                if node(i) != 0
                    && let Some(n) = nth_mut(&mut v, &mut node(i))
                {
                    *n = Value::String(TOMBSTONE.into());
                    sweep(&mut v);
                }
            }
            Mutation::Null(i) => {
                if let Some(n) = nth_mut(&mut v, &mut node(i)) {
                    *n = Value::Null;
                }
            }
            Mutation::Replace(i, with) => {
                if let Some(n) = nth_mut(&mut v, &mut node(i)) {
                    *n = with.clone();
                }
            }
            Mutation::Wrap(i, kind, d) => {
                if let Some(n) = nth_mut(&mut v, &mut node(i)) {
                    let mut x = n.take();
                    for _ in 0..*d {
                        x = if kind % 2 == 0 {
                            json!([x])
                        } else {
                            json!({ "x": x })
                        };
                    }
                    *n = x;
                }
            }
            Mutation::Junk(i, k, junk) => match nth_mut(&mut v, &mut node(i)) {
                Some(Value::Object(members)) => {
                    members.insert(k.clone(), junk.clone());
                }
                Some(Value::Array(items)) => items.push(junk.clone()),
                _ => {}
            },
            Mutation::Reshape(i, how) => {
                let mut found = Vec::new();
                secret_nodes(&v, &mut 0, &mut found);
                if found.is_empty() {
                    continue;
                }
                let mut at = found[i % found.len()];
                let Some(n) = nth_mut(&mut v, &mut at) else {
                    continue;
                };
                let x = n.take();
                *n = match (&x, how % 3) {
                    (Value::String(_), 0) => json!([x]),
                    (Value::String(_), 1) => json!({ "value": x }),
                    (Value::String(_), _) => json!([[x]]),
                    (Value::Array(items), 0) => items
                        .iter()
                        .find(|s| is_secret(s))
                        .cloned()
                        .unwrap_or(Value::Null),
                    (Value::Array(_), 1) => json!({ "items": x }),
                    (Value::Array(items), _) => Value::String(
                        items
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    _ => x,
                };
            }
        }
    }
    v
}

#[derive(Clone, Debug)]
enum Edit {
    Truncate(usize),
    Delete(usize),
    Insert(usize, u8),
    Set(usize, u8),
}

fn edit() -> BoxedStrategy<Edit> {
    let byte = prop_oneof![
        3 => select(b"{}[]\":,\\ 0123456789-+.eEtrufalsn\x00\x7f".to_vec()),
        1 => any::<u8>(),
    ];
    prop_oneof![
        1 => any::<usize>().prop_map(Edit::Truncate),
        2 => any::<usize>().prop_map(Edit::Delete),
        2 => (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Insert(i, b)),
        2 => (any::<usize>(), byte).prop_map(|(i, b)| Edit::Set(i, b)),
    ]
    .boxed()
}

fn apply_edits(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len();
        match *e {
            Edit::Truncate(i) => bytes.truncate(i % (len + 1)),
            Edit::Delete(i) if len > 0 => {
                bytes.remove(i % len);
            }
            Edit::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Edit::Set(i, b) if len > 0 => bytes[i % len] = b,
            _ => {}
        }
    }
    bytes
}

const SOUP: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"id\"",
    "\"name\"",
    "\"apps\"",
    "\"app\"",
    "\"app_codes\"",
    "\"app_secret\"",
    "\"secret\"",
    "\"token\"",
    "\"expires_at\"",
    "\"error_code\"",
    "\"error_msg\"",
    "\"total\"",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "-0",
    "1.5",
    "18446744073709551616",
    "\"x\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\",
    " ",
    "\n",
];

/// Any payload, with `ty` as the shape of the valid ones.
fn payload(ty: &'static Ty) -> BoxedStrategy<Payload> {
    prop_oneof![
        1 => vec(any::<u8>(), 0..300).prop_map(|b| Payload::raw("bytes", b)),
        1 => vec(select(SOUP), 0..40).prop_map(|t| Payload::raw("soup", t.concat().into_bytes())),
        2 => any_json().prop_map(|v| Payload::json("json", v)),
        2 => valid(ty).prop_map(|v| Payload::json("valid", v)),
        5 => (valid(ty), vec(mutation(), 1..4))
            .prop_map(|(v, ms)| Payload::json("mutated", mutate(v, &ms))),
        2 => (valid(ty), vec(edit(), 1..4)).prop_map(|(v, es)| {
            let bytes = serde_json::to_vec(&v).expect("serialises");
            Payload::raw("edited", apply_edits(bytes, &es))
        }),
    ]
    .boxed()
}

fn success_or_error_status() -> BoxedStrategy<u16> {
    prop_oneof![
        8 => Just(200u16),
        1 => Just(201u16),
        1 => Just(202u16),
        2 => error_status(),
    ]
    .boxed()
}

fn error_status() -> BoxedStrategy<u16> {
    prop_oneof![
        3 => select(&[400u16, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504][..]),
        1 => (300u16..600).prop_filter("304 carries no body", |s| *s != 304),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// Typed answers as JSON, to compare with the oracle. Secrets are exposed here on purpose; the
// `Debug` of the typed value is checked separately.

type Obs = (Value, String);

fn secret_json(s: Option<&SecretString>) -> Value {
    s.map_or(Value::Null, |s| Value::from(s.expose_secret()))
}

fn cloud_app_json(a: &CloudApp) -> Value {
    json!({"id": a.id, "name": a.name, "remark": a.remark, "key": a.key,
           "secret": secret_json(a.secret.as_ref())})
}

fn apig_app_json(a: &ApigApp) -> Value {
    json!({"id": a.id, "name": a.name, "remark": a.remark, "app_key": a.app_key,
           "app_secret": secret_json(a.app_secret.as_ref()), "status": a.status,
           "creator": a.creator, "bind_num": a.bind_num})
}

fn app_code_json(c: &AppCode) -> Value {
    json!({"id": c.id, "app_code": c.app_code.expose_secret(), "app_id": c.app_id})
}

fn ma_app_json(a: &ModelArtsApp) -> Value {
    json!({"app_id": a.app_id, "app_name": a.app_name, "app_key": a.app_key,
           "app_secret": secret_json(a.app_secret.as_ref()), "app_remark": a.app_remark,
           "app_codes": a.app_codes.iter().map(|c| c.expose_secret()).collect::<Vec<_>>(),
           "bounded_api_count": a.bounded_api_count})
}

fn api_json(a: &InferenceApiInfo) -> Value {
    json!({"api_id": a.api_id, "api_name": a.api_name, "api_method": a.api_method,
           "api_remark": a.api_remark, "auth_type": a.auth_type, "predict_url": a.predict_url,
           "service_id": a.service_id, "support_app_code": a.support_app_code})
}

fn auth_json(a: &AuthResult) -> Value {
    json!({"api_id": a.api_id, "app_id": a.app_id, "auth_id": a.auth_id, "reason": a.reason,
           "success": a.success})
}

fn da_app_json(a: &DataArtsApp) -> Value {
    json!({"id": a.id, "name": a.name, "description": a.description, "app_key": a.app_key,
           "app_secret": secret_json(a.app_secret.as_ref()), "app_type": a.app_type})
}

fn roma_app_json(a: &RomaApp) -> Value {
    json!({"id": a.id, "name": a.name, "remark": a.remark, "key": a.key,
           "favorite": a.favorite, "owner": a.owner})
}

fn obs<T: Debug>(value: &T, to_json: impl Fn(&T) -> Value) -> Obs {
    (to_json(value), format!("{value:?}"))
}

fn obs_list<T: Debug>(values: &[T], to_json: impl Fn(&T) -> Value) -> Obs {
    (
        Value::Array(values.iter().map(to_json).collect()),
        format!("{values:?}"),
    )
}

/// The operator's view of a secret: none when absent or masked.
fn unmasked(v: &Value) -> Value {
    match v.as_str() {
        Some(s) if !s.contains('*') => v.clone(),
        _ => Value::Null,
    }
}

fn the_app() -> CloudApp {
    CloudApp {
        id: "app-1".into(),
        name: NAME.into(),
        remark: Some("remark".into()),
        key: None,
        secret: None,
    }
}

// ---------------------------------------------------------------------------------------------
// One check for every decoding operation.

/// Expected observation and number of requests, from the oracle's normalised answer.
type Expect = fn(&Value) -> (Value, usize);

/// What an operation must produce from a normalised answer.
struct Spec {
    ty: &'static Ty,
    /// The op name a decode failure must carry.
    op: &'static str,
    max_requests: usize,
    expect: Expect,
}

fn one(v: Value) -> (Value, usize) {
    (v, 1)
}

fn no_secret_in(result: &Result<Obs, CloudError>) -> TestCaseResult {
    match result {
        Ok((_, debug)) => prop_assert!(
            !debug.contains(MARK),
            "a secret in the Debug of a decoded value: {debug}"
        ),
        Err(e) => {
            let text = format!("{e}\n{e:?}");
            prop_assert!(!text.contains(MARK), "a secret in an error's text: {text}");
        }
    }
    Ok(())
}

/// A 2xx answer decodes exactly when it fits the schema (both ways when the payload is a JSON
/// value, one way for byte-level junk the oracle can still parse), into exactly the answer's
/// fields with the expected number of requests; a failure is `CloudError::Decode` naming the
/// operation; no secret reaches an error's text or a decoded value's `Debug`.
fn check_answer(
    service: Service,
    spec: &Spec,
    status: u16,
    payload: &Payload,
    result: &Result<Obs, CloudError>,
    requests: usize,
) -> TestCaseResult {
    prop_assert!(
        (1..=spec.max_requests).contains(&requests),
        "{requests} requests"
    );
    if !(200..300).contains(&status) {
        return check_error_answer(service, status, payload, result);
    }
    no_secret_in(result)?;
    let verdict = oracle(spec.ty, payload);
    match result {
        Ok((observed, _)) => match verdict {
            Some((_, Ok(normal))) => {
                let (want, want_requests) = (spec.expect)(&normal);
                prop_assert_eq!(observed, &want, "decoded fields differ from the answer");
                prop_assert_eq!(requests, want_requests);
            }
            Some((_, Err(why))) => {
                return fail(format!("decoded an answer the schema rejects ({why})"));
            }
            None => {}
        },
        Err(CloudError::Decode { service: s, op, .. }) => {
            prop_assert_eq!(*s, service);
            prop_assert_eq!(*op, spec.op);
            if let Some((true, Ok(_))) = verdict {
                return fail("rejected an answer that fits the schema");
            }
        }
        Err(other) => {
            return fail(format!(
                "a 2xx answer that does not decode must be CloudError::Decode, got {other:?}"
            ));
        }
    }
    Ok(())
}

/// `error_code` and `error_msg` as the client must read them from an error answer, when the
/// oracle can tell: empty when the body is not an error body.
fn error_fields(payload: &Payload) -> Option<(String, String)> {
    match oracle(&ERROR_BODY, payload)? {
        (true, Ok(n)) => Some((
            n["error_code"].as_str().unwrap_or_default().to_string(),
            n["error_msg"].as_str().unwrap_or_default().to_string(),
        )),
        (true, Err(_)) => Some((String::new(), String::new())),
        (false, _) => None,
    }
}

/// An error status is an Api error whose text is the body's `error_code` and `error_msg` (at
/// most 300 characters) and nothing else from the body: a secret elsewhere in it never shows.
fn check_error_answer(
    service: Service,
    status: u16,
    payload: &Payload,
    result: &Result<Obs, CloudError>,
) -> TestCaseResult {
    let e = match result {
        Err(
            e @ CloudError::Api {
                service: s,
                status: got,
                ..
            },
        ) if *s == service && *got == status => e,
        other => return fail(format!("HTTP {status} must be an Api error, got {other:?}")),
    };
    let CloudError::Api {
        op,
        code,
        message,
        category,
        ..
    } = e
    else {
        unreachable!()
    };
    prop_assert!(message.chars().count() <= 300);
    prop_assert_eq!(
        e.to_string(),
        format!("{service} {op}: {category} (HTTP {status}, {code}): {message}")
    );
    if let Some((want_code, want_message)) = error_fields(payload) {
        prop_assert_eq!(
            *category,
            ErrorCodes::default().classify(status, &want_code)
        );
        prop_assert_eq!(code, &want_code);
        prop_assert_eq!(message, &want_message.chars().take(300).collect::<String>());
    }
    Ok(())
}

#[derive(Clone, Debug)]
struct Case<Op> {
    op: Op,
    status: u16,
    payload: Payload,
}

fn cases<Op: Clone + Copy + Debug + 'static>(
    ops: &'static [Op],
    spec: fn(Op) -> Spec,
) -> impl Strategy<Value = Case<Op>> {
    let per_op: Vec<BoxedStrategy<Case<Op>>> = ops
        .iter()
        .map(|&op| {
            (success_or_error_status(), payload(spec(op).ty))
                .prop_map(move |(status, payload)| Case {
                    op,
                    status,
                    payload,
                })
                .boxed()
        })
        .collect();
    proptest::strategy::Union::new(per_op)
}

type Call<Op> = for<'a> fn(Op, &'a CloudClient) -> BoxFuture<'a, Result<Obs, CloudError>>;

/// One service's answers: every operation against arbitrary bytes, arbitrary JSON and valid
/// answers with mutated fields, under success and error statuses (see `check_answer`).
fn fuzz_service<Op: Clone + Copy + Debug + 'static>(
    target: &str,
    service: Service,
    ops: &'static [Op],
    spec: fn(Op) -> Spec,
    call: Call<Op>,
) {
    let fake = Fake::start();
    let client = fake.client();
    fuzz(target, cases(ops, spec), |case| {
        fake.script(vec![("", Reply::new(case.status, case.payload.clone()))]);
        let result = fake.run(call(case.op, &client));
        let requests = fake.seen().len();
        check_answer(
            service,
            &spec(case.op),
            case.status,
            &case.payload,
            &result,
            requests,
        )
    });
}

/// `find_by_name` over pages that are all the same answer: what it must return and how many
/// pages it must read.
fn pages(
    apps: &[Value],
    limit: usize,
    mut last: impl FnMut(i64, i64) -> bool,
    to_app: fn(&Value) -> Value,
) -> (Value, usize) {
    let matching: Vec<Value> = apps
        .iter()
        .filter(|a| a["name"] == NAME || a["app_name"] == NAME)
        .map(to_app)
        .collect();
    let (mut out, mut offset, mut requests) = (Vec::new(), 0i64, 0);
    for _ in 0..limit {
        requests += 1;
        out.extend(matching.iter().cloned());
        let n = apps.len() as i64;
        offset += n;
        if n == 0 || last(offset, n) {
            break;
        }
    }
    (Value::Array(out), requests)
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

// ---------------------------------------------------------------------------------------------
// APIG.

#[derive(Clone, Copy, Debug)]
enum ApigOp {
    Show,
    Verify,
    List,
    FindByName,
    ListAppCodes,
    GenerateAppCode,
    ResetSecret,
}

fn apig_cloud_app(a: &Value) -> Value {
    json!({"id": a["id"], "name": a["name"], "remark": a["remark"], "key": a["app_key"],
           "secret": unmasked(&a["app_secret"])})
}

fn apig_spec(op: ApigOp) -> Spec {
    let (ty, op, max_requests, expect): (_, _, _, Expect) = match op {
        ApigOp::Show => (&APIG_APP, "show", 1, |n| one(apig_cloud_app(n))),
        ApigOp::Verify => (&APIG_APP, "validate", 1, |n| one(n.clone())),
        ApigOp::List => (&APIG_APP_LIST, "list", 1, |n| one(n.clone())),
        ApigOp::FindByName => (&APIG_APP_LIST, "list", 20, |n| {
            let total = n["total"].as_i64().unwrap_or_default();
            pages(
                list(&n["apps"]),
                20,
                |offset, _| offset >= total,
                apig_cloud_app,
            )
        }),
        ApigOp::ListAppCodes => (&APP_CODE_LIST, "list_app_codes", 1, |n| {
            one(n["app_codes"].clone())
        }),
        ApigOp::GenerateAppCode => (&APP_CODE, "generate_app_code", 1, |n| one(n.clone())),
        ApigOp::ResetSecret => (&APIG_APP, "reset_secret", 1, |n| {
            one(unmasked(&n["app_secret"]))
        }),
    };
    Spec {
        ty,
        op,
        max_requests,
        expect,
    }
}

fn apig_call(op: ApigOp, client: &CloudClient) -> BoxFuture<'_, Result<Obs, CloudError>> {
    Box::pin(async move {
        let target = Target::Apig {
            instance: "inst".into(),
        };
        let apig = client.apig("inst");
        Ok(match op {
            ApigOp::Show => obs(&target.show(client, "app-1").await?, cloud_app_json),
            ApigOp::Verify => obs(&apig.verify("app-1").await?, apig_app_json),
            ApigOp::List => obs(&apig.list(&ListFilter::default()).await?, |l| {
                json!({"total": l.total, "size": l.size,
                       "apps": l.apps.iter().map(apig_app_json).collect::<Vec<_>>()})
            }),
            ApigOp::FindByName => {
                obs_list(&target.find_by_name(client, NAME).await?, cloud_app_json)
            }
            ApigOp::ListAppCodes => obs_list(&apig.list_app_codes("app-1").await?, app_code_json),
            ApigOp::GenerateAppCode => obs(&apig.generate_app_code("app-1").await?, app_code_json),
            ApigOp::ResetSecret => {
                let chosen = SecretString::from("chosen-secret-0000");
                let s = target
                    .reset_secret(client, &the_app(), Some(&chosen))
                    .await?;
                obs(&s, |s| secret_json(s.as_ref()))
            }
        })
    })
}

/// APIG: show, validate, list, find_by_name (paged), AppCodes, secret reset.
#[test]
fn fuzz_apig_answers() {
    use ApigOp::*;
    fuzz_service(
        "apig_answers",
        Service::Apig,
        &[
            Show,
            Verify,
            List,
            FindByName,
            ListAppCodes,
            GenerateAppCode,
            ResetSecret,
        ],
        apig_spec,
        apig_call,
    );
}

// ---------------------------------------------------------------------------------------------
// ModelArts.

#[derive(Clone, Copy, Debug)]
enum MaOp {
    Show,
    FindByName,
    EnsureAppCode,
    AppApis,
    ListApis,
    CreateApi,
    Bind,
    Unbind,
    Bindings,
    Exists,
}

fn ma_cloud_app(a: &Value) -> Value {
    json!({"id": a["app_id"], "name": a["app_name"], "remark": a["app_remark"],
           "key": a["app_key"], "secret": unmasked(&a["app_secret"])})
}

fn ma_spec(op: MaOp) -> Spec {
    let (ty, op, max_requests, expect): (_, _, _, Expect) = match op {
        MaOp::Show => (&MA_APP_BODY, "show", 1, |n| one(ma_cloud_app(&n["app"]))),
        MaOp::FindByName => (&MA_APP_LIST, "list", 20, |n| {
            let total = n["total_count"].as_i64();
            pages(
                list(&n["apps"]),
                20,
                |offset, _| total.is_none_or(|t| offset >= t),
                ma_cloud_app,
            )
        }),
        // An existing AppCode, or a new one: the second answer is the same as the first.
        MaOp::EnsureAppCode => (&MA_APP_BODY, "show", 2, |n| {
            match list(&n["app"]["app_codes"]).first() {
                Some(code) => (code.clone(), 1),
                None => (Value::Null, 2),
            }
        }),
        MaOp::AppApis => (&MA_API_LIST, "list_app_apis", 1, |n| one(n["apis"].clone())),
        MaOp::ListApis => (&MA_API_LIST, "list_apis", 1, |n| one(n["apis"].clone())),
        MaOp::CreateApi => (&MA_API_BODY, "create_api", 1, |n| one(n["api"].clone())),
        MaOp::Bind => (&MA_BIND, "bind", 1, |n| one(n["auth_result"].clone())),
        MaOp::Unbind => (&MA_UNBIND, "unbind", 1, |n| one(n["unauth_result"].clone())),
        MaOp::Bindings => (
            &MA_BINDINGS,
            "list_bindings",
            1,
            |n| one(n["auths"].clone()),
        ),
        MaOp::Exists => (&MA_EXISTS, "exists", 1, |n| one(n["exists"].clone())),
    };
    Spec {
        ty,
        op,
        max_requests,
        expect,
    }
}

fn ma_call(op: MaOp, client: &CloudClient) -> BoxFuture<'_, Result<Obs, CloudError>> {
    Box::pin(async move {
        let target = Target::ModelArts {
            workspace: "ws".into(),
        };
        let ma = client.modelarts("ws");
        Ok(match op {
            MaOp::Show => obs(&target.show(client, "app-1").await?, cloud_app_json),
            MaOp::FindByName => obs_list(&target.find_by_name(client, NAME).await?, cloud_app_json),
            MaOp::EnsureAppCode => obs(&target.ensure_app_code(client, &the_app()).await?, |c| {
                secret_json(c.as_ref())
            }),
            MaOp::AppApis => obs_list(&ma.app_apis("app-1").await?, api_json),
            MaOp::ListApis => obs_list(&ma.list_apis("svc").await?, api_json),
            MaOp::CreateApi => obs(&ma.create_api("svc", &ApiInput::default()).await?, api_json),
            MaOp::Bind => obs_list(&ma.bind("svc", "api", &["app-1"]).await?, auth_json),
            MaOp::Unbind => obs_list(&ma.unbind("svc", "api", &["app-1"]).await?, auth_json),
            MaOp::Bindings => obs_list(&ma.bindings("svc", "api").await?, ma_app_json),
            MaOp::Exists => obs(&ma.app_exists(NAME).await?, |e| json!(e)),
        })
    })
}

/// ModelArts: apps (show, paged find, AppCodes), inference APIs, bindings, exists.
#[test]
fn fuzz_modelarts_answers() {
    use MaOp::*;
    fuzz_service(
        "modelarts_answers",
        Service::ModelArts,
        &[
            Show,
            FindByName,
            EnsureAppCode,
            AppApis,
            ListApis,
            CreateApi,
            Bind,
            Unbind,
            Bindings,
            Exists,
        ],
        ma_spec,
        ma_call,
    );
}

// ---------------------------------------------------------------------------------------------
// DataArts.

#[derive(Clone, Copy, Debug)]
enum DaOp {
    Show,
    List,
    FindByName,
}

fn da_cloud_app(a: &Value) -> Value {
    json!({"id": a["id"], "name": a["name"], "remark": a["description"], "key": a["app_key"],
           "secret": unmasked(&a["app_secret"])})
}

fn da_spec(op: DaOp) -> Spec {
    let (ty, op, max_requests, expect): (_, _, _, Expect) = match op {
        DaOp::Show => (&DA_APP, "show", 1, |n| one(da_cloud_app(n))),
        DaOp::List => (&DA_APP_LIST, "list", 1, |n| one(n.clone())),
        DaOp::FindByName => (&DA_APP_LIST, "list", 50, |n| {
            let total = n["total"].as_i64().unwrap_or_default();
            pages(
                list(&n["apps"]),
                50,
                |offset, _| offset >= total,
                da_cloud_app,
            )
        }),
    };
    Spec {
        ty,
        op,
        max_requests,
        expect,
    }
}

fn da_call(op: DaOp, client: &CloudClient) -> BoxFuture<'_, Result<Obs, CloudError>> {
    Box::pin(async move {
        let target = Target::DataArts {
            workspace: "ws".into(),
            dlm_type: DlmType::Shared,
        };
        Ok(match op {
            DaOp::Show => obs(&target.show(client, "app-1").await?, cloud_app_json),
            DaOp::List => obs(
                &client.dataarts("ws", "SHARED").list(None, 0, 100).await?,
                |l| json!({"total": l.total, "apps": l.apps.iter().map(da_app_json).collect::<Vec<_>>()}),
            ),
            DaOp::FindByName => obs_list(&target.find_by_name(client, NAME).await?, cloud_app_json),
        })
    })
}

/// DataArts: show, list, find_by_name (paged).
#[test]
fn fuzz_dataarts_answers() {
    use DaOp::*;
    fuzz_service(
        "dataarts_answers",
        Service::DataArts,
        &[Show, List, FindByName],
        da_spec,
        da_call,
    );
}

// ---------------------------------------------------------------------------------------------
// ROMA. `find_by_name` is two calls (validate-apps, then show), so it has its own check.

#[derive(Clone, Copy, Debug)]
enum RomaOp {
    Show,
    List,
    GetSecret,
    ResetSecret,
}

fn roma_cloud_app(a: &Value) -> Value {
    json!({"id": a["id"], "name": a["name"], "remark": a["remark"], "key": a["key"],
           "secret": null})
}

fn roma_spec(op: RomaOp) -> Spec {
    let (ty, op, expect): (_, _, Expect) = match op {
        RomaOp::Show => (&ROMA_APP, "show", |n| one(roma_cloud_app(n))),
        RomaOp::List => (&ROMA_APP_LIST, "list", |n| one(n.clone())),
        RomaOp::GetSecret => (&ROMA_SECRET, "get_secret", |n| one(n["secret"].clone())),
        RomaOp::ResetSecret => (&ROMA_SECRET, "reset_secret", |n| {
            one(unmasked(&n["secret"]))
        }),
    };
    Spec {
        ty,
        op,
        max_requests: 1,
        expect,
    }
}

fn roma_call(op: RomaOp, client: &CloudClient) -> BoxFuture<'_, Result<Obs, CloudError>> {
    Box::pin(async move {
        let target = Target::Roma {
            instance: "inst".into(),
            favorite: false,
        };
        let roma = client.roma("inst");
        Ok(match op {
            RomaOp::Show => obs(&target.show(client, "app-1").await?, cloud_app_json),
            RomaOp::List => obs(
                &roma.list(None, 0, 100).await?,
                |l| json!({"total": l.total, "apps": l.apps.iter().map(roma_app_json).collect::<Vec<_>>()}),
            ),
            RomaOp::GetSecret => obs(&roma.get_secret("app-1").await?, |s| {
                json!(s.expose_secret())
            }),
            RomaOp::ResetSecret => {
                let chosen = SecretString::from("chosen-secret-0000");
                let s = target
                    .reset_secret(client, &the_app(), Some(&chosen))
                    .await?;
                obs(&s, |s| secret_json(s.as_ref()))
            }
        })
    })
}

/// ROMA: show, list, the secret endpoint, secret reset.
#[test]
fn fuzz_roma_answers() {
    use RomaOp::*;
    fuzz_service(
        "roma_answers",
        Service::Roma,
        &[Show, List, GetSecret, ResetSecret],
        roma_spec,
        roma_call,
    );
}

#[derive(Clone, Debug)]
struct RomaFindCase {
    validate_status: u16,
    validate: Payload,
    show: Payload,
}

fn roma_find_cases() -> impl Strategy<Value = RomaFindCase> {
    let found =
        (payload(&ROMA_BRIEF), payload(&ROMA_APP)).prop_map(|(validate, show)| RomaFindCase {
            validate_status: 200,
            validate,
            show,
        });
    let error = (error_status(), payload(&ERROR_BODY), payload(&ROMA_APP)).prop_map(
        |(validate_status, validate, show)| RomaFindCase {
            validate_status,
            validate,
            show,
        },
    );
    prop_oneof![3 => found, 1 => error]
}

/// `Target::Roma::find_by_name`: "not found" from validate-apps is an empty answer, any other
/// error is an error, and a match is shown in full.
#[test]
fn fuzz_roma_find_by_name() {
    let fake = Fake::start();
    let client = fake.client();
    let target = Target::Roma {
        instance: "inst".into(),
        favorite: false,
    };
    fuzz("roma_find_by_name", roma_find_cases(), |case| {
        fake.script(vec![
            (
                "/validate-apps",
                Reply::new(case.validate_status, case.validate.clone()),
            ),
            ("/apps/", Reply::new(200, case.show.clone())),
        ]);
        let result = fake
            .run(target.find_by_name(&client, NAME))
            .map(|apps| obs_list(&apps, cloud_app_json));
        let requests = fake.seen().len();
        no_secret_in(&result)?;
        if !(200..300).contains(&case.validate_status) {
            let code = match oracle(&ERROR_BODY, &case.validate) {
                Some((true, Ok(n))) => Some(n["error_code"].as_str().unwrap_or("").to_string()),
                Some((true, Err(_))) => Some(String::new()),
                _ => None,
            };
            match (&result, code) {
                (Ok((apps, _)), Some(code)) => {
                    prop_assert_eq!(
                        ErrorCodes::default().classify(case.validate_status, &code),
                        ErrorCategory::NotFound,
                        "only a not-found answer may mean 'no app'"
                    );
                    prop_assert_eq!(apps, &json!([]));
                }
                (Err(e), Some(code)) => {
                    prop_assert_ne!(
                        ErrorCodes::default().classify(case.validate_status, &code),
                        ErrorCategory::NotFound
                    );
                    prop_assert_eq!(e.status(), Some(case.validate_status));
                }
                (Ok((apps, _)), None) => prop_assert_eq!(apps, &json!([])),
                (Err(e), None) => prop_assert_eq!(e.status(), Some(case.validate_status)),
            }
            prop_assert_eq!(requests, 1);
            return Ok(());
        }
        let brief = oracle(&ROMA_BRIEF, &case.validate);
        let shown = oracle(&ROMA_APP, &case.show);
        match &result {
            Ok((apps, _)) => {
                if let Some((_, verdict)) = &brief {
                    prop_assert!(verdict.is_ok(), "decoded a brief the schema rejects");
                }
                if let Some((_, verdict)) = &shown {
                    let n = verdict
                        .as_ref()
                        .map_err(|why| TestCaseError::fail(format!("decoded {why}")))?;
                    prop_assert_eq!(apps, &json!([roma_cloud_app(n)]));
                }
                prop_assert_eq!(requests, 2);
                // The id from the answer addresses that app, and nothing else.
                if let Some((_, Ok(n))) = &brief {
                    let id = n["id"].as_str().unwrap_or_default();
                    let want = format!("/v2/proj/instances/inst/apps/{}", url_encode(id));
                    prop_assert_eq!(
                        &fake.seen()[1].path,
                        &want,
                        "the id {:?} escaped its path",
                        id
                    );
                }
            }
            Err(CloudError::Decode { service, op, .. }) => {
                prop_assert_eq!(*service, Service::Roma);
                match *op {
                    "validate" => {
                        prop_assert_eq!(requests, 1);
                        prop_assert!(!matches!(brief, Some((true, Ok(_)))));
                    }
                    "show" if requests == 1 => {
                        // Only when the id cannot go into a URL (too long, a dot segment).
                        prop_assert!(
                            matches!(&result, Err(CloudError::Decode { detail, .. })
                                if detail.starts_with("invalid request") || detail.starts_with("invalid URL")),
                            "{:?}",
                            result
                        );
                    }
                    "show" => {
                        prop_assert_eq!(requests, 2);
                        prop_assert!(!matches!(shown, Some((true, Ok(_)))));
                    }
                    other => return fail(format!("decode error from op {other}")),
                }
            }
            Err(other) => return fail(format!("expected a Decode error, got {other:?}")),
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Error bodies: a request that carries a secret, an error answer that may echo it.

#[derive(Clone, Copy, Debug)]
enum Sensitive {
    ApigReset,
    ApigUpdate,
    ApigCreateAppCode,
    RomaCreate,
}

/// A piece of an error message: text, or the request's secret in a form the scrubber knows.
#[derive(Clone, Debug)]
enum Piece {
    Text(String),
    Raw,
    Percent,
    JsonEscaped,
}

#[derive(Clone, Debug)]
struct ErrorCase {
    op: Sensitive,
    secret: String,
    status: u16,
    retry_after: Option<Vec<u8>>,
    payload: Payload,
}

fn forms(secret: &str) -> [String; 3] {
    let json = serde_json::to_string(secret).expect("a string serialises");
    [
        secret.to_string(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        json.trim_matches('"').to_string(),
    ]
}

fn header_value() -> BoxedStrategy<Vec<u8>> {
    let byte = prop_oneof![
        8 => 0x20u8..0x7f,
        1 => Just(b'\t'),
        1 => 0x80u8..=0xff,
    ];
    prop_oneof![
        3 => re("[0-9]{1,3}").prop_map(String::into_bytes),
        1 => re(" ?[0-9]{1,25} ?").prop_map(String::into_bytes),
        1 => select(&["-1", "1.5", "0", "18446744073709551615", "18446744073709551616", "Wed, 21 Oct 2015 07:28:00 GMT", "+5", ""][..])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => vec(byte, 0..20),
    ]
    .boxed()
}

/// The error code of an error body: a code, or the request's secret (alone or after text).
#[derive(Clone, Debug)]
enum CodePiece {
    Code(Value),
    Secret,
    AfterText(String),
}

fn error_cases() -> impl Strategy<Value = ErrorCase> {
    let ops = select(
        &[
            Sensitive::ApigReset,
            Sensitive::ApigUpdate,
            Sensitive::ApigCreateAppCode,
            Sensitive::RomaCreate,
        ][..],
    );
    let secret = re("[A-Za-z0-9/+=\"\\\\_.~-]{6,20}").prop_map(|s| format!("{MARK}{s}"));
    let piece = prop_oneof![
        4 => text().prop_map(Piece::Text),
        1 => Just(Piece::Raw),
        1 => Just(Piece::Percent),
        1 => Just(Piece::JsonEscaped),
        1 => re("[a-z ]{300,400}").prop_map(Piece::Text),
    ];
    let code = prop_oneof![
        4 => valid(&Ty::Code).prop_map(CodePiece::Code),
        1 => Just(CodePiece::Secret),
        1 => text().prop_map(CodePiece::AfterText),
    ];
    let structured = (code, vec(piece, 0..5), vec(mutation(), 0..3));
    let payload = prop_oneof![
        1 => vec(any::<u8>(), 0..200).prop_map(|b| Err(Payload::raw("bytes", b))),
        1 => vec(select(SOUP), 0..30)
            .prop_map(|t| Err(Payload::raw("soup", t.concat().into_bytes()))),
        1 => any_json().prop_map(|v| Err(Payload::json("json", v))),
        6 => structured.prop_map(Ok),
    ];
    (
        ops,
        secret,
        error_status(),
        proptest::option::of(header_value()),
        payload,
    )
        .prop_map(|(op, secret, status, retry_after, payload)| {
            let payload = match payload {
                Err(made) => made,
                Ok((code, pieces, mutations)) => {
                    let forms = forms(&secret);
                    let code = match code {
                        CodePiece::Code(c) => c,
                        CodePiece::Secret => Value::String(secret.clone()),
                        CodePiece::AfterText(t) => Value::String(format!("{t}{secret}")),
                    };
                    let message: String = pieces
                        .iter()
                        .map(|p| match p {
                            Piece::Text(t) => t.as_str(),
                            Piece::Raw => forms[0].as_str(),
                            Piece::Percent => forms[1].as_str(),
                            Piece::JsonEscaped => forms[2].as_str(),
                        })
                        .collect();
                    let body = json!({"error_code": code, "error_msg": message});
                    Payload::json("error", mutate(body, &mutations))
                }
            };
            ErrorCase {
                op,
                secret,
                status,
                retry_after,
                payload,
            }
        })
}

async fn sensitive_call(
    op: Sensitive,
    client: &CloudClient,
    secret: &str,
) -> Result<(), CloudError> {
    let secret = SecretString::from(secret.to_string());
    let apig = client.apig("inst");
    match op {
        Sensitive::ApigReset => apig.reset_secret("app-1", Some(&secret)).await.map(drop),
        Sensitive::ApigUpdate => apig
            .update(
                "app-1",
                &AppInput {
                    name: NAME,
                    app_secret: Some(&secret),
                    ..Default::default()
                },
            )
            .await
            .map(drop),
        Sensitive::ApigCreateAppCode => apig.create_app_code("app-1", &secret).await.map(drop),
        Sensitive::RomaCreate => client
            .roma("inst")
            .create(&RomaInput {
                name: NAME,
                secret: Some(&secret),
                ..Default::default()
            })
            .await
            .map(drop),
    }
}

fn retry_after_oracle(header: Option<&[u8]>) -> Option<u64> {
    let bytes = header?;
    if !bytes
        .iter()
        .all(|b| (0x20..0x7f).contains(b) || *b == b'\t')
    {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// Error answers: always `CloudError::Api` with the status; the code and message are those
/// of the body when it is a well-formed error body, empty otherwise; the message is at most 300
/// characters; the category is the classifier's; Retry-After is honoured; and no form of the
/// request's secret reaches the error's Display or Debug, wherever the body echoes it.
#[test]
fn fuzz_error_bodies() {
    let fake = Fake::start();
    let client = fake.client();
    let codes = ErrorCodes::default();
    fuzz("error_bodies", error_cases(), |case| {
        let mut reply = Reply::new(case.status, case.payload.clone());
        if let Some(v) = &case.retry_after {
            reply.headers.push(("Retry-After".into(), v.clone()));
        }
        fake.script(vec![("", reply)]);
        let result = fake.run(sensitive_call(case.op, &client, &case.secret));
        let seen = fake.seen();
        prop_assert_eq!(seen.len(), 1);
        let forms = forms(&case.secret);
        prop_assert!(
            String::from_utf8_lossy(&seen[0].body).contains(&forms[2]),
            "the request carried the secret"
        );
        let err = match result {
            Err(e) => e,
            Ok(()) => return fail("an error status must be an error"),
        };
        let text = format!("{err}\n{err:?}");
        for form in &forms {
            prop_assert!(
                !text.contains(form.as_str()),
                "secret form {form:?} in: {text}"
            );
        }
        let CloudError::Api {
            status,
            code,
            message,
            category,
            retry_after,
            ..
        } = &err
        else {
            return fail(format!("expected CloudError::Api, got {err:?}"));
        };
        prop_assert_eq!(*status, case.status);
        prop_assert_eq!(err.status(), Some(case.status));
        prop_assert_eq!(err.code(), Some(code.as_str()));
        prop_assert_eq!(err.category(), *category);
        prop_assert!(!err.outcome_unknown());
        prop_assert!(
            message.chars().count() <= 300,
            "message of {} chars",
            message.chars().count()
        );
        match (retry_after_oracle(case.retry_after.as_deref()), retry_after) {
            (None, None) => {}
            (Some(secs), Some(d)) => {
                // Exact for sane values; a cap on absurd ones would be fine.
                prop_assert!(d.as_secs() <= secs);
                if secs <= 60 {
                    prop_assert_eq!(d.as_secs(), secs);
                }
            }
            (want, got) => return fail(format!("Retry-After {want:?} read as {got:?}")),
        }
        let contains_secret = |s: &str| forms.iter().any(|f| s.contains(f.as_str()));
        match oracle(&ERROR_BODY, &case.payload) {
            Some((true, Ok(n))) => {
                let raw_code = n["error_code"].as_str().unwrap_or("");
                let raw_msg = n["error_msg"].as_str().unwrap_or("");
                prop_assert_eq!(*category, codes.classify(case.status, raw_code));
                if !contains_secret(raw_code) {
                    prop_assert_eq!(code.as_str(), raw_code);
                }
                if !contains_secret(raw_msg) {
                    let want: String = raw_msg.chars().take(300).collect();
                    prop_assert_eq!(message, &want);
                }
            }
            Some((true, Err(_))) => {
                prop_assert_eq!(code.as_str(), "");
                prop_assert_eq!(message.as_str(), "");
                prop_assert_eq!(*category, codes.classify(case.status, ""));
            }
            _ => {
                if !code.contains("[redacted]") {
                    prop_assert_eq!(*category, codes.classify(case.status, code));
                }
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Classification.

const CATEGORIES: [ErrorCategory; 10] = [
    ErrorCategory::NotFound,
    ErrorCategory::AlreadyExists,
    ErrorCategory::QuotaExceeded,
    ErrorCategory::InvalidInput,
    ErrorCategory::Conflict,
    ErrorCategory::Throttled,
    ErrorCategory::Unauthorized,
    ErrorCategory::Forbidden,
    ErrorCategory::Transient,
    ErrorCategory::Unknown,
];

const CATEGORY_NAMES: [&str; 10] = [
    "NotFound",
    "AlreadyExists",
    "QuotaExceeded",
    "InvalidInput",
    "Conflict",
    "Throttled",
    "Unauthorized",
    "Forbidden",
    "Transient",
    "Unknown",
];

fn by_status(status: u16) -> ErrorCategory {
    match status {
        429 => ErrorCategory::Throttled,
        401 => ErrorCategory::Unauthorized,
        403 => ErrorCategory::Forbidden,
        408 | 500..=599 => ErrorCategory::Transient,
        400 | 422 => ErrorCategory::InvalidInput,
        409 => ErrorCategory::Conflict,
        _ => ErrorCategory::Unknown,
    }
}

#[derive(Clone, Debug)]
struct ClassifyCase {
    overrides: Vec<String>,
    status: u16,
    code: String,
}

fn flip_case(s: &str, bits: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if bits >> (i % 64) & 1 == 1 {
                if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            } else {
                c
            }
        })
        .collect()
}

fn classify_cases() -> impl Strategy<Value = ClassifyCase> {
    let code = prop_oneof![3 => select(known_codes()), 1 => text()];
    let category = prop_oneof![
        3 => (select(&CATEGORY_NAMES[..]), any::<u64>(), re(" ?"), re(" ?"))
            .prop_map(|(n, bits, a, b)| format!("{a}{}{b}", flip_case(n, bits))),
        1 => text(),
    ];
    let spec = prop_oneof![
        4 => (code.clone(), re(" ?"), category).prop_map(|(c, pad, k)| format!("{c}{pad}={k}")),
        1 => text(),
    ];
    (
        vec(spec, 0..5),
        prop_oneof![3 => select(&[0u16, 200, 400, 401, 403, 404, 408, 409, 422, 429, 500, 503, 599, 600][..]), 1 => any::<u16>()],
        code,
    )
        .prop_map(|(overrides, status, code)| ClassifyCase {
            overrides,
            status,
            code,
        })
}

/// `ErrorCodes`: confirmed codes are fixed, `CODE=Category` overrides work exactly as
/// documented, anything else falls back to the status, and nothing unknown is ever NotFound.
#[test]
fn fuzz_error_classification() {
    fuzz("error_classification", classify_cases(), |case| {
        let confirmed: HashMap<&str, ErrorCategory> = CONFIRMED.iter().copied().collect();
        let mut model: HashMap<String, ErrorCategory> = UNCONFIRMED_DEFAULTS
            .iter()
            .map(|(c, k)| (c.to_string(), *k))
            .collect();
        let mut codes = ErrorCodes::default();
        for spec in &case.overrides {
            let want = spec.split_once('=').and_then(|(c, k)| {
                let k = k.trim();
                let i = CATEGORY_NAMES
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(k))?;
                (!confirmed.contains_key(c.trim())).then(|| (c.trim().to_string(), CATEGORIES[i]))
            });
            let got = codes.set_from_str(spec);
            prop_assert_eq!(got.is_ok(), want.is_some(), "{:?} -> {:?}", spec, got);
            if let Some((c, k)) = want {
                model.insert(c, k);
            }
        }
        let mut probes: Vec<&str> = vec![case.code.as_str()];
        probes.extend(model.keys().map(String::as_str));
        probes.extend(CONFIRMED.iter().map(|(c, _)| *c));
        for code in probes {
            let want = confirmed
                .get(code)
                .or_else(|| model.get(code))
                .copied()
                .unwrap_or_else(|| by_status(case.status));
            let got = codes.classify(case.status, code);
            prop_assert_eq!(got, want, "classify({}, {:?})", case.status, code);
            prop_assert_eq!(got, codes.classify(case.status, code));
            if got == ErrorCategory::NotFound {
                prop_assert!(
                    confirmed.get(code) == Some(&ErrorCategory::NotFound)
                        || model.get(code) == Some(&ErrorCategory::NotFound),
                    "{code:?} is NotFound without being a not-found code"
                );
            }
        }
        for (category, name) in CATEGORIES.iter().zip(CATEGORY_NAMES) {
            prop_assert_eq!(category.as_str(), name);
            prop_assert_eq!(category.to_string(), name);
            prop_assert_eq!(ErrorCategory::parse(&name.to_lowercase()), Some(*category));
            prop_assert_eq!(ErrorCategory::parse(&name.to_uppercase()), Some(*category));
            prop_assert_eq!(
                category.is_retryable(),
                matches!(
                    category,
                    ErrorCategory::Throttled | ErrorCategory::Transient
                )
            );
        }
        if let Some(parsed) = ErrorCategory::parse(&case.code) {
            prop_assert!(parsed.as_str().eq_ignore_ascii_case(&case.code));
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// IAM tokens.

#[derive(Clone, Debug)]
struct IamCase {
    status: u16,
    token: Option<Vec<u8>>,
    payload: Payload,
    password: String,
}

fn iam_cases() -> impl Strategy<Value = IamCase> {
    let token = prop_oneof![
        1 => Just(None),
        6 => re("[A-Za-z0-9+/=_-]{1,80}").prop_map(|s| Some(format!("{MARK}tok-{s}").into_bytes())),
        1 => vec(prop_oneof![8 => 0x21u8..0x7f, 1 => Just(b' '), 1 => 0x80u8..=0xff], 1..40)
            .prop_map(|mut b| {
                // Header values lose surrounding blanks on the wire; keep the ends visible.
                b.insert(0, b'S');
                b.push(b'E');
                Some(b)
            }),
        1 => Just(Some(Vec::new())),
    ];
    let status = prop_oneof![8 => Just(201u16), 1 => Just(200u16), 2 => error_status()];
    let password = re("[A-Za-z0-9]{8,16}").prop_map(|s| format!("{MARK}pw-{s}"));
    let payload = prop_oneof![
        1 => vec(any::<u8>(), 0..200).prop_map(|b| (Payload::raw("bytes", b), Vec::new())),
        1 => any_json().prop_map(|v| (Payload::json("json", v), Vec::new())),
        3 => valid(&TOKEN_BODY).prop_map(|v| (Payload::json("valid", v), Vec::new())),
        3 => (valid(&TOKEN_BODY), vec(mutation(), 1..3), vec(any::<usize>(), 1..3))
            .prop_map(|(v, ms, at)| (Payload::json("mutated", mutate(v, &ms)), at)),
        1 => (valid(&TOKEN_BODY), vec(edit(), 1..3)).prop_map(|(v, es)| {
            let bytes = apply_edits(serde_json::to_vec(&v).expect("json"), &es);
            (Payload::raw("edited", bytes), Vec::new())
        }),
    ];
    (status, token, password, payload).prop_map(|(status, token, password, (payload, echo))| {
        // The password, echoed in the answer where `echo` says.
        let payload = match payload.exact {
            Some(mut v) if !echo.is_empty() => {
                for i in echo {
                    let nodes = count_nodes(&v);
                    if let Some(n) = nth_mut(&mut v, &mut (i % nodes)) {
                        *n = Value::String(password.clone());
                    }
                }
                Payload::json("echo", v)
            }
            _ => payload,
        };
        IamCase {
            status,
            token,
            payload,
            password,
        }
    })
}

/// `TokenCache::token`: a token only from a 2xx answer with a readable X-Subject-Token and a
/// body with a parseable `expires_at`; otherwise a typed error without the password or token;
/// a long-lived token is reused, an expired one renewed.
#[test]
fn fuzz_iam_token() {
    let fake = Fake::start();
    let http = reqwest::Client::new();
    fuzz("iam_token", iam_cases(), |case| {
        let mut reply = Reply::new(case.status, case.payload.clone());
        if let Some(t) = &case.token {
            reply.headers.push(("X-Subject-Token".into(), t.clone()));
        }
        fake.script(vec![("", reply)]);
        let cache = TokenCache::new(
            fake.url.clone(),
            "domain".into(),
            "user".into(),
            SecretString::from(case.password.clone()),
            "proj".into(),
        );
        let result = fake.run(cache.token(&http));
        let seen = fake.seen();
        prop_assert_eq!(seen.len(), 1);
        prop_assert_eq!(seen[0].path.as_str(), "/v3/auth/tokens");
        if let Err(e) = &result {
            let text = format!("{e}\n{e:?}");
            prop_assert!(!text.contains(MARK), "a secret in an error's text: {text}");
        }
        if !(200..300).contains(&case.status) {
            let want = match case.status {
                401 => ErrorCategory::Unauthorized,
                500..=599 => ErrorCategory::Transient,
                _ => ErrorCategory::Unknown,
            };
            return match &result {
                Err(
                    e @ CloudError::Api {
                        service: Service::Iam,
                        status,
                        ..
                    },
                ) if *status == case.status && e.category() == want => Ok(()),
                other => fail(format!("expected an IAM Api error ({want}), got {other:?}")),
            };
        }
        let header = case
            .token
            .as_deref()
            .filter(|t| t.iter().all(|b| (0x20..0x7f).contains(b) || *b == b'\t'))
            .map(|t| String::from_utf8_lossy(t).into_owned());
        let verdict = oracle(&TOKEN_BODY, &case.payload).map(|(exact, v)| {
            let expires = v.and_then(|n| {
                let at = n["token"]["expires_at"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                chrono::DateTime::parse_from_rfc3339(&at)
                    .map_err(|e| format!("expires_at {at:?}: {e}"))
            });
            (exact, expires)
        });
        match &result {
            Ok(token) => {
                prop_assert_eq!(Some(token.expose_secret()), header.as_deref());
                let debug = format!("{token:?}");
                prop_assert!(!debug.contains(MARK), "{}", debug);
                if let Some((_, expires)) = verdict {
                    let expires = expires.map_err(|why| {
                        TestCaseError::fail(format!("a token from a bad body: {why}"))
                    })?;
                    // Reuse and renewal.
                    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
                    let again = fake.run(cache.token(&http));
                    let requests = fake.seen().len();
                    if left > chrono::Duration::hours(2) {
                        prop_assert_eq!(requests, 1, "a token valid for {} renewed", left);
                        let again = again.map_err(|e| TestCaseError::fail(e.to_string()))?;
                        prop_assert_eq!(again.expose_secret(), token.expose_secret());
                    } else if left < chrono::Duration::seconds(-5) {
                        prop_assert_eq!(requests, 2, "an expired token reused");
                    }
                }
            }
            Err(CloudError::Decode { service, op, .. }) => {
                prop_assert_eq!(*service, Service::Iam);
                prop_assert_eq!(*op, "token");
                if header.is_some() {
                    prop_assert!(
                        !matches!(verdict, Some((true, Ok(_)))),
                        "rejected a valid token answer"
                    );
                }
            }
            Err(other) => return fail(format!("expected a Decode error, got {other:?}")),
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// The signer.

/// Text with anything in it: unicode, controls, separators, escapes.
fn wild() -> BoxedStrategy<String> {
    prop_oneof![
        2 => re("\\PC{0,12}"),
        2 => vec(any::<char>(), 0..12).prop_map(String::from_iter),
        1 => re("[a-z%/=&;: \t\r\n]{0,12}"),
        1 => select(ODD).prop_map(String::from),
    ]
    .boxed()
}

fn header_name() -> BoxedStrategy<String> {
    prop_oneof![
        4 => re("[A-Za-z][A-Za-z0-9-]{0,10}"),
        1 => select(&["Host", "Content-Type", "X-Project-Id", "X-Sdk-Content-Sha256", "X_Under"][..]).prop_map(String::from),
        1 => wild(),
    ]
    .boxed()
}

#[derive(Clone, Debug)]
struct SignCase {
    method: String,
    /// The path as the signer must see it; sent percent-encoded (and raw when that is the same).
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    ak: String,
    sk: Vec<u8>,
    shuffle: u64,
    flips: u64,
    pads: Vec<(u8, u8)>,
    unsigned: (String, String),
}

fn sign_cases() -> impl Strategy<Value = SignCase> {
    let path = prop_oneof![
        2 => re("(/[a-zA-Z0-9._~-]{0,6}){0,5}/?"),
        2 => wild(),
        1 => re("(/\\PC{0,6}){0,4}"),
        1 => re("(%[0-9a-fA-Fz]{0,2}|/|[a-z ]){0,16}"),
    ];
    let headers = vec((header_name(), wild()), 0..6).prop_map(|mut h| {
        let mut seen = std::collections::HashSet::new();
        h.retain(|(k, _)| seen.insert(k.to_ascii_lowercase()));
        h
    });
    let date = prop_oneof![
        3 => re("[0-9]{8}T[0-9]{6}Z").prop_map(Some),
        1 => Just(None),
    ];
    (
        (
            prop_oneof![re("[A-Za-z]{1,7}"), wild()],
            path,
            vec((wild(), wild()), 0..6),
            headers,
            date,
        ),
        (
            prop_oneof![2 => Just(Vec::new()), 3 => vec(any::<u8>(), 1..64)],
            re("[A-Za-z0-9]{0,20}"),
            vec(any::<u8>(), 0..80),
            any::<u64>(),
            any::<u64>(),
            vec((0u8..4, 0u8..4), 8),
            (re("[A-Za-z]{1,5}_[A-Za-z_]{0,5}"), wild()),
        ),
    )
        .prop_map(
            |(
                (method, path, query, mut headers, date),
                (body, ak, sk, shuffle, flips, pads, unsigned),
            )| {
                if let Some(date) = date
                    && !headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case(HEADER_DATE))
                {
                    let at = (shuffle as usize) % (headers.len() + 1);
                    headers.insert(at, (HEADER_DATE.to_string(), date));
                }
                SignCase {
                    method,
                    path,
                    query,
                    headers,
                    body,
                    ak,
                    sk,
                    shuffle,
                    flips,
                    pads,
                    unsigned,
                }
            },
        )
}

/// A deterministic permutation.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    let mut x = seed | 1;
    for i in (1..out.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.swap(i, (x % (i as u64 + 1)) as usize);
    }
    out
}

fn encode_path(path: &str) -> String {
    path.split('/')
        .map(url_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// `%2F` -> `%2f` for the escapes the flip bits pick: the same bytes once decoded.
fn lower_escapes(path: &str, bits: u64) -> String {
    let mut out = String::with_capacity(path.len());
    let mut escape = 0;
    for (i, c) in path.chars().enumerate() {
        if c == '%' {
            escape = 2;
            out.push(c);
        } else if escape > 0 {
            escape -= 1;
            out.push(if bits >> (i % 64) & 1 == 1 {
                c.to_ascii_lowercase()
            } else {
                c
            });
        } else {
            out.push(c);
        }
    }
    out
}

const PADS: [&str; 4] = ["", " ", "\t", " \t "];

fn payload_hash(headers: &[(String, String)], body: &[u8]) -> String {
    if body.is_empty() {
        return hex::encode(Sha256::digest(b""));
    }
    match headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(HEADER_CONTENT_SHA256))
    {
        Some((_, v)) => v.clone(),
        None => hex::encode(Sha256::digest(body)),
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .expect("canonical forms encode UTF-8")
        .into_owned()
}

/// Canonical forms: deterministic; independent of query and header order, of header-name case,
/// of blanks around header values, of the method's case, of how the path is escaped, and of
/// unsigned (underscore) headers; `sign` equal for equal canonical requests and different for a
/// different key; the canonical query and URI decode back to the input; the payload hash and
/// the signed-header list follow the SDK rules.
#[test]
fn fuzz_signer_canonical() {
    fuzz("signer_canonical", sign_cases(), |c| {
        let path = encode_path(&c.path);
        let req = SigningRequest {
            method: &c.method,
            path: &path,
            query: &c.query,
            headers: &c.headers,
            body: &c.body,
        };
        let signed = signed_header_names(&c.headers);
        let canonical = canonical_request(&req, &signed);
        prop_assert_eq!(&canonical, &canonical_request(&req, &signed));
        let sig = sign(&req, &c.ak, &c.sk);
        prop_assert_eq!(&sig, &sign(&req, &c.ak, &c.sk));
        prop_assert_eq!(&sig.canonical_request, &canonical);

        // The same request, written differently.
        let method2 = flip_case(&c.method, c.flips);
        let path2 = if c.flips & 1 == 0 && !c.path.contains('%') {
            c.path.clone()
        } else {
            lower_escapes(&path, c.flips.rotate_left(7))
        };
        let query2 = shuffled(&c.query, c.shuffle);
        let mut headers2: Vec<(String, String)> = c
            .headers
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                let verbatim = k.eq_ignore_ascii_case(HEADER_DATE)
                    || k.eq_ignore_ascii_case(HEADER_CONTENT_SHA256);
                let (a, b) = c.pads[i % c.pads.len()];
                let v = if verbatim {
                    v.clone()
                } else {
                    format!("{}{v}{}", PADS[a as usize], PADS[b as usize])
                };
                (flip_case(k, c.flips.rotate_left(i as u32)), v)
            })
            .collect();
        headers2 = shuffled(&headers2, c.shuffle.rotate_left(17));
        let at = (c.shuffle as usize) % (headers2.len() + 1);
        headers2.insert(at, c.unsigned.clone());
        let req2 = SigningRequest {
            method: &method2,
            path: &path2,
            query: &query2,
            headers: &headers2,
            body: &c.body,
        };
        prop_assert_eq!(canonical_query(&query2), canonical_query(&c.query));
        prop_assert_eq!(canonical_uri(&path2), canonical_uri(&path));
        prop_assert_eq!(signed_header_names(&headers2), signed.clone());
        prop_assert_eq!(
            &sign(&req2, &c.ak, &c.sk),
            &sig,
            "equivalent requests sign differently"
        );

        // Another key, another signature.
        let mut other = c.sk.clone();
        other.push(b'x');
        prop_assert_ne!(
            sign(&req, &c.ak, &other).authorization,
            sig.authorization.clone()
        );

        // Signed headers: sorted, unique, lower case, no underscore, each one sent.
        prop_assert!(signed.windows(2).all(|w| w[0] < w[1]), "{signed:?}");
        for name in &signed {
            prop_assert!(!name.contains('_') && !name.chars().any(|c| c.is_ascii_uppercase()));
            let value = c.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
            let value = value.map(|(_, v)| v.trim()).unwrap_or_default();
            let line = format!("\n{name}:{value}\n");
            prop_assert!(canonical.contains(&line), "no {line:?} in {canonical:?}");
        }
        for (k, _) in &c.headers {
            prop_assert_eq!(!k.contains('_'), signed.contains(&k.to_ascii_lowercase()));
        }

        // Structure.
        let uri = canonical_uri(&path);
        let query = canonical_query(&c.query);
        let head = format!("{}\n{uri}\n{query}\n", c.method.to_ascii_uppercase());
        let tail = format!(
            "\n{}\n{}",
            signed.join(";"),
            payload_hash(&c.headers, &c.body)
        );
        prop_assert!(
            canonical.starts_with(&head),
            "{canonical:?} does not start with {head:?}"
        );
        prop_assert!(
            canonical.ends_with(&tail),
            "{canonical:?} does not end with {tail:?}"
        );
        let prefix = format!(
            "SDK-HMAC-SHA256 Access={}, SignedHeaders={}, Signature=",
            c.ak,
            signed.join(";")
        );
        let hexsig = sig.authorization.strip_prefix(&prefix);
        prop_assert!(
            hexsig.is_some_and(|s| s.len() == 64
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))),
            "{}",
            sig.authorization
        );

        // Round trips.
        let unreserved = |ch: char| ch.is_ascii_alphanumeric() || "-_.~%".contains(ch);
        prop_assert!(uri.chars().all(|ch| unreserved(ch) || ch == '/'), "{uri}");
        let mut want_path = c.path.clone();
        if !want_path.ends_with('/') {
            want_path.push('/');
        }
        prop_assert_eq!(decode(&uri), want_path);
        prop_assert!(
            query
                .chars()
                .all(|ch| unreserved(ch) || ch == '=' || ch == '&')
        );
        let mut sorted = c.query.clone();
        sorted.sort();
        let back: Vec<(String, String)> = if query.is_empty() {
            Vec::new()
        } else {
            query
                .split('&')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("k=v");
                    (decode(k), decode(v))
                })
                .collect()
        };
        prop_assert_eq!(back, sorted);
        Ok(())
    });
}

#[derive(Clone, Debug)]
struct PrepareCase {
    headers: Vec<(String, String)>,
    host: String,
    now: i64,
}

/// `prepare_headers`: keeps what is there, adds X-Sdk-Date (the time, in the SDK format), Host
/// and UNSIGNED-PAYLOAD exactly when the SDK does, and never a second date or host.
#[test]
fn fuzz_signer_prepare_headers() {
    let name = prop_oneof![
        3 => select(&["Content-Type", "content-type", "X-Sdk-Date", "x-sdk-date", "Host", "HOST", "X-Sdk-Content-Sha256", "X_Sdk_Date"][..]).prop_map(String::from),
        1 => header_name(),
    ];
    let value = prop_oneof![
        2 => select(&["application/json", "application/json; charset=utf-8", "application/bson", "text/plain", "Application/JSON", " application/json", ""][..]).prop_map(String::from),
        1 => wild(),
    ];
    let cases = (vec((name, value), 0..5), wild(), 0i64..253_402_300_800)
        .prop_map(|(headers, host, now)| PrepareCase { headers, host, now });
    fuzz("signer_prepare_headers", cases, |c| {
        let now = chrono::DateTime::from_timestamp(c.now, 0).expect("in range");
        let mut headers = c.headers.clone();
        prepare_headers(&mut headers, &c.host, now);
        prop_assert_eq!(
            &headers[..c.headers.len()],
            &c.headers[..],
            "existing headers changed"
        );
        let added = &headers[c.headers.len()..];
        let first = |name: &str| c.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
        let mut want = Vec::new();
        if let Some((_, ct)) = first("Content-Type")
            && !ct.starts_with("application/json")
            && !ct.starts_with("application/bson")
        {
            want.push((
                HEADER_CONTENT_SHA256.to_string(),
                "UNSIGNED-PAYLOAD".to_string(),
            ));
        }
        if first(HEADER_DATE).is_none() {
            want.push((HEADER_DATE.to_string(), now.format(DATE_FORMAT).to_string()));
        }
        if first("Host").is_none() {
            want.push(("Host".to_string(), c.host.clone()));
        }
        prop_assert_eq!(added, &want[..]);
        if let Some((_, date)) = added.iter().find(|(k, _)| k == HEADER_DATE) {
            let back = chrono::NaiveDateTime::parse_from_str(date, DATE_FORMAT)
                .map_err(|e| TestCaseError::fail(format!("{date:?}: {e}")))?;
            prop_assert_eq!(back.and_utc(), now);
        }
        // Again: no second date or host.
        let mut twice = headers.clone();
        prepare_headers(&mut twice, "other.example", now);
        let count = |h: &[(String, String)], name: &str| {
            h.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .count()
        };
        prop_assert_eq!(count(&twice, HEADER_DATE), count(&headers, HEADER_DATE));
        prop_assert_eq!(count(&twice, "Host"), count(&headers, "Host"));
        // What prepare adds is signed.
        let signed = signed_header_names(&headers);
        prop_assert!(
            signed.iter().any(|n| n == "host") && signed.iter().any(|n| n == "x-sdk-date")
        );
        Ok(())
    });
}
