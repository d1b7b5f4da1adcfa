//! Tenancy, enforced by the operator (the admission policy is tested in `tenancy_admission`):
//! AppAuthPolicies grant namespaces accounts, services, instances, adoption and deletion
//! policies; what no policy grants is refused before any cloud call; fingerprints tell
//! clusters apart; every path that binds an object to an existing app passes the same checks.
//!
//! Each test's operators count only the policies labelled for that test (`--policy-selector`),
//! so that tests on the shared apiserver do not govern one another.

use std::collections::BTreeSet;

use appauth_operator::api::{AppAuthGrantSet, AppAuthPolicy, GatewayApp};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::common::objects::{Ns, account_secret, events, setup};
use crate::common::operator::{Operator, POLICY_LABEL};
use crate::common::{cloud, cluster, wait};

const T: std::time::Duration = std::time::Duration::from_secs(60);

/// A policy for the test with this selector value.
async fn put_policy(ns: &Ns, selector: &str, name: &str, spec: Value) {
    let api: Api<AppAuthPolicy> = Api::all(ns.client.clone());
    let obj = json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "AppAuthPolicy",
        "metadata": {"name": name, "labels": {POLICY_LABEL: selector}},
        "spec": spec,
    });
    api.patch(
        name,
        &PatchParams::apply("tenancy-test").force(),
        &Patch::Apply(obj),
    )
    .await
    .unwrap_or_else(|e| panic!("policy {name}: {e}"));
}

async fn delete_policy(ns: &Ns, name: &str) {
    let api: Api<AppAuthPolicy> = Api::all(ns.client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
}

/// Another namespace for the same test, with labels.
async fn namespace(ns: &Ns, test: &str, labels: Value) -> Ns {
    use k8s_openapi::api::core::v1::Namespace;
    let name = cluster::namespace(&ns.client, test).await;
    Api::<Namespace>::all(ns.client.clone())
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": labels}})),
        )
        .await
        .expect("labels");
    Ns {
        client: ns.client.clone(),
        name,
    }
}

fn condition(app: &GatewayApp, type_: &str) -> Option<(String, String, String)> {
    app.status.as_ref()?.conditions.iter().find_map(|c| {
        (c.type_ == type_).then(|| {
            (
                c.status.to_string(),
                c.reason.to_string(),
                c.message.to_string(),
            )
        })
    })
}

/// Waits for NotPermitted with Stalled=True, and returns the Ready message.
async fn refused(ns: &Ns, name: &str) -> String {
    let app = ns.wait_reason(name, "NotPermitted", T).await;
    let stalled = condition(&app, "Stalled").expect("Stalled");
    assert_eq!(stalled.0, "True", "{name}: Stalled");
    condition(&app, "Ready").expect("Ready").2
}

fn total_calls(sim: &crate::common::sim::Sim) -> u64 {
    sim.handle.counts().values().sum()
}

// ---- the pairwise matrix ----

/// The dimensions: namespace (granted by name, by label, by nothing) x account x service x
/// instance (exact, by pattern, not granted) x adoption asked x deletion policy.
const DIMS: [usize; 6] = [3, 2, 4, 3, 2, 2];
const SERVICES: [&str; 4] = ["apig", "modelarts", "dataarts", "roma"];
const INSTANCES: [&str; 3] = ["inst-ok", "glob-7", "other"];

/// Rows that cover every pair of values of any two dimensions (greedy, deterministic).
fn pairwise() -> Vec<[usize; 6]> {
    let mut all = vec![[0usize; 6]];
    for (d, n) in DIMS.iter().enumerate() {
        all = all
            .into_iter()
            .flat_map(|row| {
                (0..*n).map(move |v| {
                    let mut r = row;
                    r[d] = v;
                    r
                })
            })
            .collect();
    }
    let pairs = |r: &[usize; 6]| {
        let mut out = Vec::new();
        for a in 0..6 {
            for b in a + 1..6 {
                out.push((a, r[a], b, r[b]));
            }
        }
        out
    };
    let mut uncovered: BTreeSet<(usize, usize, usize, usize)> =
        all.iter().flat_map(&pairs).collect();
    let mut rows = Vec::new();
    while !uncovered.is_empty() {
        let best = all
            .iter()
            .max_by_key(|r| pairs(r).iter().filter(|p| uncovered.contains(p)).count())
            .copied()
            .expect("rows");
        for p in pairs(&best) {
            uncovered.remove(&p);
        }
        rows.push(best);
    }
    rows
}

