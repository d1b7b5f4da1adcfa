//! Admission matrices shared by the client-side CEL tests and the real-apiserver tests.

use appauth_operator::api::{FINGERPRINT_LEN, GatewayApp, InferenceApi};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::{Value, json};

/// The longest description: what the cloud takes (255 characters, ModelArts 200) less the
/// fingerprint the operator appends.
const DESCRIPTION_MAX: usize = 255 - FINGERPRINT_LEN;
const MODELARTS_DESCRIPTION_MAX: usize = 200 - FINGERPRINT_LEN;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    GatewayApp,
    InferenceApi,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::GatewayApp => "GatewayApp",
            Kind::InferenceApi => "InferenceApi",
        }
    }
}

/// A spec the apiserver must reject, with the field its message must name.
pub struct Reject {
    pub name: &'static str,
    pub kind: Kind,
    pub spec: Value,
    /// Substring the rejection must contain (the field path).
    pub field: &'static str,
    /// Rejected by a CEL rule (and so also by the client-side evaluator), not by the schema.
    pub by_cel: bool,
}

/// A spec the apiserver must accept.
pub struct Accept {
    pub name: &'static str,
    pub kind: Kind,
    pub spec: Value,
}

pub fn object(kind: Kind, name: &str, spec: &Value) -> Value {
    json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1",
        "kind": kind.as_str(),
        "metadata": {"name": name},
        "spec": spec,
    })
}

fn gw(name: &'static str, spec: Value, field: &'static str, by_cel: bool) -> Reject {
    Reject {
        name,
        kind: Kind::GatewayApp,
        spec,
        field,
        by_cel,
    }
}

fn inf(name: &'static str, spec: Value, field: &'static str, by_cel: bool) -> Reject {
    Reject {
        name,
        kind: Kind::InferenceApi,
        spec,
        field,
        by_cel,
    }
}

const SVC: &str = "ae20fc9f-b37c-48c2-8ebc-3f3a638c9f48";

