//! Typed answers as JSON, to compare with the oracle, and the checks that no secret shows.
//! Secrets are exposed here on purpose; the `Debug` of the typed value is checked separately.

use std::fmt::Debug;

use appauth_operator::backend::CloudApp;
use appauth_operator::cloud::apig::{ApigApp, AppCode};
use appauth_operator::cloud::dataarts::DataArtsApp;
use appauth_operator::cloud::modelarts::{AuthResult, InferenceApiInfo, ModelArtsApp};
use appauth_operator::cloud::roma::RomaApp;
use appauth_operator::cloud::{CloudError, ExposeSecret, SecretString};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde_json::{Value, json};

use crate::runner::{MARK, NAME};

pub type Obs = (Value, String);

pub fn secret_json(s: Option<&SecretString>) -> Value {
    s.map_or(Value::Null, |s| Value::from(s.expose_secret()))
}

pub fn cloud_app_json(a: &CloudApp) -> Value {
    json!({"id": a.id, "name": a.name, "remark": a.remark, "key": a.key,
           "secret": secret_json(a.secret.as_ref())})
}

pub fn apig_app_json(a: &ApigApp) -> Value {
    json!({"id": a.id, "name": a.name, "remark": a.remark, "app_key": a.app_key,
           "app_secret": secret_json(a.app_secret.as_ref()), "status": a.status,
           "creator": a.creator, "bind_num": a.bind_num})
}

pub fn app_code_json(c: &AppCode) -> Value {
    json!({"id": c.id, "app_code": c.app_code.expose_secret(), "app_id": c.app_id})
}

pub fn ma_app_json(a: &ModelArtsApp) -> Value {
    json!({"app_id": a.app_id, "app_name": a.app_name, "app_key": a.app_key,
           "app_secret": secret_json(a.app_secret.as_ref()), "app_remark": a.app_remark,
           "app_codes": a.app_codes.iter().map(|c| c.expose_secret()).collect::<Vec<_>>(),
           "bounded_api_count": a.bounded_api_count})
}

pub fn api_json(a: &InferenceApiInfo) -> Value {
    json!({"api_id": a.api_id, "api_name": a.api_name, "api_method": a.api_method,
           "api_remark": a.api_remark, "auth_type": a.auth_type, "predict_url": a.predict_url,
           "service_id": a.service_id, "support_app_code": a.support_app_code})
}

pub fn auth_json(a: &AuthResult) -> Value {
    json!({"api_id": a.api_id, "app_id": a.app_id, "auth_id": a.auth_id, "reason": a.reason,
           "success": a.success})
}

pub fn da_app_json(a: &DataArtsApp) -> Value {
    json!({"id": a.id, "name": a.name, "description": a.description, "app_key": a.app_key,
           "app_secret": secret_json(a.app_secret.as_ref()), "app_type": a.app_type})
}

pub fn roma_app_json(a: &RomaApp) -> Value {
    json!({"id": a.id, "name": a.name, "remark": a.remark, "key": a.key,
           "favorite": a.favorite, "owner": a.owner})
}

pub fn obs<T: Debug>(value: &T, to_json: impl Fn(&T) -> Value) -> Obs {
    (to_json(value), format!("{value:?}"))
}

pub fn obs_list<T: Debug>(values: &[T], to_json: impl Fn(&T) -> Value) -> Obs {
    (
        Value::Array(values.iter().map(to_json).collect()),
        format!("{values:?}"),
    )
}

/// The operator's view of a secret: none when absent or masked.
pub fn unmasked(v: &Value) -> Value {
    match v.as_str() {
        Some(s) if !s.contains('*') => v.clone(),
        _ => Value::Null,
    }
}

pub fn the_app() -> CloudApp {
    CloudApp {
        id: "app-1".into(),
        name: NAME.into(),
        remark: Some("remark".into()),
        key: None,
        secret: None,
    }
}

/// Names of the fields that hold secrets, in the JSON views above.
const SECRET_FIELDS: [&str; 4] = ["secret", "app_secret", "app_code", "app_codes"];

/// Generated secrets (`MARK…`) that were decoded into a secret field. A generated secret that
/// a mutated answer put in another field (say, positionally into `app_key`) is that field's
/// value and may show.
fn decoded_secrets<'a>(v: &'a Value, in_secret_field: bool, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) if in_secret_field && s.starts_with(MARK) => out.push(s),
        Value::Array(items) => items
            .iter()
            .for_each(|i| decoded_secrets(i, in_secret_field, out)),
        Value::Object(members) => members
            .iter()
            .for_each(|(k, m)| decoded_secrets(m, SECRET_FIELDS.contains(&k.as_str()), out)),
        _ => {}
    }
}

/// No decoded secret in the decoded value's `Debug`, and no secret at all in an error's text.
pub fn no_secret_in(result: &Result<Obs, CloudError>) -> TestCaseResult {
    match result {
        Ok((observed, debug)) => {
            let mut secrets = Vec::new();
            decoded_secrets(observed, false, &mut secrets);
            for s in secrets {
                prop_assert!(
                    !debug.contains(s),
                    "a secret in the Debug of a decoded value: {debug}"
                );
            }
        }
        Err(e) => {
            let text = format!("{e}\n{e:?}");
            prop_assert!(!text.contains(MARK), "a secret in an error's text: {text}");
        }
    }
    Ok(())
}