/// What the two test policies grant, written out by hand (the oracle):
/// - "by-name" grants the first namespace by name: the default account, apig and roma,
///   instances inst-ok and glob-*, adoption, Delete only;
/// - "by-label" grants namespaces labelled with the test's tier: own account Secrets,
///   apig, modelarts and dataarts, the same instances, no adoption, Delete and Retain.
fn expected_allowed(row: &[usize; 6]) -> bool {
    let [ns, own_account, service, instance, adopt, retain] = *row;
    let instance_ok = instance != 2;
    match ns {
        0 => own_account == 0 && [0, 3].contains(&service) && instance_ok && retain == 0,
        1 => own_account == 1 && service != 3 && instance_ok && adopt == 0,
        _ => false,
    }
}

fn cell_spec(row: &[usize; 6]) -> Value {
    let [_, own_account, service, instance, _, retain] = *row;
    let id = INSTANCES[instance];
    let mut spec = match SERVICES[service] {
        "apig" => json!({"apig": {"instanceId": id}}),
        "modelarts" => json!({"modelarts": {"workspaceId": id}}),
        "dataarts" => json!({"dataarts": {"workspaceId": id}}),
        _ => json!({"roma": {"instanceId": id}}),
    };
    if own_account == 1 {
        spec["accountRef"] = json!({"name": "acct"});
    }
    spec["deletionPolicy"] = json!(if retain == 1 { "Retain" } else { "Delete" });
    spec
}

async fn create_cell(ns: &Ns, i: usize, row: &[usize; 6]) {
    let annotations = if row[4] == 1 {
        json!({"appauth.hwcloud.dev/adopt": "true"})
    } else {
        json!({})
    };
    ns.create_annotated(&format!("c{i}"), annotations, cell_spec(row))
        .await;
}

