//! The chart's tenancy admission policy against a REAL kube-apiserver: namespaces granted by
//! name and by label, each rule refused with its name in the message, grants that add up per
//! policy and not per rule, metadata updates and deletes that pass in a namespace whose grant
//! is gone, no grant set meaning no policy, a grant set as large as the apiserver stores within
//! the CEL cost limits, and, over a grid of requests, the same answer as `policy::decide`.
//!
//! Isolation: each test installs the policy and binding as the chart renders them, under names
//! of its own, with a grant set name of its own, and binds them only to namespaces labelled
//! with its own token, so nothing here can refuse another test's objects. No AppAuthPolicy is
//! ever created (the operators of other tests would obey it): the grant set is written
//! directly, made by `policy::compile` as the operator makes it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use appauth_operator::api::{
    AccountGrant, AppAuthGrantSet, AppAuthPolicy, AppAuthPolicySpec, DeletionPolicy, GatewayApp,
    InferenceApi, NamespaceSelection, NamespaceSelector, SelectorOperator, SelectorRequirement,
    ServiceGrant,
};
use appauth_operator::controller::tenancy::Governed;
use appauth_operator::policy::{self, Decision};
use futures::StreamExt;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, CustomResourceExt};
use serde_json::{Value, json};

use crate::chart::support::{find, kubectl, render, run};
use crate::common::cases::{self, Kind};
use crate::common::{cluster, wait};

/// The label that ties a test's namespaces to its binding.
const TOKEN_LABEL: &str = "appauth-test/admission";
/// How long a new binding or grant set may take to reach the admission plugin's caches.
const T: Duration = Duration::from_secs(30);
const ADOPT: &str = "appauth.hwcloud.dev/adopt";
const APP_ID: &str = "appauth.hwcloud.dev/app-id";

/// Admission's answer: allowed, or the refusal's message and HTTP code.
type Answer = Result<(), (String, u16)>;

/// One test's policy, binding and grant set, deleted when the test ends.
struct Admission {
    client: Client,
    token: String,
    grants: String,
    cleanup: Vec<(&'static str, String)>,
}

impl Admission {
    /// Installs the policy and binding the chart renders, renamed for this test and bound to
    /// its namespaces only.
    async fn install(test: &str) -> Admission {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let client = cluster::client().await;
        cluster::ensure_crd(&client, &AppAuthGrantSet::crd()).await;
        cluster::ensure_crd(&client, &AppAuthPolicy::crd()).await;
        let token = format!(
            "{}-{:x}-{}",
            test.replace('_', "-"),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let grants = format!("grants-{token}");
        let objs = render(
            "appauth",
            "ops",
            &json!({"admission": {"grantsName": grants}}),
        );
        let chart_name = "appauth-appauth-operator-tenancy";
        let mut vap = find(&objs, "ValidatingAdmissionPolicy", chart_name).clone();
        let mut binding = find(&objs, "ValidatingAdmissionPolicyBinding", chart_name).clone();
        assert_eq!(binding["spec"]["policyName"], chart_name);
        assert_eq!(
            binding["spec"]["paramRef"],
            json!({"name": grants, "parameterNotFoundAction": "Allow"}),
            "the binding reads the grant set the operator writes (admission.grantsName)"
        );
        assert!(
            binding["spec"].get("matchResources").is_none(),
            "the chart binds every namespace"
        );
        let name = format!("appauth-tenancy-{token}");
        vap["metadata"]["name"] = json!(name);
        binding["metadata"]["name"] = json!(name);
        binding["spec"]["policyName"] = json!(name);
        binding["spec"]["matchResources"] =
            json!({"namespaceSelector": {"matchLabels": {TOKEN_LABEL: token}}});
        let vap: ValidatingAdmissionPolicy = serde_json::from_value(vap).expect("VAP");
        let binding: ValidatingAdmissionPolicyBinding =
            serde_json::from_value(binding).expect("binding");
        let mut admission = Admission {
            client: client.clone(),
            token,
            grants: grants.clone(),
            cleanup: vec![("appauthgrantsets.appauth.hwcloud.dev", grants)],
        };
        // The apiserver compiles every expression here, and refuses the policy if one fails.
        Api::<ValidatingAdmissionPolicy>::all(client.clone())
            .create(&PostParams::default(), &vap)
            .await
            .unwrap_or_else(|e| panic!("the apiserver refuses the chart's policy: {e}"));
        admission
            .cleanup
            .push(("validatingadmissionpolicies", name.clone()));
        Api::<ValidatingAdmissionPolicyBinding>::all(client)
            .create(&PostParams::default(), &binding)
            .await
            .unwrap_or_else(|e| panic!("the apiserver refuses the chart's binding: {e}"));
        admission
            .cleanup
            .push(("validatingadmissionpolicybindings", name));
        admission
    }

    /// A fresh namespace bound to this test's policy, with these labels; returns its name and
    /// all its labels (as the policy sees them).
    async fn namespace(
        &self,
        test: &str,
        labels: &[(&str, &str)],
    ) -> (String, BTreeMap<String, String>) {
        let name = cluster::namespace(&self.client, test).await;
        let mut all: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.insert(TOKEN_LABEL.into(), self.token.clone());
        let ns = Api::<Namespace>::all(self.client.clone())
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": all}})),
            )
            .await
            .unwrap_or_else(|e| panic!("labelling {name}: {e}"));
        (name, ns.metadata.labels.unwrap_or_default())
    }

