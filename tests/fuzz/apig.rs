//! APIG: show, validate, list, find_by_name (paged), AppCodes, secret reset.

use appauth_operator::backend::Target;
use appauth_operator::cloud::apig::ListFilter;
use appauth_operator::cloud::{CloudClient, CloudError, Service};
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::observe::{Obs, apig_app_json, app_code_json, cloud_app_json, obs, obs_list, unmasked};
use crate::oracle::{APIG_APP, APIG_APP_LIST, APP_CODE, APP_CODE_LIST};
use crate::runner::NAME;
use crate::service::{Spec, fuzz_service, list, one, pages, reset_secret};

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
    match op {
        ApigOp::Show => Spec::new(&APIG_APP, "show", 1, |n| one(apig_cloud_app(n))),
        ApigOp::Verify => Spec::new(&APIG_APP, "validate", 1, |n| one(n.clone())),
        ApigOp::List => Spec::new(&APIG_APP_LIST, "list", 1, |n| one(n.clone())),
        ApigOp::FindByName => Spec::new(&APIG_APP_LIST, "list", 20, |n| {
            let total = n["total"].as_i64().unwrap_or_default();
            pages(
                list(&n["apps"]),
                20,
                |offset, _| offset >= total,
                apig_cloud_app,
            )
        }),
        ApigOp::ListAppCodes => Spec::new(&APP_CODE_LIST, "list_app_codes", 1, |n| {
            one(n["app_codes"].clone())
        }),
        ApigOp::GenerateAppCode => Spec::new(&APP_CODE, "generate_app_code", 1, |n| one(n.clone())),
        ApigOp::ResetSecret => Spec::new(&APIG_APP, "reset_secret", 1, |n| {
            one(unmasked(&n["app_secret"]))
        }),
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
            ApigOp::ResetSecret => reset_secret(&target, client).await?,
        })
    })
}

/// The `apig_answers` target.
pub fn answers() {
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