/// Every cell of the pairwise matrix, plus targeted cells: refused cells end NotPermitted
/// (Stalled, naming the policy and rule) with no cloud call and no Secret; allowed cells are
/// made and delivered. The refused cells are created first and the simulator shows no call at
/// all, then the allowed ones are made (so the same operator, on the same kinds of request,
/// does call the cloud when it may).
#[tokio::test]
async fn the_pairwise_matrix_of_grants() {
    let (home, sim) = setup("tenancy-matrix").await;
    let selector = home.name.clone();
    let tier = format!("tier-{}", home.name);
    let by_name = namespace(&home, "tm-name", json!({})).await;
    let by_label = namespace(&home, "tm-label", json!({"appauth.test/tier": tier})).await;
    let ungranted = namespace(&home, "tm-none", json!({"appauth.test/tier": "elsewhere"})).await;
    let spaces = [&by_name, &by_label, &ungranted];
    put_policy(
        &home,
        &selector,
        &format!("by-name-{selector}"),
        json!({"namespaces": {"names": [by_name.name]}, "accounts": ["Default"],
               "services": ["apig", "roma"], "instances": ["inst-ok", "glob-*"],
               "adoption": true, "deletionPolicies": ["Delete"]}),
    )
    .await;
    put_policy(
        &home,
        &selector,
        &format!("by-label-{selector}"),
        json!({"namespaces": {"selector": {"matchLabels": {"appauth.test/tier": tier}}},
               "accounts": ["OwnSecrets"], "services": ["apig", "modelarts", "dataarts"],
               "instances": ["inst-ok", "glob-*"], "deletionPolicies": ["Delete", "Retain"]}),
    )
    .await;
    for ns in spaces {
        account_secret(ns, "acct").await;
    }
    let policy_flag = format!("{POLICY_LABEL}={selector}");
    let _ops: Vec<Operator> = spaces
        .iter()
        .map(|ns| Operator::start(&ns.name, &sim.url(), &["--policy-selector", &policy_flag]))
        .collect();

    let mut rows = pairwise();
    let pairwise_rows = rows.len();
    // Targeted cells: each rule alone refusing an otherwise granted request (with the field
    // the message must name), and granted ones.
    let targeted: [([usize; 6], &str); 10] = [
        ([0, 0, 0, 0, 0, 0], ""),
        ([0, 1, 0, 0, 0, 0], "accountRef Secrets (spec.accounts)"),
        ([0, 0, 1, 0, 0, 0], "service modelarts (spec.services)"),
        ([0, 0, 0, 2, 0, 0], "instance other (spec.instances)"),
        (
            [0, 0, 0, 0, 0, 1],
            "deletionPolicy Retain (spec.deletionPolicies)",
        ),
        ([1, 1, 2, 1, 0, 1], ""),
        (
            [1, 1, 0, 0, 1, 0],
            "adopting an existing app (spec.adoption)",
        ),
        ([1, 0, 0, 0, 0, 0], "the default account (spec.accounts)"),
        ([0, 0, 3, 1, 1, 0], ""),
        ([1, 1, 1, 0, 0, 0], ""),
    ];
    rows.extend(targeted.iter().map(|(row, _)| *row));
    assert!(rows.len() < 40, "{} rows", rows.len());
    let (allowed, refused_rows): (Vec<_>, Vec<_>) = rows
        .iter()
        .enumerate()
        .partition(|(_, r)| expected_allowed(r));
    assert!(
        allowed.len() >= 4 && refused_rows.len() >= 4,
        "{} allowed, {} refused",
        allowed.len(),
        refused_rows.len()
    );

    sim.handle.reset_counts();
    for (i, row) in &refused_rows {
        create_cell(spaces[row[0]], *i, row).await;
    }
    for (i, row) in &refused_rows {
        let message = refused(spaces[row[0]], &format!("c{i}")).await;
        let rule = match row[0] {
            2 => "no AppAuthPolicy grants namespace".to_string(),
            _ => "does not allow".to_string(),
        };
        assert!(message.contains(&rule), "cell {row:?}: {message}");
        if row[0] != 2 {
            assert!(
                message.contains("AppAuthPolicy by-"),
                "names the policy: {message}"
            );
        }
        if let Some((_, rule)) = i.checked_sub(pairwise_rows).map(|t| targeted[t]) {
            assert!(
                message.contains(rule),
                "cell {row:?} must name {rule}: {message}"
            );
        }
        assert!(
            spaces[row[0]].secret(&format!("c{i}")).await.is_none(),
            "cell {row:?}: a Secret was written"
        );
    }
    assert_eq!(
        total_calls(&sim),
        0,
        "refused cells called the cloud: {:?}",
        sim.handle.counts()
    );
    assert!(sim.all_apps().is_empty());
    for ns in spaces {
        assert!(
            !events(ns, "NotPermitted").await.is_empty(),
            "no NotPermitted Event in {}",
            ns.name
        );
    }

    for (i, row) in &allowed {
        create_cell(spaces[row[0]], *i, row).await;
    }
    for (i, row) in &allowed {
        let name = format!("c{i}");
        spaces[row[0]].wait_ready(&name, T).await;
        assert!(
            spaces[row[0]].secret(&name).await.is_some(),
            "cell {row:?}: no Secret"
        );
    }
    assert_eq!(sim.all_apps().len(), allowed.len());
    // The refused ones are still refused, and made nothing.
    for (i, row) in &refused_rows {
        let app = spaces[row[0]].get(&format!("c{i}")).await.expect("object");
        assert_eq!(condition(&app, "Ready").expect("Ready").1, "NotPermitted");
    }

    // The policies count what they govern, and the grant set holds both for admission.
    let policies: Api<AppAuthPolicy> = Api::all(home.client.clone());
    let name_policy = format!("by-name-{selector}");
    let in_by_name = rows.iter().filter(|r| r[0] == 0).count() as i64;
    wait::until(T, "the by-name policy's status", || async {
        let p = policies.get(&name_policy).await.ok()?;
        let s = p.status?;
        (s.namespaces == 1 && s.gateway_apps == in_by_name).then_some(())
    })
    .await;
    let grants: Api<AppAuthGrantSet> = Api::all(home.client.clone());
    for ns in spaces {
        let g = grants
            .get(&format!("grants-{}", ns.name))
            .await
            .expect("grant set");
        assert_eq!(g.spec.grants.len(), 2);
    }
    for p in [name_policy.clone(), format!("by-label-{selector}")] {
        delete_policy(&home, &p).await;
    }
    wait::until(T, "the grant sets removed with the last policy", || async {
        for ns in spaces {
            if grants
                .get_opt(&format!("grants-{}", ns.name))
                .await
                .ok()?
                .is_some()
            {
                return None;
            }
        }
        Some(())
    })
    .await;
}

