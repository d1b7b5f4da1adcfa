//! Schemas of the answers (field order = declaration order: serde also accepts a struct as a
//! JSON array of its fields) and an oracle that says what serde must make of a JSON value.

use serde_json::{Value, json};

use crate::server::Payload;

#[derive(Clone, Copy, Debug)]
pub enum Ty {
    Str,
    /// A cloud id: a string that is not blank (`src/cloud/ids.rs`).
    Id,
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
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    /// `#[serde(default)]`: may be missing.
    pub default: bool,
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
    req("id", Ty::Id),
    req("name", Ty::Name),
    opt("remark", OS),
    opt("app_key", OS),
    opt("app_secret", OSECRET),
    opt("status", OI),
    opt("creator", OS),
    opt("bind_num", OI),
];
pub static APIG_APP: Ty = Ty::Obj(&APIG_APP_F);
static APIG_APP_LIST_F: [Field; 3] = [
    opt("total", Ty::I64),
    opt("size", Ty::I64),
    opt("apps", Ty::List(&APIG_APP)),
];
pub static APIG_APP_LIST: Ty = Ty::Obj(&APIG_APP_LIST_F);
static APP_CODE_F: [Field; 3] = [
    req("id", Ty::Id),
    req("app_code", Ty::Secret),
    opt("app_id", OS),
];
pub static APP_CODE: Ty = Ty::Obj(&APP_CODE_F);
static APP_CODE_LIST_F: [Field; 2] = [opt("total", Ty::I64), opt("app_codes", Ty::List(&APP_CODE))];
pub static APP_CODE_LIST: Ty = Ty::Obj(&APP_CODE_LIST_F);

