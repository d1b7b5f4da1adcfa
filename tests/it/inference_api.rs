//! The InferenceApi controller end to end (SPEC §4): the real operator binary against the real
//! apiserver and the simulator.

use crate::common;

use std::time::Duration;

use appauth_operator::api::InferenceApi;
use common::objects::{Ns, account_secret, in_use};
use common::operator::Operator;
use common::sim::Sim;
use common::{cloud, cluster, wait};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);
const SVC: &str = "ae20fc9f-b37c-48c2-8ebc-3f3a638c9f48";

async fn setup(test: &str) -> (Ns, Sim) {
    let client = cluster::client().await;
    let name = cluster::namespace(&client, test).await;
    (Ns { client, name }, Sim::start())
}

fn apis(ns: &Ns) -> Api<InferenceApi> {
    Api::namespaced(ns.client.clone(), &ns.name)
}

async fn create_api(ns: &Ns, name: &str, spec: Value) {
    let obj: InferenceApi = serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "InferenceApi", "metadata": {"name": name}, "spec": spec,
    }))
    .expect("InferenceApi");
    apis(ns)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
}

fn condition(api: &InferenceApi, type_: &str) -> Option<(String, String, String)> {
    api.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| {
            (
                c.status.to_string(),
                c.reason.to_string(),
                c.message.to_string(),
            )
        })
}

async fn wait_api<F: Fn(&InferenceApi) -> bool>(
    ns: &Ns,
    name: &str,
    what: &str,
    f: F,
) -> InferenceApi {
    wait::until(T, what, || async {
        let api = apis(ns).get_opt(name).await.ok().flatten()?;
        f(&api).then_some(api)
    })
    .await
}

/// Deletes an InferenceApi and waits until it is gone (its finalizer done).
async fn delete_api(ns: &Ns, name: &str) {
    apis(ns)
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete");
    wait::until(T, &format!("{name} gone"), || async {
        apis(ns).get_opt(name).await.ok()?.is_none().then_some(())
    })
    .await;
}