// ---- adoption, by name and by id ----

/// A console-made app requested by name with adopt: "true", and by its id in the app-id
/// annotation, from a namespace no policy grants adoption (and, with no policy at all, from an
/// operator with adoption off): refused before any cloud call, its secret never delivered, its
/// description untouched. Granting adoption then lets the same objects through.
#[tokio::test]
async fn a_console_app_is_not_taken_without_adoption_granted() {
    let (ns, sim) = setup("tenancy-console").await;
    let console = cloud::console_app(&sim.url(), "console_app", "made in the console").await;
    // No policy, adoption off (the default).
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    sim.handle.reset_counts();
    ns.create_annotated(
        "by-name",
        json!({"appauth.hwcloud.dev/adopt": "true"}),
        json!({"apig": {"instanceId": "gw1"}, "appName": "console_app"}),
    )
    .await;
    ns.create_annotated(
        "by-id",
        json!({"appauth.hwcloud.dev/app-id": console.id}),
        json!({"apig": {"instanceId": "gw1"}, "appName": "another_name"}),
    )
    .await;
    for name in ["by-name", "by-id"] {
        let message = refused(&ns, name).await;
        assert!(message.contains("--allow-adoption=false"), "{message}");
        assert!(ns.secret(name).await.is_none());
    }
    // A policy for the namespace without adoption: still refused, now naming the rule.
    put_policy(
        &ns,
        &ns.name,
        &format!("no-adopt-{}", ns.name),
        json!({"namespaces": {"names": [ns.name]}, "accounts": ["Default"],
               "services": ["apig"], "instances": ["*"]}),
    )
    .await;
    wait::until(T, "both refused by the policy's adoption rule", || async {
        for name in ["by-name", "by-id"] {
            let app = ns.get(name).await?;
            let (_, reason, message) = condition(&app, "Ready")?;
            if reason != "NotPermitted" || !message.contains("spec.adoption") {
                return None;
            }
        }
        Some(())
    })
    .await;
    assert_eq!(total_calls(&sim), 0, "{:?}", sim.handle.counts());
    let app = sim.app(&console.id).expect("console app");
    assert_eq!(app["remark"], "made in the console", "description touched");
    // A refused object goes at once (it never got a finalizer), touching nothing.
    ns.delete("by-id").await;
    ns.wait_gone("by-id", T).await;
    assert!(sim.app(&console.id).is_some());

    // Granting adoption lets each through (so the refusal above was the policy's doing): the
    // object by name adopts it; the one by id is then refused, the app being held.
    put_policy(
        &ns,
        &ns.name,
        &format!("no-adopt-{}", ns.name),
        json!({"namespaces": {"names": [ns.name]}, "accounts": ["Default"],
               "services": ["apig"], "instances": ["*"], "adoption": true}),
    )
    .await;
    let adopted = ns.wait_ready("by-name", T).await;
    assert_eq!(
        adopted.status.unwrap().app_id.as_deref(),
        Some(console.id.as_str())
    );
    ns.create_annotated(
        "by-id",
        json!({"appauth.hwcloud.dev/app-id": console.id}),
        json!({"apig": {"instanceId": "gw1"}, "appName": "another_name"}),
    )
    .await;
    ns.wait_reason("by-id", "AlreadyManaged", T).await;
    assert!(ns.secret("by-id").await.is_none());
    delete_policy(&ns, &format!("no-adopt-{}", ns.name)).await;
}