    /// Writes the grant set as the operator does (none while no policy exists).
    async fn grant(&self, policies: &[&AppAuthPolicy]) {
        let api: Api<AppAuthGrantSet> = Api::all(self.client.clone());
        if policies.is_empty() {
            match api.delete(&self.grants, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => panic!("deleting the grant set: {e}"),
            }
            return;
        }
        let set = AppAuthGrantSet::new(&self.grants, policy::compile(policies));
        api.patch(
            &self.grants,
            &PatchParams::apply("appauth-test").force(),
            &Patch::Apply(&set),
        )
        .await
        .unwrap_or_else(|e| panic!("writing the grant set: {e}"));
    }

    /// What admission answers to creating the object (a server-side dry run).
    async fn ask(&self, ns: &str, kind: Kind, obj: &Value) -> Answer {
        let obj: DynamicObject = serde_json::from_value(obj.clone()).expect("object");
        let dry = PostParams {
            dry_run: true,
            ..Default::default()
        };
        match cases::api(&self.client, ns, kind).create(&dry, &obj).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) => Err((e.message, e.code)),
            Err(e) => panic!("unexpected client error: {e}"),
        }
    }

    /// The refusal's message; fails when the request is allowed or refused for another reason.
    async fn refused(&self, ns: &str, kind: Kind, obj: &Value) -> String {
        match self.ask(ns, kind, obj).await {
            Ok(()) => panic!("allowed in {ns}: {obj}"),
            Err((message, 403)) if message.contains("ValidatingAdmissionPolicy") => message,
            Err((message, code)) => panic!("refused with {code}, not by the policy: {message}"),
        }
    }

    async fn allowed(&self, ns: &str, kind: Kind, obj: &Value) {
        if let Err((message, code)) = self.ask(ns, kind, obj).await {
            panic!("refused in {ns} ({code}): {message}\n{obj}");
        }
    }

    /// Waits until admission gives this answer: a new binding or grant set is in effect.
    async fn settle(&self, ns: &str, obj: &Value, allowed: bool) {
        wait::until(T, "the admission policy's answer", || async {
            (self.ask(ns, Kind::GatewayApp, obj).await.is_ok() == allowed).then_some(())
        })
        .await;
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        for (kind, name) in &self.cleanup {
            let _ = run(
                kubectl().args(["delete", kind, name, "--ignore-not-found", "--wait=false"]),
                None,
            );
        }
    }
}

fn app(spec: Value) -> Value {
    app_annotated(spec, json!({}))
}

fn app_annotated(spec: Value, annotations: Value) -> Value {
    json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
        "metadata": {"name": "app", "annotations": annotations}, "spec": spec,
    })
}

fn inference(spec: Value) -> Value {
    let mut spec = spec;
    spec["serviceId"] = json!("ae20fc9f-b37c-48c2-8ebc-3f3a638c9f48");
    json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "InferenceApi",
        "metadata": {"name": "api"}, "spec": spec,
    })
}