fn bound_names(api: &InferenceApi) -> Vec<String> {
    let mut v: Vec<String> = api
        .status
        .as_ref()
        .map(|s| s.authorized_apps.iter().map(|a| a.name.clone()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn sim_bound(sim: &Sim, api_id: &str) -> Vec<String> {
    let state = serde_json::to_value(sim.handle.state()).expect("state");
    let mut ids: Vec<String> = state["apis"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|a| a["id"] == api_id)
        .map(|a| {
            a["boundAppIds"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn sim_apis(sim: &Sim) -> Vec<Value> {
    serde_json::to_value(sim.handle.state()).expect("state")["apis"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn app_id(ns: &Ns, name: &str) -> String {
    ns.wait_ready(name, T)
        .await
        .status
        .expect("status")
        .app_id
        .expect("appId")
}

#[tokio::test]
async fn lifecycle_bindings_follow_app_refs() {
    let (ns, sim) = setup("infapi").await;
    let op = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create("a", json!({"modelarts": {}})).await;
    ns.create("b", json!({"modelarts": {}})).await;
    let (a, b) = (app_id(&ns, "a").await, app_id(&ns, "b").await);
    create_api(&ns, "fraud", json!({"serviceId": SVC, "method": "POST", "description": "fraud scoring", "appRefs": [{"name": "a"}], "secret": {"name": "fraud-endpoint"}})).await;
    let api = wait_api(&ns, "fraud", "Ready with a bound", |x| {
        condition(x, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    let st = api.status.clone().expect("status");
    let api_id = st.api_id.clone().expect("apiId");
    assert!(st.predict_url.as_deref().is_some_and(|u| u.contains(SVC)));
    assert_eq!(bound_names(&api), vec!["a"]);
    assert_eq!(
        condition(&api, "AppsBound").map(|c| c.0).as_deref(),
        Some("True")
    );
    assert_eq!(sim_bound(&sim, &api_id), vec![a.clone()]);
    let conn = ns
        .secret("fraud-endpoint")
        .await
        .expect("connection Secret");
    assert_eq!(Ns::value(&conn, "api_id").as_deref(), Some(api_id.as_str()));
    assert_eq!(Ns::value(&conn, "predict_url"), st.predict_url);

    let patch = |refs: Value| Patch::Merge(json!({"spec": {"appRefs": refs}}));
    apis(&ns)
        .patch(
            "fraud",
            &PatchParams::default(),
            &patch(json!([{"name": "a"}, {"name": "b"}])),
        )
        .await
        .expect("add b");
    wait_api(&ns, "fraud", "a and b bound", |x| {
        bound_names(x) == vec!["a", "b"]
    })
    .await;
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(sim_bound(&sim, &api_id), both);
    apis(&ns)
        .patch(
            "fraud",
            &PatchParams::default(),
            &patch(json!([{"name": "b"}])),
        )
        .await
        .expect("drop a");
    wait_api(&ns, "fraud", "only b bound", |x| {
        bound_names(x) == vec!["b"]
    })
    .await;
    assert_eq!(sim_bound(&sim, &api_id), vec![b.clone()]);

    // A bound GatewayApp deleted: its own finalizer unbinds it, and the API's status shows it.
    ns.delete("b").await;
    ns.wait_gone("b", T).await;
    let api = wait_api(&ns, "fraud", "b gone from the API", |x| {
        bound_names(x).is_empty()
    })
    .await;
    assert_eq!(
        condition(&api, "AppsBound").map(|c| c.0).as_deref(),
        Some("False")
    );
    assert!(sim_bound(&sim, &api_id).is_empty());
    assert!(sim.app(&b).is_none(), "the bound app could be deleted");

    // Delete: everything unbound and the API deleted; the connection Secret goes with it.
    apis(&ns)
        .patch(
            "fraud",
            &PatchParams::default(),
            &patch(json!([{"name": "a"}])),
        )
        .await
        .expect("a again");
    wait_api(&ns, "fraud", "a bound again", |x| {
        bound_names(x) == vec!["a"]
    })
    .await;
    delete_api(&ns, "fraud").await;
    assert!(sim_apis(&sim).is_empty(), "the cloud API is gone");
    ns.delete("a").await;
    ns.wait_gone("a", T).await;
    assert!(sim.apps("modelarts").is_empty());

    // The audit trail: every bind and unbind, by the API and by the deleted app, with ids.
    let trail = |kind: &str, name: &str| -> Vec<(String, String, String)> {
        op.audit()
            .into_iter()
            .filter(|l| l["kind"] == kind && l["name"] == name)
            .map(|l| {
                (
                    l["action"].clone(),
                    l["cloud_id"].clone(),
                    l["related"].clone(),
                )
            })
            .collect()
    };
    let line = |action: &str, id: &str, related: &str| {
        (action.to_string(), id.to_string(), related.to_string())
    };
    // b's deletion unbinds it: by its own finalizer or by the API that saw it go first, or by
    // both when they race (the cloud acknowledges an unbind of an app no longer bound, so both
    // are logged).
    let (unbind_b, fraud): (Vec<_>, Vec<_>) = trail("InferenceApi", "fraud")
        .into_iter()
        .partition(|l| *l == line("unbind", &api_id, &b));
    let b_trail = trail("GatewayApp", "b");
    let b_unbinds = b_trail.iter().filter(|l| l.0 == "unbind").count();
    assert!(
        (1..=2).contains(&(unbind_b.len() + b_unbinds)),
        "{unbind_b:?} {b_trail:?}"
    );
    if b_unbinds == 1 {
        assert!(
            b_trail.contains(&line("unbind", &b, &api_id)),
            "{b_trail:?}"
        );
    }
    assert_eq!(
        fraud,
        [
            line("create", &api_id, ""),
            line("bind", &api_id, &a),
            line("bind", &api_id, &b),
            line("unbind", &api_id, &a),
            line("bind", &api_id, &a),
            line("unbind", &api_id, &a),
            line("delete", &api_id, ""),
        ]
    );
    let b_trail: Vec<_> = b_trail.into_iter().filter(|l| l.0 != "unbind").collect();
    assert_eq!(b_trail, [line("create", &b, ""), line("delete", &b, "")]);
}

#[tokio::test]
async fn a_ref_that_becomes_ready_later_is_bound_then() {
    let (ns, sim) = setup("infapi-late").await;
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    create_api(
        &ns,
        "api",
        json!({"serviceId": SVC, "appRefs": [{"name": "late"}]}),
    )
    .await;
    let api = wait_api(&ns, "api", "WaitingForApps", |x| {
        condition(x, "AppsBound").is_some_and(|c| c.1 == "WaitingForApps")
    })
    .await;
    assert!(
        api.status.as_ref().and_then(|s| s.api_id.clone()).is_some(),
        "the API exists before its apps"
    );
    assert_eq!(
        condition(&api, "Ready").map(|c| c.1).as_deref(),
        Some("WaitingForApps")
    );
    ns.create("late", json!({"modelarts": {}})).await;
    let id = app_id(&ns, "late").await;
    let api = wait_api(&ns, "api", "late bound", |x| bound_names(x) == vec!["late"]).await;
    assert_eq!(
        sim_bound(&sim, &api.status.expect("status").api_id.expect("id")),
        vec![id]
    );
}

#[tokio::test]
async fn refs_to_other_services_are_terminal_and_partial_bind_failures_are_reported() {
    let (ns, sim) = setup("infapi-bad").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "10m"]);
    ns.create("apig-app", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    ns.wait_ready("apig-app", T).await;
    create_api(
        &ns,
        "wrong",
        json!({"serviceId": SVC, "appRefs": [{"name": "apig-app"}]}),
    )
    .await;
    let api = wait_api(&ns, "wrong", "InvalidSpec", |x| {
        condition(x, "Ready").is_some_and(|c| c.1 == "InvalidSpec")
    })
    .await;
    let msg = condition(&api, "Ready").expect("Ready").2;
    assert!(
        msg.contains("spec.appRefs[0]") && msg.contains("apig-app"),
        "{msg}"
    );
    assert_eq!(
        condition(&api, "Stalled").map(|c| c.0).as_deref(),
        Some("True")
    );
    assert!(sim_apis(&sim).is_empty(), "nothing created");

    // Partial failure: one app's cloud side vanished behind the operator's back.
    ns.create("ok", json!({"modelarts": {}})).await;
    ns.create("ghost", json!({"modelarts": {}})).await;
    let ok = app_id(&ns, "ok").await;
    let ghost = app_id(&ns, "ghost").await;
    cloud::client(&sim.url())
        .modelarts("0")
        .delete_app(&ghost)
        .await
        .expect("delete behind the operator's back");
    create_api(
        &ns,
        "partial",
        json!({"serviceId": SVC, "appRefs": [{"name": "ok"}, {"name": "ghost"}]}),
    )
    .await;
    let api = wait_api(&ns, "partial", "partial bind reported", |x| {
        condition(x, "AppsBound").is_some_and(|c| c.0 == "False" && c.2.contains("ghost"))
    })
    .await;
    assert_eq!(bound_names(&api), vec!["ok"]);
    assert_eq!(
        sim_bound(&sim, &api.status.expect("status").api_id.expect("id")),
        vec![ok]
    );
}

#[tokio::test]
async fn an_api_deleted_in_the_cloud_is_recreated_and_rebound_and_retain_keeps_it() {
    let (ns, sim) = setup("infapi-drift").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "2s"]);
    ns.create("a", json!({"modelarts": {}})).await;
    let a = app_id(&ns, "a").await;
    create_api(
        &ns,
        "api",
        json!({"serviceId": SVC, "appRefs": [{"name": "a"}], "deletionPolicy": "Retain"}),
    )
    .await;
    let first = wait_api(&ns, "api", "Ready", |x| {
        condition(x, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await
    .status
    .expect("st")
    .api_id
    .expect("id");
    cloud::client(&sim.url())
        .modelarts("0")
        .delete_api(SVC, &first)
        .await
        .expect("delete behind the operator's back");
    let api = wait_api(&ns, "api", "recreated", |x| {
        x.status
            .as_ref()
            .and_then(|s| s.api_id.clone())
            .is_some_and(|id| id != first)
            && condition(x, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    let second = api.status.expect("st").api_id.expect("id");
    assert_eq!(sim_bound(&sim, &second), vec![a]);
    assert_eq!(sim_apis(&sim).len(), 1);
    apis(&ns)
        .delete("api", &DeleteParams::default())
        .await
        .expect("delete");
    wait::until(T, "gone", || async {
        apis(&ns).get_opt("api").await.ok()?.is_none().then_some(())
    })
    .await;
    assert_eq!(sim_apis(&sim).len(), 1, "Retain keeps the API");
}

#[tokio::test]
async fn crash_after_the_api_create_and_kill_9_during_binding_leave_one_api_each() {
    if !cfg!(feature = "failpoints") {
        panic!("needs --features failpoints (cargo xtask test does this)");
    }
    let (ns, sim) = setup("infapi-crash").await;
    let mut op = Operator::start(&ns.name, &sim.url(), &[]);
    ns.create("a", json!({"modelarts": {}})).await;
    let a = app_id(&ns, "a").await;
    op.kill();
    let mut op = Operator::start_with_env(
        &ns.name,
        &sim.url(),
        &[],
        &[("APPAUTH_FAILPOINT", "after-create-api")],
    );
    create_api(
        &ns,
        "api-0",
        json!({"serviceId": SVC, "appRefs": [{"name": "a"}]}),
    )
    .await;
    assert_eq!(op.wait_exit(Duration::from_secs(30)), Some(86));
    op.restart(false);
    for i in 1..8 {
        create_api(
            &ns,
            &format!("api-{i}"),
            json!({"serviceId": SVC, "appRefs": [{"name": "a"}]}),
        )
        .await;
        if i % 3 == 0 {
            op.restart(true); // kill -9 mid-burst
        }
    }
    for i in 0..8 {
        wait_api(&ns, &format!("api-{i}"), "Ready", |x| {
            condition(x, "Ready").is_some_and(|c| c.0 == "True")
        })
        .await;
    }
    let all = apis(&ns)
        .list(&Default::default())
        .await
        .expect("list")
        .items;
    let cloud_apis = sim_apis(&sim);
    assert_eq!(cloud_apis.len(), 8, "exactly one API per object");
    for api in &all {
        let id = api
            .status
            .as_ref()
            .and_then(|s| s.api_id.clone())
            .expect("apiId");
        assert_eq!(
            sim_bound(&sim, &id),
            vec![a.clone()],
            "{} bound",
            api.name_any()
        );
    }
}

/// A bound app that is not Ready for a moment (its drift reads fail) keeps its authorization:
/// unbinding it would cut its callers off during a brief outage. It is unbound only when its
/// ref leaves appRefs.
#[tokio::test]
async fn a_bound_app_briefly_not_ready_stays_bound() {
    let (ns, sim) = setup("brief-outage").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "2s"]);
    ns.create("a", json!({"modelarts": {}})).await;
    let a = app_id(&ns, "a").await;
    create_api(
        &ns,
        "fraud",
        json!({"serviceId": SVC, "appRefs": [{"name": "a"}]}),
    )
    .await;
    let api = wait_api(&ns, "fraud", "Ready with a bound", |x| {
        condition(x, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    let api_id = api.status.expect("status").api_id.expect("apiId");
    assert_eq!(sim_bound(&sim, &api_id), vec![a.clone()]);

    // Drift is read from the listing (and by id where the listing does not settle it).
    for op in ["list", "show"] {
        sim.handle
            .add_fault(hwcloud_sim::FaultSpec::new("modelarts", op).status(503))
            .expect("fault");
    }
    ns.wait_reason("a", "CloudUnavailable", T).await;
    // Two more passes over the API's bindings while the app is not Ready: the first one after
    // the change has finished once the second begins.
    let seen = sim.handle.count("modelarts.list_bindings");
    wait::until(T, "the API reconciled twice since", || async {
        (sim.handle.count("modelarts.list_bindings") >= seen + 2).then_some(())
    })
    .await;
    let app = ns.get("a").await.expect("a");
    assert_eq!(
        Ns::ready(&app).map(|r| r.0).as_deref(),
        Some("False"),
        "still not Ready"
    );
    assert_eq!(
        sim_bound(&sim, &api_id),
        vec![a.clone()],
        "unbound by an outage"
    );
    assert_eq!(sim.handle.count("modelarts.unbind"), 0);
    let api = apis(&ns).get("fraud").await.expect("api");
    assert_eq!(bound_names(&api), vec!["a"], "still authorized in status");

    sim.handle.clear_faults();
    ns.wait_ready("a", T).await;
    assert_eq!(sim_bound(&sim, &api_id), vec![a.clone()]);
    // Leaving appRefs is what unbinds it.
    apis(&ns)
        .patch(
            "fraud",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"appRefs": []}})),
        )
        .await
        .expect("drop a");
    wait::until(T, "a unbound", || async {
        sim_bound(&sim, &api_id).is_empty().then_some(())
    })
    .await;
}

/// An InferenceApi restored with its api-id annotation (no status, no finalizer) finds its API
/// and gets the cleanup finalizer: deleting it deletes the API.
#[tokio::test]
async fn a_restored_inference_api_deletes_its_api_when_deleted() {
    let (ns, sim) = setup("restore-api").await;
    // A restore binds an existing API: adoption must be permitted.
    let _op = Operator::start(&ns.name, &sim.url(), &["--allow-adoption", "true"]);
    create_api(
        &ns,
        "fraud",
        json!({"serviceId": SVC, "deletionPolicy": "Retain"}),
    )
    .await;
    let api = wait_api(&ns, "fraud", "Ready", |x| {
        condition(x, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    let api_id = api.status.expect("status").api_id.expect("apiId");
    delete_api(&ns, "fraud").await;
    assert_eq!(sim_apis(&sim).len(), 1, "Retain kept the API");

    let restored: InferenceApi = serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "InferenceApi",
        "metadata": {"name": "fraud", "annotations": {"appauth.hwcloud.dev/api-id": api_id}},
        "spec": {"serviceId": SVC},
    }))
    .expect("InferenceApi");
    apis(&ns)
        .create(&PostParams::default(), &restored)
        .await
        .expect("restore");
    let api = wait_api(&ns, "fraud", "restored Ready", |x| {
        condition(x, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    assert_eq!(
        api.status.as_ref().and_then(|s| s.api_id.as_deref()),
        Some(api_id.as_str())
    );
    assert!(
        api.finalizers()
            .iter()
            .any(|f| f == "appauth.hwcloud.dev/cleanup")
    );
    assert_eq!(sim_apis(&sim).len(), 1, "found its API, made none");
    apis(&ns)
        .delete("fraud", &DeleteParams::default())
        .await
        .expect("delete");
    wait::until(T, "restored API deleted in the cloud", || async {
        sim_apis(&sim).is_empty().then_some(())
    })
    .await;
}

/// The api-id annotation binds nothing by itself: with adoption off it is refused before any
/// cloud call, and deleting the refused object (deletionPolicy Delete) leaves the API; with
/// adoption on, an API whose fingerprint names another cluster is AlreadyManaged.
#[tokio::test]
async fn an_api_id_annotation_is_checked_like_adoption() {
    let (ns, sim) = setup("api-id-door").await;
    let other = crate::common::objects::Ns {
        client: ns.client.clone(),
        name: crate::common::cluster::namespace(&ns.client, "api-id-door-b").await,
    };
    let east = Operator::start(&ns.name, &sim.url(), &["--cluster-name", "east"]);
    create_api(
        &ns,
        "owner",
        json!({"serviceId": SVC, "deletionPolicy": "Retain"}),
    )
    .await;
    let owner = wait_api(&ns, "owner", "Ready", |x| {
        condition(x, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    let api_id = owner.status.expect("status").api_id.expect("apiId");
    drop(east);
    // With the cleanup finalizer added by hand (as a tenant could): its deletion still runs
    // the operator's delete path, which must not touch an API status never bound.
    let claim = |name: &str| {
        serde_json::from_value::<InferenceApi>(json!({
            "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "InferenceApi",
            "metadata": {"name": name, "annotations": {"appauth.hwcloud.dev/api-id": api_id},
                         "finalizers": ["appauth.hwcloud.dev/cleanup"]},
            "spec": {"serviceId": SVC, "deletionPolicy": "Delete"},
        }))
        .expect("InferenceApi")
    };

    // Adoption off: refused before any cloud call; deleting it touches nothing.
    let west_off = Operator::start(&other.name, &sim.url(), &["--cluster-name", "west"]);
    sim.handle.reset_counts();
    apis(&other)
        .create(&PostParams::default(), &claim("claimer"))
        .await
        .expect("create");
    let refused = wait_api(&other, "claimer", "NotPermitted", |x| {
        condition(x, "Ready").is_some_and(|c| c.1 == "NotPermitted")
    })
    .await;
    assert!(condition(&refused, "Ready").unwrap().2.contains("adoption"));
    assert!(
        sim.handle.counts().values().sum::<u64>() == 0,
        "{:?}",
        sim.handle.counts()
    );
    delete_api(&other, "claimer").await;
    assert_eq!(
        sim_apis(&sim).len(),
        1,
        "deleting the refused object deleted the API"
    );
    drop(west_off);

    // Adoption on, but the API carries the east cluster's fingerprint.
    let _west = Operator::start(
        &other.name,
        &sim.url(),
        &["--cluster-name", "west", "--allow-adoption", "true"],
    );
    apis(&other)
        .create(&PostParams::default(), &claim("claimer"))
        .await
        .expect("create");
    let held = wait_api(&other, "claimer", "AlreadyManaged", |x| {
        condition(x, "Ready").is_some_and(|c| c.1 == "AlreadyManaged")
    })
    .await;
    assert!(
        condition(&held, "Ready")
            .unwrap()
            .2
            .contains("another cluster")
    );
    delete_api(&other, "claimer").await;
    assert_eq!(
        sim_apis(&sim).len(),
        1,
        "deleting the held-off object deleted the API"
    );
}

/// A change of an InferenceApi's account Secret reaches it at once, not at its next resync.
#[tokio::test]
async fn an_account_change_reaches_an_inference_api_at_once() {
    let (ns, sim) = setup("api-account").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "1h"]);
    account_secret(&ns, "acct").await;
    create_api(
        &ns,
        "fraud",
        json!({"serviceId": SVC, "accountRef": {"name": "acct"}}),
    )
    .await;
    wait_api(&ns, "fraud", "Ready", |x| {
        condition(x, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    // The account now names keys the cloud refuses.
    ns.secrets()
        .patch(
            "acct",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"stringData": {"secretKey": "not-the-secret-key-000000000000000"}}),
            ),
        )
        .await
        .expect("change account");
    wait_api(
        &ns,
        "fraud",
        "Unauthorized long before the 1h resync",
        |x| condition(x, "Ready").is_some_and(|c| c.1 == "Unauthorized"),
    )
    .await;
    assert_eq!(sim_apis(&sim).len(), 1);
}

/// The connection Secret is restored promptly when edited (not at the next resync), and a
/// renamed one replaces the old, which is deleted.
#[tokio::test]
async fn the_connection_secret_is_restored_when_edited_and_moved_when_renamed() {
    let (ns, sim) = setup("conn-secret").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "1h"]);
    create_api(
        &ns,
        "fraud",
        json!({"serviceId": SVC, "secret": {"name": "conn1"}}),
    )
    .await;
    let api = wait_api(&ns, "fraud", "Ready", |x| {
        condition(x, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    let api_id = api.status.expect("status").api_id.expect("apiId");
    ns.secrets()
        .patch(
            "conn1",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"api_id": "tampered"}})),
        )
        .await
        .expect("edit");
    wait::until(T, "conn1 restored long before the 1h resync", || async {
        let s = ns.secret("conn1").await?;
        (Ns::value(&s, "api_id").as_deref() == Some(api_id.as_str())).then_some(())
    })
    .await;

    apis(&ns)
        .patch(
            "fraud",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"secret": {"name": "conn2"}}})),
        )
        .await
        .expect("rename");
    wait::until(T, "conn2 written and conn1 deleted", || async {
        let new = ns.secret("conn2").await?;
        (Ns::value(&new, "api_id").as_deref() == Some(api_id.as_str())
            && ns.secret("conn1").await.is_none())
        .then_some(())
    })
    .await;
    assert_eq!(sim_apis(&sim).len(), 1);
}

/// A paused InferenceApi deleted is detached (no cloud call) and lets go of its account
/// Secret's in-use finalizer.
#[tokio::test]
async fn a_detached_inference_api_releases_its_account() {
    let (ns, sim) = setup("api-detach").await;
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    account_secret(&ns, "acct").await;
    create_api(
        &ns,
        "fraud",
        json!({"serviceId": SVC, "accountRef": {"name": "acct"}}),
    )
    .await;
    wait_api(&ns, "fraud", "Ready", |x| {
        condition(x, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    assert!(in_use(&ns, "acct").await, "the account is in use");
    apis(&ns)
        .patch(
            "fraud",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"appauth.hwcloud.dev/paused": "true"}}}),
            ),
        )
        .await
        .expect("pause");
    wait_api(&ns, "fraud", "Paused", |x| {
        condition(x, "Synced").is_some_and(|c| c.1 == "Paused")
    })
    .await;
    delete_api(&ns, "fraud").await;
    wait::until(T, "the account released", || async {
        (!in_use(&ns, "acct").await).then_some(())
    })
    .await;
    assert_eq!(sim_apis(&sim).len(), 1, "detached: the API stays");
}