/// Two operators with different --cluster-name (each watching its own namespace, standing in
/// for two clusters) on one simulated account: neither adopts the other's app, by name or by
/// id, even with adoption allowed; both can adopt an app nobody made.
#[tokio::test]
async fn two_clusters_on_one_account_cannot_take_each_others_apps() {
    let (east, sim) = setup("tenancy-east").await;
    let west = namespace(&east, "tenancy-west", json!({})).await;
    let _east_op = Operator::start(
        &east.name,
        &sim.url(),
        &["--cluster-name", "east", "--allow-adoption", "true"],
    );
    let _west_op = Operator::start(
        &west.name,
        &sim.url(),
        &["--cluster-name", "west", "--allow-adoption", "true"],
    );
    east.create(
        "orders",
        json!({"apig": {"instanceId": "gw1"}, "appName": "shared_orders"}),
    )
    .await;
    let id = east.ready_id("orders", T).await;
    west.create_annotated(
        "by-name",
        json!({"appauth.hwcloud.dev/adopt": "true"}),
        json!({"apig": {"instanceId": "gw1"}, "appName": "shared_orders"}),
    )
    .await;
    west.create_annotated(
        "by-id",
        json!({"appauth.hwcloud.dev/app-id": id}),
        json!({"apig": {"instanceId": "gw1"}, "appName": "west_orders"}),
    )
    .await;
    for name in ["by-name", "by-id"] {
        let app = west.wait_reason(name, "AlreadyManaged", T).await;
        let message = condition(&app, "Ready").expect("Ready").2;
        assert!(message.contains("another cluster"), "{message}");
        assert!(west.secret(name).await.is_none());
    }
    let remark = sim.app(&id).expect("app")["remark"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let east_uid = east.get("orders").await.unwrap().metadata.uid.unwrap();
    assert!(
        remark.ends_with(&format!("/{}]", &east_uid[..8])),
        "{remark}"
    );
    assert_eq!(sim.apps("apig").len(), 1);

    // An app that nobody's fingerprint names is adopted (the refusals were the fingerprint's).
    cloud::console_app(&sim.url(), "nobodys", "by hand").await;
    west.create_annotated(
        "free",
        json!({"appauth.hwcloud.dev/adopt": "true"}),
        json!({"apig": {"instanceId": "gw1"}, "appName": "nobodys"}),
    )
    .await;
    west.wait_ready("free", T).await;
}

/// An object restored from a backup (new uid, the app-id annotation, the original object gone)
/// finds its app where a policy grants adoption, and is refused where none does; a copy made
/// while the original still exists is AlreadyManaged. Deleting the refused restore leaves the
/// app alone; deleting the accepted one (Delete) removes it.
#[tokio::test]
async fn a_restored_object_finds_its_app_where_adoption_is_granted() {
    let (ns, sim) = setup("tenancy-restore").await;
    let selector = ns.name.clone();
    let elsewhere = namespace(&ns, "tenancy-restore-b", json!({})).await;
    let policy_flag = format!("{POLICY_LABEL}={selector}");
    let _op = Operator::start(&ns.name, &sim.url(), &["--policy-selector", &policy_flag]);
    let _op_b = Operator::start(
        &elsewhere.name,
        &sim.url(),
        &["--policy-selector", &policy_flag],
    );
    put_policy(
        &ns,
        &selector,
        &format!("restore-{selector}"),
        json!({"namespaces": {"names": [ns.name]}, "accounts": ["Default"],
               "services": ["apig"], "instances": ["*"], "adoption": true}),
    )
    .await;
    put_policy(
        &ns,
        &selector,
        &format!("restore-b-{selector}"),
        json!({"namespaces": {"names": [elsewhere.name]}, "accounts": ["Default"],
               "services": ["apig"], "instances": ["*"]}),
    )
    .await;
    ns.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "deletionPolicy": "Retain"}),
    )
    .await;
    let id = ns.ready_id("app", T).await;
    // A copy while the original lives: held.
    ns.create_annotated(
        "copy",
        json!({"appauth.hwcloud.dev/app-id": id}),
        json!({"apig": {"instanceId": "gw1"}}),
    )
    .await;
    ns.wait_reason("copy", "AlreadyManaged", T).await;
    ns.delete("copy").await;
    ns.wait_gone("copy", T).await;
    assert!(
        sim.app(&id).is_some(),
        "deleting the refused copy deleted the app"
    );

    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    // The restore into a namespace without adoption: refused, and its deletion (Delete, with
    // the cleanup finalizer added by hand as a tenant could) leaves the app alone.
    let restore: GatewayApp = serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
        "metadata": {"name": "app", "annotations": {"appauth.hwcloud.dev/app-id": id},
                     "finalizers": ["appauth.hwcloud.dev/cleanup"]},
        "spec": {"apig": {"instanceId": "gw1"}, "deletionPolicy": "Delete"},
    }))
    .expect("GatewayApp");
    elsewhere
        .apps()
        .create(&Default::default(), &restore)
        .await
        .expect("restore");
    let message = refused(&elsewhere, "app").await;
    assert!(message.contains("spec.adoption"), "{message}");
    elsewhere.delete("app").await;
    elsewhere.wait_gone("app", T).await;
    assert!(sim.app(&id).is_some(), "a refused restore deleted the app");

    ns.create_annotated(
        "app",
        json!({"appauth.hwcloud.dev/app-id": id}),
        json!({"apig": {"instanceId": "gw1"}}),
    )
    .await;
    let restored = ns.wait_ready("app", T).await;
    assert_eq!(
        restored.status.unwrap().app_id.as_deref(),
        Some(id.as_str())
    );
    let uid = ns.get("app").await.unwrap().metadata.uid.unwrap();
    let remark = sim.app(&id).expect("app")["remark"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        remark.ends_with(&format!("/{}]", &uid[..8])),
        "fingerprint moved to the restore: {remark}"
    );
    assert_eq!(events(&ns, "Adopted").await.len(), 1);
    ns.delete("app").await;
    ns.wait_gone("app", T).await;
    assert!(
        sim.app(&id).is_none(),
        "the restored object's deletion left its app"
    );
    for p in ["restore", "restore-b"] {
        delete_policy(&ns, &format!("{p}-{selector}")).await;
    }
}