pub fn rejects() -> Vec<Reject> {
    let apig = json!({"instanceId": "gw1"});
    vec![
        gw(
            "no-service",
            json!({"appName": "orders_client"}),
            "exactly one of apig",
            true,
        ),
        gw(
            "two-services",
            json!({"apig": apig, "roma": {"instanceId": "r1"}}),
            "exactly one of apig",
            true,
        ),
        gw(
            "four-services",
            json!({"apig": apig, "roma": {"instanceId": "r1"}, "modelarts": {}, "dataarts": {"workspaceId": "w"}}),
            "exactly one of apig",
            true,
        ),
        gw(
            "apig-no-instance",
            json!({"apig": {}}),
            "spec.apig.instanceId",
            false,
        ),
        gw(
            "roma-no-instance",
            json!({"roma": {"favorite": true}}),
            "spec.roma.instanceId",
            false,
        ),
        gw(
            "dataarts-no-workspace",
            json!({"dataarts": {"dlmType": "SHARED"}}),
            "spec.dataarts.workspaceId",
            false,
        ),
        gw(
            "apig-instance-bad-chars",
            json!({"apig": {"instanceId": "gw/1"}}),
            "spec.apig.instanceId",
            false,
        ),
        gw(
            "apig-name-starts-with-digit",
            json!({"apig": apig, "appName": "1orders"}),
            "spec.appName",
            true,
        ),
        gw(
            "apig-name-too-short",
            json!({"apig": apig, "appName": "ab"}),
            "spec.appName",
            true,
        ),
        gw(
            "apig-name-hyphen",
            json!({"apig": apig, "appName": "orders-client"}),
            "spec.appName",
            true,
        ),
        gw(
            "apig-name-space",
            json!({"apig": apig, "appName": "orders client"}),
            "spec.appName",
            true,
        ),
        gw(
            "name-too-long",
            json!({"apig": apig, "appName": "a".repeat(65)}),
            "spec.appName",
            false,
        ),
        gw(
            "name-empty",
            json!({"modelarts": {}, "appName": ""}),
            "spec.appName",
            false,
        ),
        gw(
            "roma-name-slash",
            json!({"roma": {"instanceId": "r1"}, "appName": "billing/sync"}),
            "spec.appName",
            true,
        ),
        gw(
            "roma-name-leading-space",
            json!({"roma": {"instanceId": "r1"}, "appName": " billing"}),
            "spec.appName",
            true,
        ),
        gw(
            "description-too-long",
            json!({"apig": apig, "description": "d".repeat(DESCRIPTION_MAX + 1)}),
            "spec.description",
            false,
        ),
        gw(
            "modelarts-description-too-long",
            json!({"modelarts": {}, "description": "d".repeat(MODELARTS_DESCRIPTION_MAX + 1)}),
            "spec.description",
            true,
        ),
        gw(
            "generated-on-modelarts",
            json!({"modelarts": {}, "credentials": "Generated"}),
            "spec.credentials",
            true,
        ),
        gw(
            "generated-on-dataarts",
            json!({"dataarts": {"workspaceId": "w1"}, "credentials": "Generated"}),
            "spec.credentials",
            true,
        ),
        gw(
            "fromsecret-without-source",
            json!({"apig": apig, "credentials": "FromSecret"}),
            "spec.credentialsFrom",
            true,
        ),
        gw(
            "source-without-fromsecret",
            json!({"apig": apig, "credentialsFrom": {"name": "byo"}}),
            "spec.credentialsFrom",
            true,
        ),
        gw(
            "unknown-credentials-mode",
            json!({"apig": apig, "credentials": "Magic"}),
            "spec.credentials",
            false,
        ),
        gw(
            "unknown-dlm-type",
            json!({"dataarts": {"workspaceId": "w1", "dlmType": "BOTH"}}),
            "spec.dataarts.dlmType",
            false,
        ),
        gw(
            "unknown-deletion-policy",
            json!({"apig": apig, "deletionPolicy": "Orphan"}),
            "spec.deletionPolicy",
            false,
        ),
        gw(
            "secret-name-not-dns",
            json!({"apig": apig, "secret": {"name": "Orders_Creds"}}),
            "spec.secret.name",
            false,
        ),
        gw(
            "secret-keys-not-distinct",
            json!({"apig": apig, "secret": {"keys": {"appKey": "k", "appSecret": "k"}}}),
            "spec.secret.keys",
            true,
        ),
        gw(
            "secret-key-default-clash",
            json!({"apig": apig, "secret": {"keys": {"appId": "app_key"}}}),
            "spec.secret.keys",
            true,
        ),
        gw(
            "secret-key-invalid",
            json!({"apig": apig, "secret": {"keys": {"appKey": "a/b"}}}),
            "spec.secret.keys.appKey",
            false,
        ),
        gw(
            "secret-label-managed-by",
            json!({"apig": apig, "secret": {"labels": {"app.kubernetes.io/managed-by": "me"}}}),
            "spec.secret.labels",
            true,
        ),
        gw(
            "secret-label-owner-kind",
            json!({"apig": apig, "secret": {"labels": {"appauth.hwcloud.dev/owner-kind": "InferenceApi"}}}),
            "spec.secret.labels",
            true,
        ),
        gw(
            "secret-annotation-reserved",
            json!({"apig": apig, "secret": {"annotations": {"appauth.hwcloud.dev/owner-uid": "x"}}}),
            "spec.secret.annotations",
            true,
        ),
        gw(
            "rotation-too-short",
            json!({"apig": apig, "rotation": {"interval": "30m"}}),
            "spec.rotation.interval",
            true,
        ),
        gw(
            "rotation-not-a-duration",
            json!({"apig": apig, "rotation": {"interval": "monthly"}}),
            "spec.rotation.interval",
            true,
        ),
        gw(
            "rotation-days-unit",
            json!({"apig": apig, "rotation": {"interval": "30d"}}),
            "spec.rotation.interval",
            true,
        ),
        gw(
            "appcode-on-dataarts",
            json!({"dataarts": {"workspaceId": "w1"}, "appCode": true}),
            "spec.appCode",
            true,
        ),
        gw(
            "appcode-on-roma",
            json!({"roma": {"instanceId": "r1"}, "appCode": true}),
            "spec.appCode",
            true,
        ),
        gw(
            "account-ref-bad-name",
            json!({"apig": apig, "accountRef": {"name": "Hw Account"}}),
            "spec.accountRef.name",
            false,
        ),
        gw(
            "account-ref-no-name",
            json!({"apig": apig, "accountRef": {}}),
            "spec.accountRef.name",
            false,
        ),
        gw(
            "appcode-wrong-type",
            json!({"apig": apig, "appCode": "yes"}),
            "spec.appCode",
            false,
        ),
        inf(
            "api-no-service",
            json!({"apiName": "fraud"}),
            "spec.serviceId",
            false,
        ),
        inf(
            "api-service-bad-chars",
            json!({"serviceId": "ae20/../x"}),
            "spec.serviceId",
            false,
        ),
        inf(
            "api-refs-without-app-auth",
            json!({"serviceId": SVC, "authType": "NONE", "appRefs": [{"name": "a"}]}),
            "spec.appRefs",
            true,
        ),
        inf(
            "api-unknown-method",
            json!({"serviceId": SVC, "method": "FETCH"}),
            "spec.method",
            false,
        ),
        inf(
            "api-unknown-auth",
            json!({"serviceId": SVC, "authType": "APIG"}),
            "spec.authType",
            false,
        ),
        inf(
            "api-path-relative",
            json!({"serviceId": SVC, "apiPath": "v1/infers"}),
            "spec.apiPath",
            false,
        ),
        inf(
            "api-url-not-http",
            json!({"serviceId": SVC, "apiUrl": "ftp://example.com/x"}),
            "spec.apiUrl",
            false,
        ),
        inf(
            "api-duplicate-refs",
            json!({"serviceId": SVC, "appRefs": [{"name": "a"}, {"name": "a"}]}),
            "spec.appRefs",
            false,
        ),
        inf(
            "api-description-too-long",
            json!({"serviceId": SVC, "description": "d".repeat(DESCRIPTION_MAX + 1)}),
            "spec.description",
            false,
        ),
        inf(
            "api-secret-bad-name",
            json!({"serviceId": SVC, "secret": {"name": "UPPER"}}),
            "spec.secret.name",
            false,
        ),
        // Hostile input: wrong types, overlong and unicode values, control characters.
        gw(
            "name-wrong-type",
            json!({"apig": apig, "appName": 12345}),
            "spec.appName",
            false,
        ),
        gw(
            "secret-wrong-type",
            json!({"apig": apig, "secret": "creds"}),
            "spec.secret",
            false,
        ),
        gw(
            "rotation-interval-number",
            json!({"apig": apig, "rotation": {"interval": 3600}}),
            "spec.rotation.interval",
            false,
        ),
        gw(
            "instance-wrong-type",
            json!({"apig": {"instanceId": ["gw1"]}}),
            "spec.apig.instanceId",
            false,
        ),
        gw(
            "account-ref-wrong-type",
            json!({"apig": apig, "accountRef": "hwcloud-account"}),
            "spec.accountRef",
            false,
        ),
        gw(
            "roma-name-overlong-unicode",
            json!({"roma": {"instanceId": "r1"}, "appName": "订".repeat(65)}),
            "spec.appName",
            false,
        ),
        gw(
            "roma-name-emoji",
            json!({"roma": {"instanceId": "r1"}, "appName": "\u{1F680}launch"}),
            "spec.appName",
            true,
        ),
        gw(
            "roma-name-control-char",
            json!({"roma": {"instanceId": "r1"}, "appName": "bad\u{7}name"}),
            "spec.appName",
            true,
        ),
        gw(
            "apig-name-zero-width-joiner",
            json!({"apig": apig, "appName": "order\u{200d}s"}),
            "spec.appName",
            true,
        ),
        gw(
            "roma-style-name-on-apig",
            json!({"apig": apig, "appName": "orders client (v2)"}),
            "spec.appName",
            true,
        ),
        gw(
            "modelarts-description-overlong-unicode",
            json!({"modelarts": {}, "description": "描".repeat(MODELARTS_DESCRIPTION_MAX + 1)}),
            "spec.description",
            true,
        ),
        gw(
            "secret-labels-too-many",
            json!({"apig": apig, "secret": {"labels": (0..65).map(|i| (format!("l{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}}),
            "spec.secret.labels",
            false,
        ),
        gw(
            "template-key-is-a-credential-key",
            json!({"apig": apig, "secret": {"template": {"app_secret": "{{ appSecret }}"}}}),
            "spec.secret.template",
            true,
        ),
        gw(
            "template-key-is-a-custom-credential-key",
            json!({"apig": apig, "secret": {"keys": {"appKey": "AK"}, "template": {"AK": "x"}}}),
            "spec.secret.template",
            true,
        ),
        gw(
            "template-key-invalid",
            json!({"apig": apig, "secret": {"template": {"config/app.json": "x"}}}),
            "spec.secret.template",
            true,
        ),
        gw(
            "template-key-too-long",
            json!({"apig": apig, "secret": {"template": {"k".repeat(254): "x"}}}),
            "spec.secret.template",
            true,
        ),
        gw(
            "template-too-long",
            json!({"apig": apig, "secret": {"template": {"k": "x".repeat(4097)}}}),
            "spec.secret.template",
            false,
        ),
        gw(
            "templates-too-many",
            json!({"apig": apig, "secret": {"template": (0..17).map(|i| (format!("t{i}"), json!("x"))).collect::<serde_json::Map<_, _>>()}}),
            "spec.secret.template",
            false,
        ),
        inf(
            "api-too-many-refs",
            json!({"serviceId": SVC, "appRefs": (0..65).map(|i| json!({"name": format!("a{i}")})).collect::<Vec<_>>()}),
            "spec.appRefs",
            false,
        ),
    ]
}

fn gw_ok(name: &'static str, spec: Value) -> Accept {
    Accept {
        name,
        kind: Kind::GatewayApp,
        spec,
    }
}

pub fn accepts() -> Vec<Accept> {
    let apig = json!({"instanceId": "gw1"});
    let dns_253 = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    );
    vec![
        gw_ok("apig-minimal", json!({"apig": apig})),
        gw_ok(
            "apig-name-64",
            json!({"apig": apig, "appName": format!("A{}", "b_9".repeat(21))}),
        ),
        gw_ok("apig-name-3", json!({"apig": apig, "appName": "abc"})),
        gw_ok(
            "apig-name-chinese",
            json!({"apig": apig, "appName": "订单客户端_app"}),
        ),
        gw_ok(
            "apig-description-at-the-limit",
            json!({"apig": apig, "description": "d".repeat(DESCRIPTION_MAX)}),
        ),
        gw_ok("modelarts-empty-block", json!({"modelarts": {}})),
        gw_ok(
            "modelarts-description-at-the-limit",
            json!({"modelarts": {"workspaceId": "ws-1"}, "description": "d".repeat(MODELARTS_DESCRIPTION_MAX), "appCode": true}),
        ),
        gw_ok(
            "modelarts-free-name",
            json!({"modelarts": {}, "appName": "any-name.v2"}),
        ),
        gw_ok(
            "dataarts-exclusive",
            json!({"dataarts": {"workspaceId": "w1", "dlmType": "EXCLUSIVE"}, "deletionPolicy": "Retain"}),
        ),
        gw_ok(
            "roma-unicode-name",
            json!({"roma": {"instanceId": "r1", "favorite": true}, "appName": "订单 (prod).v1-客户端_x"}),
        ),
        gw_ok(
            "roma-name-64",
            json!({"roma": {"instanceId": "r1"}, "appName": "名".repeat(64)}),
        ),
        gw_ok(
            "roma-generated",
            json!({"roma": {"instanceId": "r1"}, "credentials": "Generated"}),
        ),
        gw_ok(
            "roma-fromsecret",
            json!({"roma": {"instanceId": "r1"}, "credentials": "FromSecret", "credentialsFrom": {"name": "byo-creds"}}),
        ),
        gw_ok(
            "apig-generated-appcode",
            json!({"apig": apig, "credentials": "Generated", "appCode": true}),
        ),
        gw_ok(
            "secret-every-field",
            json!({"apig": apig, "secret": {
            "name": dns_253,
            "keys": {"appKey": "AK", "appSecret": "SK", "appId": "id.txt", "appCode": "code-1"},
            "labels": {"team": "orders", "tier": "x".repeat(63)},
            "annotations": {"reloader.stakater.com/match": "true", "note": "n".repeat(4096)}}}),
        ),
        gw_ok(
            "templates-at-the-limits",
            json!({"apig": apig, "appCode": true, "secret": {"template": (0..16)
                .map(|i| (format!("{i:x}{}", "k".repeat(252)), json!("x".repeat(4096))))
                .collect::<serde_json::Map<_, _>>()}}),
        ),
        gw_ok(
            "template-key-freed-by-renaming-a-credential-key",
            json!({"apig": apig, "secret": {"keys": {"appKey": "AK"}, "template": {"app_key": "{{ appKey }}", ".env": "K={{ appKey }}"}}}),
        ),
        gw_ok(
            "rotation-1h",
            json!({"apig": apig, "rotation": {"interval": "1h"}}),
        ),
        gw_ok(
            "rotation-compound",
            json!({"apig": apig, "rotation": {"interval": "1h30m"}}),
        ),
        gw_ok(
            "rotation-720h",
            json!({"apig": apig, "rotation": {"interval": "720h"}}),
        ),
        gw_ok(
            "account-ref",
            json!({"dataarts": {"workspaceId": "w1"}, "accountRef": {"name": "hwcloud-account"}}),
        ),
        gw_ok(
            "instance-id-64",
            json!({"apig": {"instanceId": "f".repeat(64)}}),
        ),
        Accept {
            name: "api-minimal",
            kind: Kind::InferenceApi,
            spec: json!({"serviceId": SVC}),
        },
        Accept {
            name: "api-every-field",
            kind: Kind::InferenceApi,
            spec: json!({
            "serviceId": SVC, "workspaceId": "0", "apiName": format!("a{}", "_".repeat(63)),
            "apiPath": format!("/{}", "p".repeat(254)), "apiUrl": format!("https://{}", "u".repeat(247)),
            "method": "OPTIONS", "authType": "APP", "supportAppCode": true, "description": "d".repeat(DESCRIPTION_MAX),
            "appRefs": [{"name": "a"}, {"name": "b"}], "secret": {"name": "fraud-score-endpoint"},
            "deletionPolicy": "Retain", "accountRef": {"name": "acct"}}),
        },
        Accept {
            name: "api-iam-no-refs",
            kind: Kind::InferenceApi,
            spec: json!({"serviceId": SVC, "authType": "IAM", "appRefs": []}),
        },
    ]
}

/// The API of either kind, untyped, so that objects the types cannot hold reach the apiserver.
pub fn api(client: &Client, ns: &str, kind: Kind) -> Api<DynamicObject> {
    let ar = match kind {
        Kind::GatewayApp => ApiResource::erase::<GatewayApp>(&()),
        Kind::InferenceApi => ApiResource::erase::<InferenceApi>(&()),
    };
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// Creates the object; a rejection comes back as its message and code.
pub async fn create(client: &Client, ns: &str, kind: Kind, obj: &Value) -> Result<(), String> {
    let obj: DynamicObject = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    match api(client, ns, kind)
        .create(&PostParams::default(), &obj)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) => Err(format!("{} ({})", status.message, status.code)),
        Err(e) => panic!("unexpected client error: {e}"),
    }
}