static MA_APP_F: [Field; 7] = [
    req("app_id", Ty::Id),
    req("app_name", Ty::Name),
    opt("app_key", OS),
    opt("app_secret", OSECRET),
    opt("app_remark", OS),
    opt("app_codes", Ty::List(&Ty::Secret)),
    opt("bounded_api_count", OI),
];
static MA_APP: Ty = Ty::Obj(&MA_APP_F);
static MA_APP_BODY_F: [Field; 1] = [req("app", MA_APP)];
pub static MA_APP_BODY: Ty = Ty::Obj(&MA_APP_BODY_F);
static MA_APP_LIST_F: [Field; 2] = [opt("apps", Ty::List(&MA_APP)), opt("total_count", OI)];
pub static MA_APP_LIST: Ty = Ty::Obj(&MA_APP_LIST_F);
static MA_API_F: [Field; 8] = [
    req("api_id", Ty::Id),
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
pub static MA_API_BODY: Ty = Ty::Obj(&MA_API_BODY_F);
static MA_API_LIST_F: [Field; 1] = [opt("apis", Ty::List(&MA_API))];
pub static MA_API_LIST: Ty = Ty::Obj(&MA_API_LIST_F);
static AUTH_RESULT_F: [Field; 5] = [
    opt("api_id", OS),
    req("app_id", Ty::Id),
    opt("auth_id", OS),
    opt("reason", OS),
    opt("success", Ty::Bool),
];
static AUTH_RESULT: Ty = Ty::Obj(&AUTH_RESULT_F);
static MA_BIND_F: [Field; 1] = [opt("auth_result", Ty::List(&AUTH_RESULT))];
pub static MA_BIND: Ty = Ty::Obj(&MA_BIND_F);
static MA_UNBIND_F: [Field; 1] = [opt("unauth_result", Ty::List(&AUTH_RESULT))];
pub static MA_UNBIND: Ty = Ty::Obj(&MA_UNBIND_F);
static MA_BINDINGS_F: [Field; 1] = [opt("auths", Ty::List(&MA_APP))];
pub static MA_BINDINGS: Ty = Ty::Obj(&MA_BINDINGS_F);
static MA_EXISTS_F: [Field; 1] = [req("exists", Ty::Bool)];
pub static MA_EXISTS: Ty = Ty::Obj(&MA_EXISTS_F);

static DA_APP_F: [Field; 6] = [
    req("id", Ty::Id),
    req("name", Ty::Name),
    opt("description", OS),
    opt("app_key", OS),
    opt("app_secret", OSECRET),
    opt("app_type", OS),
];
pub static DA_APP: Ty = Ty::Obj(&DA_APP_F);
static DA_APP_LIST_F: [Field; 2] = [opt("total", Ty::I64), opt("apps", Ty::List(&DA_APP))];
pub static DA_APP_LIST: Ty = Ty::Obj(&DA_APP_LIST_F);

static ROMA_APP_F: [Field; 6] = [
    req("id", Ty::Id),
    req("name", Ty::Name),
    opt("remark", OS),
    opt("key", OS),
    opt("favorite", OB),
    opt("owner", OB),
];
pub static ROMA_APP: Ty = Ty::Obj(&ROMA_APP_F);
static ROMA_BRIEF_F: [Field; 3] = [req("id", Ty::Id), req("name", Ty::Name), opt("remark", OS)];
pub static ROMA_BRIEF: Ty = Ty::Obj(&ROMA_BRIEF_F);
static ROMA_APP_LIST_F: [Field; 2] = [opt("total", Ty::I64), opt("apps", Ty::List(&ROMA_APP))];
pub static ROMA_APP_LIST: Ty = Ty::Obj(&ROMA_APP_LIST_F);
static ROMA_SECRET_F: [Field; 1] = [req("secret", Ty::Secret)];
pub static ROMA_SECRET: Ty = Ty::Obj(&ROMA_SECRET_F);

static TOKEN_INFO_F: [Field; 2] = [
    req("expires_at", Ty::Time),
    opt("issued_at", Ty::Opt(&Ty::Time)),
];
static TOKEN_BODY_F: [Field; 1] = [req("token", Ty::Obj(&TOKEN_INFO_F))];
pub static TOKEN_BODY: Ty = Ty::Obj(&TOKEN_BODY_F);

static ERROR_BODY_F: [Field; 2] = [opt("error_code", Ty::Opt(&Ty::Code)), opt("error_msg", OS)];
pub static ERROR_BODY: Ty = Ty::Obj(&ERROR_BODY_F);

/// Every field name above, so that arbitrary JSON often hits a real field.
pub const FIELD_NAMES: &[&str] = &[
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

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

pub fn default_of(ty: &Ty) -> Value {
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
        (Ty::Id, Value::String(s)) if s.trim().is_empty() => Err("an empty id".into()),
        (Ty::Str | Ty::Id | Ty::Name | Ty::Secret | Ty::Time | Ty::Code, Value::String(_)) => {
            Ok(v.clone())
        }
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

/// The verdict on a cloud answer: as [`oracle`], and the client refuses any answer that is
/// not a JSON object (a struct in positional form included).
pub fn answer_oracle(ty: &Ty, payload: &Payload) -> Option<(bool, Result<Value, String>)> {
    judged(payload, |v| match v {
        Value::Object(_) => conform(ty, v),
        _ => Err("not a JSON object".into()),
    })
}

/// The oracle's verdict on a payload: `(exact, verdict)`, or `None` when there is no JSON
/// value to judge (or one too deep for serde's recursion limit).
pub fn oracle(ty: &Ty, payload: &Payload) -> Option<(bool, Result<Value, String>)> {
    judged(payload, |v| conform(ty, v))
}

/// `judge` applied to the payload's JSON value, parsed once.
fn judged(
    payload: &Payload,
    judge: impl Fn(&Value) -> Result<Value, String>,
) -> Option<(bool, Result<Value, String>)> {
    match &payload.exact {
        Some(v) => (depth(v) <= 100).then(|| (true, judge(v))),
        None => serde_json::from_slice::<Value>(&payload.bytes)
            .ok()
            .filter(|v| depth(v) <= 100)
            .map(|v| (false, judge(&v))),
    }
}