/// A policy edit checks existing objects again: granting a service lets a refused object
/// through; revoking the namespace stops a Ready one (NotPermitted) without touching its app;
/// deleting it still cleans up (its app goes, the finalizer goes), so the namespace never
/// hangs.
#[tokio::test]
async fn policy_edits_reevaluate_and_revoked_objects_can_be_deleted() {
    let (ns, sim) = setup("tenancy-edit").await;
    let selector = ns.name.clone();
    let policy = format!("edit-{selector}");
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    let grant = |services: Value, names: Value| {
        json!({"namespaces": {"names": names}, "accounts": ["Default"],
               "services": services, "instances": ["*"]})
    };
    put_policy(
        &ns,
        &selector,
        &policy,
        grant(json!(["apig"]), json!([ns.name])),
    )
    .await;
    ns.create("gw", json!({"apig": {"instanceId": "gw1"}}))
        .await;
    ns.create("roma", json!({"roma": {"instanceId": "r1"}}))
        .await;
    let gw_id = ns.ready_id("gw", T).await;
    let message = refused(&ns, "roma").await;
    assert!(
        message.contains("service roma (spec.services)"),
        "{message}"
    );
    assert!(sim.apps("roma").is_empty());

    put_policy(
        &ns,
        &selector,
        &policy,
        grant(json!(["apig", "roma"]), json!([ns.name])),
    )
    .await;
    ns.wait_ready("roma", T).await;

    // Revoked: the namespace is granted by nothing now.
    put_policy(
        &ns,
        &selector,
        &policy,
        grant(json!(["apig", "roma"]), json!(["elsewhere"])),
    )
    .await;
    for name in ["gw", "roma"] {
        let message = refused(&ns, name).await;
        assert!(
            message.contains("no AppAuthPolicy grants namespace"),
            "{message}"
        );
    }
    assert!(sim.app(&gw_id).is_some(), "revoking deleted an app");
    assert!(
        ns.secret("gw").await.is_some(),
        "revoking deleted the delivered Secret"
    );
    ns.delete("gw").await;
    ns.wait_gone("gw", T).await;
    assert!(
        sim.app(&gw_id).is_none(),
        "a revoked object's deletion left its app"
    );

    // The namespace itself goes too (nothing hangs on a finalizer).
    use k8s_openapi::api::core::v1::Namespace;
    let namespaces: Api<Namespace> = Api::all(ns.client.clone());
    namespaces
        .delete(&ns.name, &DeleteParams::default())
        .await
        .expect("delete namespace");
    wait::until(T, "the GatewayApps gone with the namespace", || async {
        ns.apps()
            .list(&Default::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    assert!(
        sim.apps("roma").is_empty(),
        "the namespace's deletion left the ROMA app"
    );
    delete_policy(&ns, &policy).await;
}

/// A fingerprint of the older format (the object uid alone) is still this object's: nothing is
/// refused, and where the service can update a description it is brought to the format that
/// names the cluster.
#[tokio::test]
async fn an_older_fingerprint_is_still_recognised_and_brought_up_to_date() {
    let (ns, sim) = setup("tenancy-legacy").await;
    let _op = Operator::start(&ns.name, &sim.url(), &["--resync-period", "2s"]);
    ns.create(
        "app",
        json!({"apig": {"instanceId": "gw1"}, "description": "orders"}),
    )
    .await;
    let id = ns.ready_id("app", T).await;
    let uid = ns.get("app").await.unwrap().metadata.uid.unwrap();
    let legacy = format!("orders [appauth:{}]", &uid[..8]);
    let client = cloud::client(&sim.url());
    let apig = client.apig("gw1");
    let app = apig.show(&id).await.expect("show");
    apig.update(
        &id,
        &appauth_operator::cloud::apig::AppInput {
            name: &app.name,
            remark: Some(&legacy),
            app_key: None,
            app_secret: None,
        },
    )
    .await
    .expect("older fingerprint");
    wait::until(
        T,
        "the fingerprint brought to the current format",
        || async {
            let remark = sim.app(&id)?["remark"].as_str()?.to_string();
            (remark != legacy && remark.ends_with(&format!("/{}]", &uid[..8]))).then_some(())
        },
    )
    .await;
    let app = ns.get("app").await.unwrap();
    assert_eq!(condition(&app, "Ready").unwrap().1, "Available");
    assert_eq!(sim.apps("apig").len(), 1);
}

/// A policy that cannot mean anything is refused at admission, naming the field.
#[tokio::test]
async fn an_invalid_policy_is_refused_naming_the_field() {
    let client = cluster::client().await;
    let api: Api<AppAuthPolicy> = Api::all(client);
    let base = json!({"namespaces": {"names": ["a"]}, "services": ["apig"], "instances": ["*"]});
    let with = |path: &str, value: Value| {
        let mut spec = base.clone();
        spec[path] = value;
        spec
    };
    let cases = [
        (
            "no namespaces",
            with("namespaces", json!({})),
            "spec.namespaces",
        ),
        ("no services", with("services", json!([])), "spec.services"),
        (
            "an unknown service",
            with("services", json!(["iam"])),
            "spec.services",
        ),
        (
            "a bad pattern",
            with("instances", json!(["a b"])),
            "spec.instances",
        ),
        (
            "no instances",
            with("instances", json!([])),
            "spec.instances",
        ),
        (
            "In without values",
            with(
                "namespaces",
                json!({"selector": {"matchExpressions": [{"key": "k", "operator": "In"}]}}),
            ),
            "In and NotIn need values",
        ),
        (
            "an unknown account",
            with("accounts", json!(["Theirs"])),
            "spec.accounts",
        ),
    ];
    for (i, (name, spec, field)) in cases.into_iter().enumerate() {
        let obj: AppAuthPolicy = match serde_json::from_value(json!({
            "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "AppAuthPolicy",
            "metadata": {"name": format!("invalid-{}-{i}", std::process::id())}, "spec": spec.clone(),
        })) {
            Ok(obj) => obj,
            // The Rust type refuses it already (an unknown enum value): send it raw.
            Err(_) => {
                let raw = api
                    .patch(
                        &format!("invalid-{}-{i}", std::process::id()),
                        &PatchParams::apply("tenancy-test"),
                        &Patch::Apply(json!({
                            "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "AppAuthPolicy",
                            "metadata": {"name": format!("invalid-{}-{i}", std::process::id())},
                            "spec": spec,
                        })),
                    )
                    .await;
                let message = raw.expect_err(name).to_string();
                assert!(message.contains(field), "{name}: {message}");
                continue;
            }
        };
        let message = api
            .create(&Default::default(), &obj)
            .await
            .expect_err(name)
            .to_string();
        assert!(message.contains(field), "{name}: {message}");
    }
}

/// A namespace granted only Retain cannot delete an app by switching its object to Delete just
/// before deleting it (the switch is refused, and the deletion retains the app with a Warning
/// Event); one granted only Delete cannot leave an app behind the other way round.
#[tokio::test]
async fn a_deletion_policy_switched_before_deleting_is_not_followed() {
    let (ns, sim) = setup("tenancy-switch").await;
    let selector = ns.name.clone();
    let policy = format!("switch-{selector}");
    let _op = Operator::start(&ns.name, &sim.url(), &[]);
    let grant = |policies: Value| {
        json!({"namespaces": {"names": [ns.name]}, "accounts": ["Default"],
               "services": ["apig"], "instances": ["*"], "deletionPolicies": policies})
    };
    for (name, allowed, asked, switched, kept) in [
        ("kept", "Retain", "Retain", "Delete", true),
        ("gone", "Delete", "Delete", "Retain", false),
    ] {
        put_policy(&ns, &selector, &policy, grant(json!([allowed]))).await;
        ns.create(
            name,
            json!({"apig": {"instanceId": "gw1"}, "deletionPolicy": asked}),
        )
        .await;
        let id = ns.ready_id(name, T).await;
        ns.patch(name, json!({"spec": {"deletionPolicy": switched}}))
            .await;
        let message = refused(&ns, name).await;
        assert!(message.contains("spec.deletionPolicies"), "{message}");
        ns.delete(name).await;
        ns.wait_gone(name, T).await;
        assert_eq!(
            sim.app(&id).is_some(),
            kept,
            "{allowed} only, switched to {switched}"
        );
        let warned = events(&ns, "DeletionPolicyNotPermitted").await;
        assert!(!warned.is_empty(), "no Event for the switch to {switched}");
    }
    delete_policy(&ns, &policy).await;
}
