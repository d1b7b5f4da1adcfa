//! The CRDs' CEL rules evaluated client-side (kube's `cel` feature), without a server. The real
//! apiserver is the authority (the `admission` module); this catches rule mistakes in milliseconds.

use crate::common;

use appauth_operator::api::{GatewayApp, InferenceApi};
use common::cases::{self, Kind};
use kube::CustomResourceExt;
use kube::core::cel::Validator;
use serde_json::{Value, json};

fn schema(kind: Kind) -> Value {
    let crd = match kind {
        Kind::GatewayApp => GatewayApp::crd(),
        Kind::InferenceApi => InferenceApi::crd(),
    };
    let schema = crd.spec.versions[0]
        .schema
        .clone()
        .and_then(|s| s.open_api_v3_schema);
    serde_json::to_value(schema.expect("derived CRD has a schema")).expect("schema to JSON")
}

fn check(kind: Kind, object: &Value, old: Option<&Value>) -> Result<(), String> {
    Validator::new()
        .validate(&schema(kind), object, old)
        .map_err(|errors| {
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })
}

#[test]
fn cel_rejects_every_cel_case_naming_the_field() {
    let mut checked = 0;
    for case in cases::rejects().into_iter().filter(|c| c.by_cel) {
        let obj = cases::object(case.kind, case.name, &case.spec);
        match check(case.kind, &obj, None) {
            Ok(()) => panic!(
                "{}: accepted, expected a rejection naming {}",
                case.name, case.field
            ),
            Err(msg) => assert!(
                msg.contains(case.field),
                "{}: message {msg:?} does not name {}",
                case.name,
                case.field
            ),
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} CEL cases");
}

#[test]
fn cel_accepts_the_must_accept_matrix() {
    for case in cases::accepts() {
        let obj = cases::object(case.kind, case.name, &case.spec);
        if let Err(msg) = check(case.kind, &obj, None) {
            panic!("{}: rejected: {msg}", case.name);
        }
    }
}

fn gateway_app(spec: Value, status: Option<Value>) -> Value {
    let mut obj = cases::object(Kind::GatewayApp, "x", &spec);
    if let Some(status) = status {
        obj["status"] = status;
    }
    obj
}

/// (description, old spec, new spec, field the rejection must name)
fn gateway_app_transitions() -> Vec<(&'static str, Value, Value, &'static str)> {
    let apig = json!({"apig": {"instanceId": "gw1"}, "appName": "orders_client"});
    vec![
        (
            "instance",
            apig.clone(),
            json!({"apig": {"instanceId": "gw2"}, "appName": "orders_client"}),
            "spec.apig.instanceId",
        ),
        (
            "service switch",
            apig.clone(),
            json!({"roma": {"instanceId": "gw1"}, "appName": "orders_client"}),
            "the service block is immutable",
        ),
        (
            "block added",
            apig.clone(),
            json!({"apig": {"instanceId": "gw1"}, "roma": {"instanceId": "r"}, "appName": "orders_client"}),
            "the service block is immutable",
        ),
        (
            "name",
            apig.clone(),
            json!({"apig": {"instanceId": "gw1"}, "appName": "other_name"}),
            "spec.appName",
        ),
        (
            "name removed",
            apig.clone(),
            json!({"apig": {"instanceId": "gw1"}}),
            "spec.appName",
        ),
        (
            "credentials",
            apig.clone(),
            json!({"apig": {"instanceId": "gw1"}, "appName": "orders_client", "credentials": "Generated"}),
            "spec.credentials",
        ),
        (
            "workspace",
            json!({"dataarts": {"workspaceId": "w1"}}),
            json!({"dataarts": {"workspaceId": "w2"}}),
            "spec.dataarts.workspaceId",
        ),
        (
            "dlm type",
            json!({"dataarts": {"workspaceId": "w1"}}),
            json!({"dataarts": {"workspaceId": "w1", "dlmType": "EXCLUSIVE"}}),
            "spec.dataarts.dlmType",
        ),
        (
            "modelarts workspace",
            json!({"modelarts": {}}),
            json!({"modelarts": {"workspaceId": "7"}}),
            "spec.modelarts.workspaceId",
        ),
        (
            "roma instance",
            json!({"roma": {"instanceId": "r1"}}),
            json!({"roma": {"instanceId": "r2"}}),
            "spec.roma.instanceId",
        ),
    ]
}

#[test]
fn immutable_fields_change_freely_before_the_app_exists() {
    // "block added" breaks the exactly-one rule on its own, so it is rejected either way.
    for (what, old, new, _) in gateway_app_transitions()
        .into_iter()
        .filter(|t| t.0 != "block added")
    {
        let result = check(
            Kind::GatewayApp,
            &gateway_app(new, None),
            Some(&gateway_app(old, None)),
        );
        assert!(
            result.is_ok(),
            "{what}: rejected before status.appId: {result:?}"
        );
    }
}

#[test]
fn immutable_fields_are_locked_once_the_app_exists() {
    let status = json!({"appId": "abc123", "appName": "orders_client"});
    for (what, old, new, field) in gateway_app_transitions() {
        let result = check(
            Kind::GatewayApp,
            &gateway_app(new, Some(status.clone())),
            Some(&gateway_app(old, Some(status.clone()))),
        );
        let msg = result.expect_err(what);
        assert!(msg.contains(field), "{what}: {msg:?} does not name {field}");
    }
}

#[test]
fn mutable_fields_and_restating_the_name_stay_allowed_once_the_app_exists() {
    let status = json!({"appId": "abc123", "appName": "default_x_1a2b3c4d"});
    let old = gateway_app(json!({"apig": {"instanceId": "gw1"}}), Some(status.clone()));
    for new in [
        json!({"apig": {"instanceId": "gw1"}, "description": "changed", "appCode": true, "deletionPolicy": "Retain"}),
        json!({"apig": {"instanceId": "gw1"}, "secret": {"name": "other"}, "rotation": {"interval": "2h"}, "accountRef": {"name": "a"}}),
        json!({"apig": {"instanceId": "gw1"}, "appName": "default_x_1a2b3c4d"}),
    ] {
        let result = check(
            Kind::GatewayApp,
            &gateway_app(new.clone(), Some(status.clone())),
            Some(&old),
        );
        assert!(result.is_ok(), "{new}: {result:?}");
    }
}

#[test]
fn inference_api_fields_are_locked_once_the_api_exists_except_refs_and_secret() {
    let spec = json!({"serviceId": "svc-1", "apiName": "fraud", "description": "d"});
    let with_status = |spec: Value, status: Option<Value>| {
        let mut obj = cases::object(Kind::InferenceApi, "x", &spec);
        if let Some(s) = status {
            obj["status"] = s;
        }
        obj
    };
    let status = Some(json!({"apiId": "api-1"}));
    let old = with_status(spec.clone(), status.clone());
    for (field, new) in [
        (
            "spec.serviceId",
            json!({"serviceId": "svc-2", "apiName": "fraud", "description": "d"}),
        ),
        (
            "spec.apiName",
            json!({"serviceId": "svc-1", "apiName": "other", "description": "d"}),
        ),
        (
            "spec.apiName",
            json!({"serviceId": "svc-1", "description": "d"}),
        ),
        (
            "spec.description",
            json!({"serviceId": "svc-1", "apiName": "fraud"}),
        ),
        (
            "spec.method",
            json!({"serviceId": "svc-1", "apiName": "fraud", "description": "d", "method": "GET"}),
        ),
        (
            "spec.apiPath",
            json!({"serviceId": "svc-1", "apiName": "fraud", "description": "d", "apiPath": "/x"}),
        ),
        (
            "spec.supportAppCode",
            json!({"serviceId": "svc-1", "apiName": "fraud", "description": "d", "supportAppCode": true}),
        ),
    ] {
        let msg = check(
            Kind::InferenceApi,
            &with_status(new.clone(), status.clone()),
            Some(&old),
        )
        .expect_err(field);
        assert!(msg.contains(field), "{new}: {msg:?} does not name {field}");
        // The same change before the API exists is fine.
        assert!(
            check(
                Kind::InferenceApi,
                &with_status(new, None),
                Some(&with_status(spec.clone(), None))
            )
            .is_ok()
        );
    }
    let refs = json!({"serviceId": "svc-1", "apiName": "fraud", "description": "d",
        "appRefs": [{"name": "a"}], "secret": {"name": "s"}, "deletionPolicy": "Retain"});
    assert!(
        check(
            Kind::InferenceApi,
            &with_status(refs, status.clone()),
            Some(&old)
        )
        .is_ok()
    );
}