/// A policy granting `names`, with every rule wide open unless `edit` narrows it.
fn policy(name: &str, names: &[&str], edit: impl FnOnce(&mut AppAuthPolicySpec)) -> AppAuthPolicy {
    let mut spec = AppAuthPolicySpec {
        namespaces: NamespaceSelection {
            names: names.iter().map(|n| n.to_string()).collect(),
            selector: None,
        },
        accounts: vec![AccountGrant::Default, AccountGrant::OwnSecrets],
        services: vec![
            ServiceGrant::Apig,
            ServiceGrant::Modelarts,
            ServiceGrant::Dataarts,
            ServiceGrant::Roma,
        ],
        instances: vec!["*".into()],
        adoption: true,
        deletion_policies: vec![DeletionPolicy::Delete, DeletionPolicy::Retain],
    };
    edit(&mut spec);
    AppAuthPolicy::new(name, spec)
}

fn selector(labels: &[(&str, &str)], expressions: Vec<SelectorRequirement>) -> NamespaceSelector {
    NamespaceSelector {
        match_labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        match_expressions: expressions,
    }
}

fn requirement(key: &str, operator: SelectorOperator, values: &[&str]) -> SelectorRequirement {
    SelectorRequirement {
        key: key.into(),
        operator,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

#[tokio::test]
async fn namespaces_are_granted_by_name_and_by_label_and_no_other() {
    let adm = Admission::install("adm-ns").await;
    let (by_name, _) = adm.namespace("adm-ns-name", &[]).await;
    let (by_label, _) = adm
        .namespace("adm-ns-label", &[("team", "payments"), ("env", "prod")])
        .await;
    let (other_label, _) = adm
        .namespace("adm-ns-other", &[("team", "payments"), ("env", "dev")])
        .await;
    let (none, _) = adm.namespace("adm-ns-none", &[]).await;
    let named = policy("named", &[&by_name], |_| {});
    let labelled = policy("labelled", &[], |s| {
        s.namespaces.selector = Some(selector(
            &[("team", "payments")],
            vec![requirement("env", SelectorOperator::In, &["prod", "stage"])],
        ))
    });
    adm.grant(&[&named, &labelled]).await;
    let gw = app(json!({"apig": {"instanceId": "gw-1"}}));
    adm.settle(&none, &gw, false).await;

    adm.allowed(&by_name, Kind::GatewayApp, &gw).await;
    adm.allowed(&by_label, Kind::GatewayApp, &gw).await;
    adm.allowed(&by_label, Kind::InferenceApi, &inference(json!({})))
        .await;
    for ns in [&none, &other_label] {
        let message = adm.refused(ns, Kind::GatewayApp, &gw).await;
        assert!(
            message.ends_with(&format!(
                "not permitted: no AppAuthPolicy grants namespace {ns}"
            )),
            "{message}"
        );
        let message = adm
            .refused(ns, Kind::InferenceApi, &inference(json!({})))
            .await;
        assert!(message.contains("grants namespace"), "{message}");
    }
}

#[tokio::test]
async fn each_rule_refused_is_named() {
    let adm = Admission::install("adm-rules").await;
    let (ns, _) = adm.namespace("adm-rules", &[]).await;
    let strict = policy("strict", &[&ns], |s| {
        s.accounts = vec![AccountGrant::Default];
        s.services = vec![ServiceGrant::Apig];
        s.instances = vec!["gw-1".into(), "team-*-prod".into()];
        s.adoption = false;
        s.deletion_policies = vec![DeletionPolicy::Delete];
    });
    adm.grant(&[&strict]).await;
    let roma = app(json!({"roma": {"instanceId": "gw-1"}}));
    adm.settle(&ns, &roma, false).await;

    for spec in [
        json!({"apig": {"instanceId": "gw-1"}}),
        json!({"apig": {"instanceId": "team-a-prod"}}),
        json!({"apig": {"instanceId": "team--prod"}, "deletionPolicy": "Delete"}),
    ] {
        adm.allowed(&ns, Kind::GatewayApp, &app(spec)).await;
    }
    let annotated =
        |annotations| app_annotated(json!({"apig": {"instanceId": "gw-1"}}), annotations);
    let cases = [
        (
            app(json!({"apig": {"instanceId": "gw-1"}, "accountRef": {"name": "acct"}})),
            "accountRef Secrets",
            "spec.accounts",
        ),
        (roma, "service roma", "spec.services"),
        (
            app(json!({"dataarts": {"workspaceId": "gw-1"}})),
            "service dataarts",
            "spec.services",
        ),
        (
            app(json!({"apig": {"instanceId": "gw-2"}})),
            "instance gw-2",
            "spec.instances",
        ),
        (
            app(json!({"apig": {"instanceId": "team-a-prod2"}})),
            "instance team-a-prod2",
            "spec.instances",
        ),
        (
            app(json!({"apig": {"instanceId": "xteam-a-prod"}})),
            "instance xteam-a-prod",
            "spec.instances",
        ),
        (
            annotated(json!({ADOPT: "true"})),
            "adoption by annotation appauth.hwcloud.dev/adopt",
            "spec.adoption",
        ),
        (
            annotated(json!({APP_ID: "4f1c0d9e"})),
            "binding to app 4f1c0d9e by annotation appauth.hwcloud.dev/app-id",
            "spec.adoption",
        ),
        (
            app(json!({"apig": {"instanceId": "gw-1"}, "deletionPolicy": "Retain"})),
            "deletionPolicy Retain",
            "spec.deletionPolicies",
        ),
    ];
    for (obj, what, rule) in &cases {
        let message = adm.refused(&ns, Kind::GatewayApp, obj).await;
        let want =
            format!("not permitted: no AppAuthPolicy allows {what} in namespace {ns} ({rule})");
        assert!(
            message.ends_with(&want),
            "{obj}:\n{message}\nwanted: {want}"
        );
    }
    // Annotations that ask for nothing: adopt other than "true", an empty app id.
    adm.allowed(
        &ns,
        Kind::GatewayApp,
        &annotated(json!({ADOPT: "false", APP_ID: ""})),
    )
    .await;
    // An InferenceApi is modelarts, in its workspace ("0" by default).
    let message = adm
        .refused(&ns, Kind::InferenceApi, &inference(json!({})))
        .await;
    assert!(
        message.ends_with(&format!(
            "no AppAuthPolicy allows service modelarts in namespace {ns} (spec.services)"
        )),
        "{message}"
    );
}

/// An InferenceApi's api-id annotation (while status binds none) asks to bind an existing API:
/// refused where no policy grants adoption, naming the rule.
#[tokio::test]
async fn an_api_id_annotation_is_adoption() {
    let adm = Admission::install("adm-api-id").await;
    let (ns, _) = adm.namespace("adm-api-id", &[]).await;
    let modelarts = policy("modelarts", &[&ns], |s| {
        s.services = vec![ServiceGrant::Modelarts];
        s.adoption = false;
    });
    adm.grant(&[&modelarts]).await;
    // In effect once what it does not grant is refused.
    adm.settle(&ns, &app(json!({"roma": {"instanceId": "r1"}})), false)
        .await;
    adm.allowed(&ns, Kind::InferenceApi, &inference(json!({})))
        .await;
    let mut claiming = inference(json!({}));
    claiming["metadata"]["annotations"] = json!({"appauth.hwcloud.dev/api-id": "7e0d272df0e9"});
    let message = adm.refused(&ns, Kind::InferenceApi, &claiming).await;
    assert!(
        message.ends_with(&format!(
            "no AppAuthPolicy allows binding to API 7e0d272df0e9 by annotation appauth.hwcloud.dev/api-id in namespace {ns} (spec.adoption)"
        )),
        "{message}"
    );
}

#[tokio::test]
async fn grants_add_up_per_policy_not_per_rule() {
    let adm = Admission::install("adm-additive").await;
    let (ns, _) = adm.namespace("adm-additive", &[]).await;
    let apig_delete = policy("apig-delete", &[&ns], |s| {
        s.services = vec![ServiceGrant::Apig];
        s.deletion_policies = vec![DeletionPolicy::Delete];
    });
    let roma_retain = policy("roma-retain", &[&ns], |s| {
        s.services = vec![ServiceGrant::Roma];
        s.deletion_policies = vec![DeletionPolicy::Retain];
    });
    adm.grant(&[&apig_delete, &roma_retain]).await;
    let mixed = app(json!({"roma": {"instanceId": "r1"}, "deletionPolicy": "Delete"}));
    adm.settle(&ns, &mixed, false).await;

    adm.allowed(
        &ns,
        Kind::GatewayApp,
        &app(json!({"apig": {"instanceId": "g1"}, "deletionPolicy": "Delete"})),
    )
    .await;
    adm.allowed(
        &ns,
        Kind::GatewayApp,
        &app(json!({"roma": {"instanceId": "r1"}, "deletionPolicy": "Retain"})),
    )
    .await;
    // Each half of roma with Delete is allowed by one policy, the whole by none; the message
    // says what each policy refuses.
    let message = adm.refused(&ns, Kind::GatewayApp, &mixed).await;
    assert!(
        message.ends_with(&format!(
            "not permitted in namespace {ns}: AppAuthPolicy apig-delete does not allow service roma \
             (spec.services); AppAuthPolicy roma-retain does not allow deletionPolicy Delete \
             (spec.deletionPolicies)"
        )),
        "{message}"
    );
    let message = adm
        .refused(
            &ns,
            Kind::GatewayApp,
            &app(json!({"apig": {"instanceId": "g1"}, "deletionPolicy": "Retain"})),
        )
        .await;
    assert!(message.contains("AppAuthPolicy apig-delete does not allow deletionPolicy Retain"));
    assert!(message.contains("AppAuthPolicy roma-retain does not allow service apig"));
}

#[tokio::test]
async fn metadata_updates_and_deletes_pass_once_the_grant_is_gone() {
    let adm = Admission::install("adm-revoked").await;
    let (ns, _) = adm.namespace("adm-revoked", &[]).await;
    let (elsewhere, _) = adm.namespace("adm-revoked-else", &[]).await;
    let granted = policy("granted", &[&ns], |s| s.adoption = false);
    adm.grant(&[&granted]).await;
    let probe = app(json!({"apig": {"instanceId": "gw-1"}}));
    adm.settle(&elsewhere, &probe, false).await;

    let apps: Api<GatewayApp> = Api::namespaced(adm.client.clone(), &ns);
    let finalizer = appauth_operator::api::CLEANUP_FINALIZER;
    for name in ["kept", "deleted", "unbound"] {
        let mut obj = app(json!({"apig": {"instanceId": "gw-1"}}));
        obj["metadata"]["name"] = json!(name);
        obj["metadata"]["finalizers"] = json!([finalizer]);
        obj["metadata"]["labels"] = json!({"team": "a"});
        let obj: GatewayApp = serde_json::from_value(obj).expect("GatewayApp");
        apps.create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("creating {name} while granted: {e}"));
        if name == "unbound" {
            continue;
        }
        // Bound to its app, as the operator leaves it.
        apps.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"appId": "0123456789abcdef"}})),
        )
        .await
        .expect("status");
    }
    // Adoption newly asked for on an update is checked like a create.
    let err = apps
        .patch(
            "kept",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {ADOPT: "true"}}})),
        )
        .await
        .expect_err("adoption added by an update");
    assert!(err.to_string().contains("(spec.adoption)"), "{err}");

    // The grant goes: only the other namespace is granted now.
    let other = policy("other", &[&elsewhere], |_| {});
    adm.grant(&[&other]).await;
    adm.settle(&ns, &probe, false).await;

    let apps = &apps;
    let merge = |name: &'static str, patch: Value| async move {
        apps.patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map(|_| ())
    };
    for (what, patch) in [
        ("a label", json!({"metadata": {"labels": {"team": "b"}}})),
        (
            "the operator's pending marker",
            json!({"metadata": {"annotations": {"appauth.hwcloud.dev/pending": "x"}}}),
        ),
        (
            "the mirrored app id (the id status binds)",
            json!({"metadata": {"annotations": {APP_ID: "0123456789abcdef"}}}),
        ),
        (
            "a description",
            json!({"spec": {"description": "still here"}}),
        ),
        (
            "the finalizer removed",
            json!({"metadata": {"finalizers": null}}),
        ),
    ] {
        merge("kept", patch)
            .await
            .unwrap_or_else(|e| panic!("{what} refused after the grant went: {e}"));
    }
    // What the policy governs is still refused (the instance only while no app is bound: the
    // CRD locks it after).
    let err = merge("unbound", json!({"spec": {"apig": {"instanceId": "gw-2"}}}))
        .await
        .expect_err("another instance allowed after the grant went");
    assert!(err.to_string().contains("grants namespace"), "{err}");
    // An app id while status binds none asks to bind an existing app; once status binds one,
    // the annotation is only its mirror (the operator writes it back from status).
    let err = merge(
        "unbound",
        json!({"metadata": {"annotations": {APP_ID: "fedcba9876543210"}}}),
    )
    .await
    .expect_err("an app id status does not bind allowed after the grant went");
    assert!(err.to_string().contains("grants namespace"), "{err}");
    merge(
        "kept",
        json!({"metadata": {"annotations": {APP_ID: "fedcba9876543210"}}}),
    )
    .await
    .expect("a bound object's mirror edited");
    for (what, patch, rule) in [
        (
            "another deletion policy",
            json!({"spec": {"deletionPolicy": "Retain"}}),
            "grants namespace",
        ),
        (
            "an account Secret",
            json!({"spec": {"accountRef": {"name": "acct"}}}),
            "grants namespace",
        ),
    ] {
        let err = merge("kept", patch)
            .await
            .expect_err(&format!("{what} allowed after the grant went"));
        assert!(err.to_string().contains(rule), "{what}: {err}");
    }
    // Delete: one object at once, the other through its finalizer (the operator's cleanup
    // removes it while the object is being deleted).
    apps.delete("kept", &DeleteParams::default())
        .await
        .expect("delete after the grant went");
    for name in ["deleted", "unbound"] {
        apps.delete(name, &DeleteParams::default())
            .await
            .expect("delete with a finalizer after the grant went");
        apps.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("finalizer removed from an object being deleted");
    }
    wait::until(T, "every object gone", || async {
        let left = apps.list(&Default::default()).await.ok()?;
        left.items.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn no_grant_set_allows_everything() {
    let adm = Admission::install("adm-none").await;
    let (ns, _) = adm.namespace("adm-none", &[]).await;
    let (other, _) = adm.namespace("adm-none-other", &[]).await;
    // A grant set in force first, so the binding is known to be live.
    adm.grant(&[&policy("other", &[&other], |_| {})]).await;
    let probe = app(json!({"roma": {"instanceId": "r1"}, "deletionPolicy": "Retain"}));
    adm.settle(&ns, &probe, false).await;

    // The last policy goes: the operator deletes the grant set.
    adm.grant(&[]).await;
    adm.settle(&ns, &probe, true).await;
    adm.allowed(
        &ns,
        Kind::GatewayApp,
        &app_annotated(
            json!({"dataarts": {"workspaceId": "w1"}, "accountRef": {"name": "acct"}}),
            json!({ADOPT: "true", APP_ID: "4f1c0d9e"}),
        ),
    )
    .await;
    adm.allowed(
        &ns,
        Kind::InferenceApi,
        &inference(json!({"workspaceId": "ws-1"})),
    )
    .await;
}

/// About as many policies as one grant set can hold in etcd (1,000, about 1.1 MB), each with
/// five names, a label selector and 20 instance patterns, every one selecting the namespace and
/// trying all its patterns: the request is answered within the apiserver's CEL cost limits.
#[tokio::test]
async fn a_grant_set_as_large_as_etcd_stores_stays_within_the_cost_limits() {
    let adm = Admission::install("adm-large").await;
    let (ns, _) = adm.namespace("adm-large", &[("tier", "gold")]).await;
    let policies: Vec<AppAuthPolicy> = (0..1000)
        .map(|i| {
            policy(&format!("p{i:04}"), &[], |s| {
                s.namespaces.names = (0..5).map(|k| format!("ns-{i}-{k}")).collect();
                s.namespaces.selector = Some(selector(
                    &[("tier", "gold")],
                    vec![requirement(
                        "tier",
                        SelectorOperator::In,
                        &["gold", "silver"],
                    )],
                ));
                s.instances = (0..20).map(|j| format!("inst-{i}-{j}-*")).collect();
            })
        })
        .collect();
    let refs: Vec<&AppAuthPolicy> = policies.iter().collect();
    adm.grant(&refs).await;
    let refused = app(json!({"apig": {"instanceId": "gw-1"}}));
    adm.settle(&ns, &refused, false).await;
    let message = adm.refused(&ns, Kind::GatewayApp, &refused).await;
    assert!(
        message.ends_with(&format!(
            "no AppAuthPolicy allows instance gw-1 in namespace {ns} (spec.instances)"
        )),
        "{message}"
    );
    adm.allowed(
        &ns,
        Kind::GatewayApp,
        &app(json!({"apig": {"instanceId": "inst-999-19-x"}})),
    )
    .await;
}

/// One request of the grid: its object, and what the operator makes of it.
struct Case {
    kind: Kind,
    ns: String,
    object: Value,
    decision: Decision,
}

/// Over a grid of namespaces (names, labels for In, NotIn, Exists, DoesNotExist and an empty
/// selector) and requests (both kinds, every service, exact and glob instances, both accounts,
/// both ways to ask for adoption, both deletion policies), admission allows exactly what
/// `policy::decide` allows, for the request the operator reads from the same object, and
/// names the rules it names.
#[tokio::test]
async fn admission_agrees_with_the_decision() {
    let adm = Admission::install("adm-agree").await;
    let namespaces = [
        adm.namespace("adm-agree-plain", &[]).await,
        adm.namespace("adm-agree-gold", &[("tier", "gold"), ("env", "prod")])
            .await,
        adm.namespace(
            "adm-agree-dev",
            &[("tier", "gold"), ("env", "dev"), ("tenant", "t")],
        )
        .await,
        adm.namespace(
            "adm-agree-legacy",
            &[("env", "stage"), ("tenant", "t"), ("legacy", "1")],
        )
        .await,
        adm.namespace("adm-agree-stage", &[("tier", "gold"), ("env", "stage")])
            .await,
    ];
    let policies = [
        policy("by-name", &[&namespaces[0].0], |s| {
            s.accounts = vec![AccountGrant::Default];
            s.services = vec![ServiceGrant::Apig, ServiceGrant::Roma];
            s.instances = vec!["gw-1".into(), "shared-*".into()];
            s.adoption = false;
            s.deletion_policies = vec![DeletionPolicy::Delete];
        }),
        policy("gold", &[], |s| {
            s.namespaces.selector = Some(selector(
                &[("tier", "gold")],
                vec![requirement("env", SelectorOperator::In, &["prod", "stage"])],
            ));
            s.accounts = vec![AccountGrant::OwnSecrets];
            s.services = vec![ServiceGrant::Modelarts, ServiceGrant::Dataarts];
        }),
        policy("tenants", &[], |s| {
            s.namespaces.selector = Some(selector(
                &[],
                vec![
                    requirement("env", SelectorOperator::NotIn, &["prod"]),
                    requirement("tenant", SelectorOperator::Exists, &[]),
                    requirement("legacy", SelectorOperator::DoesNotExist, &[]),
                ],
            ));
            s.services = vec![ServiceGrant::Roma, ServiceGrant::Modelarts];
            s.instances = vec!["r-*-x".into(), "0".into()];
            s.adoption = false;
            s.deletion_policies = vec![DeletionPolicy::Retain];
        }),
        policy("everyone", &[], |s| {
            s.namespaces.selector = Some(selector(&[], vec![]));
            s.accounts = vec![AccountGrant::OwnSecrets];
            s.services = vec![ServiceGrant::Dataarts];
            s.instances = vec!["ws-9".into()];
            s.adoption = false;
            s.deletion_policies = vec![DeletionPolicy::Retain];
        }),
    ];
    let refs: Vec<&AppAuthPolicy> = policies.iter().collect();
    adm.grant(&refs).await;
    adm.settle(
        &namespaces[0].0,
        &app(json!({"apig": {"instanceId": "gw-2"}})),
        false,
    )
    .await;

    let mut grid = Vec::new();
    for (ns, labels) in &namespaces {
        for instance in ["gw-1", "shared-7", "r-1-x", "ws-9", "0"] {
            for own in [false, true] {
                for deletion in ["Delete", "Retain"] {
                    let mut common = json!({"deletionPolicy": deletion});
                    if own {
                        common["accountRef"] = json!({"name": "acct"});
                    }
                    for service in ["apig", "roma", "modelarts", "dataarts"] {
                        let id = if service == "apig" || service == "roma" {
                            "instanceId"
                        } else {
                            "workspaceId"
                        };
                        let mut spec = common.clone();
                        spec[service] = json!({id: instance});
                        for annotations in [
                            json!({}),
                            json!({ADOPT: "true"}),
                            json!({APP_ID: "4f1c0d9e"}),
                        ] {
                            grid.push(case(
                                Kind::GatewayApp,
                                ns,
                                labels,
                                app_annotated(spec.clone(), annotations),
                                &refs,
                            ));
                        }
                    }
                    let mut spec = common.clone();
                    spec["workspaceId"] = json!(instance);
                    grid.push(case(Kind::InferenceApi, ns, labels, inference(spec), &refs));
                }
            }
        }
    }
    let allowed = grid
        .iter()
        .filter(|c| c.decision == Decision::Allowed)
        .count();
    assert!(
        allowed >= 20 && grid.len() - allowed >= 20,
        "the grid should hold both answers: {allowed} of {} allowed",
        grid.len()
    );

    // A few at a time: the control plane is shared with the rest of the suite.
    let adm = &adm;
    let answers: Vec<(usize, Answer)> = futures::stream::iter(grid.iter().enumerate())
        .map(|(i, c)| async move { (i, adm.ask(&c.ns, c.kind, &c.object).await) })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut wrong = Vec::new();
    for (i, answer) in answers {
        let c = &grid[i];
        let disagreement = match (&c.decision, answer) {
            (Decision::Allowed, Ok(())) => None,
            (Decision::Allowed, Err((message, _))) => Some(format!("refused: {message}")),
            (_, Ok(())) => Some("allowed".to_string()),
            (_, Err((message, code))) if code != 403 => Some(format!("{code}: {message}")),
            (Decision::NamespaceNotGranted, Err((message, _))) => (!message
                .contains("no AppAuthPolicy grants namespace"))
            .then(|| format!("not the namespace: {message}")),
            (Decision::Refused(refusals), Err((message, _))) => refusals
                .iter()
                .find(|(policy, rule)| {
                    !message.contains(&format!("({})", rule.field()))
                        || (refusals.iter().any(|(_, r)| r != rule)
                            && !message.contains(&format!("AppAuthPolicy {policy} ")))
                })
                .map(|(policy, rule)| format!("{policy} {} not named: {message}", rule.field())),
            (Decision::AdoptionOff, _) => unreachable!("policies exist"),
        };
        if let Some(d) = disagreement {
            wrong.push(format!(
                "{} in {} (operator: {:?}): {d}",
                c.object["spec"], c.ns, c.decision
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} requests answered differently:\n{}",
        wrong.len(),
        grid.len(),
        wrong.join("\n")
    );
}

/// The operator's decision for an object, read as the operator reads it.
fn case(
    kind: Kind,
    ns: &str,
    labels: &BTreeMap<String, String>,
    mut object: Value,
    policies: &[&AppAuthPolicy],
) -> Case {
    object["metadata"]["namespace"] = json!(ns);
    let request = match kind {
        Kind::GatewayApp => serde_json::from_value::<GatewayApp>(object.clone())
            .expect("GatewayApp")
            .request(),
        Kind::InferenceApi => serde_json::from_value::<InferenceApi>(object.clone())
            .expect("InferenceApi")
            .request(),
    }
    .expect("a governed request");
    Case {
        kind,
        ns: ns.to_string(),
        decision: policy::decide(policies, &request, labels, true),
        object,
    }
}
