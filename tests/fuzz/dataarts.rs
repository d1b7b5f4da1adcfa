//! DataArts: show, list, find_by_name (paged).

use appauth_operator::api::DlmType;
use appauth_operator::backend::Target;
use appauth_operator::cloud::{CloudClient, CloudError, Service};
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::observe::{Obs, cloud_app_json, da_app_json, obs, obs_list, unmasked};
use crate::oracle::{DA_APP, DA_APP_LIST};
use crate::runner::NAME;
use crate::service::{Spec, fuzz_service, list, one, pages};

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
    match op {
        DaOp::Show => Spec::new(&DA_APP, "show", 1, |n| one(da_cloud_app(n))),
        DaOp::List => Spec::new(&DA_APP_LIST, "list", 1, |n| one(n.clone())),
        DaOp::FindByName => Spec::new(&DA_APP_LIST, "list", 50, |n| {
            let total = n["total"].as_i64().unwrap_or_default();
            pages(
                list(&n["apps"]),
                50,
                |offset, _| offset >= total,
                da_cloud_app,
            )
        }),
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

/// The `dataarts_answers` target.
pub fn answers() {
    use DaOp::*;
    fuzz_service(
        "dataarts_answers",
        Service::DataArts,
        &[Show, List, FindByName],
        da_spec,
        da_call,
    );
}
