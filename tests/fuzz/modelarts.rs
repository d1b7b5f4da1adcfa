//! ModelArts: apps (show, paged find, AppCodes), inference APIs, bindings, exists.

use appauth_operator::backend::Target;
use appauth_operator::cloud::modelarts::ApiInput;
use appauth_operator::cloud::{CloudClient, CloudError, Service};
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::observe::{
    Obs, api_json, auth_json, cloud_app_json, ma_app_json, obs, obs_list, secret_json, the_app,
    unmasked,
};
use crate::oracle::{
    MA_API_BODY, MA_API_LIST, MA_APP_BODY, MA_APP_LIST, MA_BIND, MA_BINDINGS, MA_EXISTS, MA_UNBIND,
};
use crate::runner::NAME;
use crate::service::{Spec, fuzz_service, list, one, pages};

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
    match op {
        MaOp::Show => Spec::new(&MA_APP_BODY, "show", 1, |n| one(ma_cloud_app(&n["app"]))),
        MaOp::FindByName => Spec::new(&MA_APP_LIST, "list", 20, |n| {
            let total = n["total_count"].as_i64();
            pages(
                list(&n["apps"]),
                20,
                |offset, _| total.is_none_or(|t| offset >= t),
                ma_cloud_app,
            )
        }),
        // An existing AppCode, or a new one: the second answer is the same as the first.
        MaOp::EnsureAppCode => Spec::new(&MA_APP_BODY, "show", 2, |n| {
            match list(&n["app"]["app_codes"]).first() {
                Some(code) => (code.clone(), 1),
                None => (Value::Null, 2),
            }
        }),
        MaOp::AppApis => Spec::new(&MA_API_LIST, "list_app_apis", 1, |n| one(n["apis"].clone())),
        MaOp::ListApis => Spec::new(&MA_API_LIST, "list_apis", 1, |n| one(n["apis"].clone())),
        MaOp::CreateApi => Spec::new(&MA_API_BODY, "create_api", 1, |n| one(n["api"].clone())),
        MaOp::Bind => Spec::new(&MA_BIND, "bind", 1, |n| one(n["auth_result"].clone())),
        MaOp::Unbind => Spec::new(&MA_UNBIND, "unbind", 1, |n| one(n["unauth_result"].clone())),
        MaOp::Bindings => Spec::new(
            &MA_BINDINGS,
            "list_bindings",
            1,
            |n| one(n["auths"].clone()),
        ),
        MaOp::Exists => Spec::new(&MA_EXISTS, "exists", 1, |n| one(n["exists"].clone())),
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
                secret_json(c.0.as_ref())
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

/// The `modelarts_answers` target.
pub fn answers() {
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
