//! The API in the cloud: found by id (read once per resync period), recovered after a crash by
//! fingerprint, or created: observe, plan (`plan::plan_create`, the same decision as for apps),
//! execute.

use super::*;
use crate::controller::pending::{self, marker_of, write_marker};
use crate::controller::plan::CreatePlan;

pub(super) async fn ensure_api(
    api: &InferenceApi,
    ctx: &Context,
    client: &CloudClient,
) -> Result<InferenceApiInfo> {
    let uid = api.uid().unwrap_or_default();
    let ma = client.modelarts(workspace(api));
    let Some(id) = known_api_id(api) else {
        return create_or_recover(api, ctx, client, false).await;
    };
    let st = status(api);
    if !ctx.read_due(&uid) && st.api_id.as_deref() == Some(id.as_str()) {
        return Ok(InferenceApiInfo {
            api_id: id,
            api_name: st.api_name,
            predict_url: st.predict_url,
            service_id: Some(api.spec.service_id.clone()),
            api_method: None,
            api_remark: None,
            auth_type: None,
            support_app_code: None,
        });
    }
    let apis = ma
        .list_apis(&api.spec.service_id)
        .await
        .map_err(Error::cloud)?;
    ctx.mark_read(&uid);
    if let Some(found) = apis.into_iter().find(|a| a.api_id == id) {
        return Ok(found);
    }
    let note = format!(
        "API {id} no longer exists in the cloud; creating it again and re-binding its apps"
    );
    ctx.warning(api, "Recreating", "Drift", note).await;
    let mut forget_id = serde_json::Map::new();
    forget_id.insert(annotations::API_ID.into(), serde_json::Value::Null);
    let mut fresh = driver::annotate(api, ctx, forget_id).await?;
    fresh.status = Some(InferenceApiStatus {
        api_id: None,
        authorized_apps: Vec::new(),
        ..status(api)
    });
    Box::pin(create_or_recover(&fresh, ctx, client, true)).await
}

async fn create_or_recover(
    api: &InferenceApi,
    ctx: &Context,
    client: &CloudClient,
    force_new_marker: bool,
) -> Result<InferenceApiInfo> {
    let uid = api.uid().unwrap_or_default();
    let name = api.spec.api_name.clone().unwrap_or_else(|| {
        naming::default_app_name(
            &ctx.settings.cluster_name,
            &api.namespace().unwrap_or_default(),
            &api.name_any(),
        )
    });
    let (marker, fresh) = match marker_of(api) {
        Some(m) if !force_new_marker => (m, false),
        _ => (write_marker(api, ctx, &name).await?, !force_new_marker),
    };
    let ma = client.modelarts(workspace(api));
    if !fresh {
        let ours = ma
            .list_apis(&api.spec.service_id)
            .await
            .map_err(Error::cloud)?
            .into_iter()
            .filter(|a| is_ours(api, ctx, a))
            .collect();
        let facts = pending::create_facts(ctx, &uid, &marker, ours);
        match plan::plan_create(facts) {
            CreatePlan::Recover { keep, twins } => {
                for twin in &twins {
                    ma.delete_api(&api.spec.service_id, &twin.api_id)
                        .await
                        .map_err(Error::cloud)?;
                    audit::api(api, Mutation::Delete, &twin.api_id, None);
                    let note = format!("deleted duplicate API {}", twin.api_id);
                    ctx.warning(api, "DuplicateRemoved", "Recover", note).await;
                }
                audit::api(api, Mutation::Recover, &keep.api_id, None);
                return Ok(keep);
            }
            CreatePlan::Wait(after) => {
                return Err(waits::in_flight(
                    after,
                    &format!("API {name}"),
                    Reason::Creating,
                ));
            }
            // Nothing foreign is looked at for APIs: there is nothing to adopt or refuse.
            CreatePlan::Adopt(_) | CreatePlan::Refuse(_) | CreatePlan::Create => {}
        }
        pending::restamp_marker(api, ctx, &marker, &name).await?;
    }
    create(api, ctx, client, &name).await
}

async fn create(
    api: &InferenceApi,
    ctx: &Context,
    client: &CloudClient,
    name: &str,
) -> Result<InferenceApiInfo> {
    let uid = api.uid().unwrap_or_default();
    let input = ApiInput {
        workspace_id: api.spec.workspace_id.clone(),
        support_app_code: api.spec.support_app_code,
        auth_type: auth(api.spec.auth_type).to_string(),
        api_name: Some(name.to_string()),
        api_url: api.spec.api_url.clone(),
        api_path: api.spec.api_path.clone(),
        api_method: method(api.spec.method).to_string(),
        api_remark: Some(
            ctx.fingerprint(&uid)
                .remark(api.spec.description.as_deref()),
        ),
    };
    ctx.set_unresolved(&uid, true);
    match client
        .modelarts(workspace(api))
        .create_api(&api.spec.service_id, &input)
        .await
    {
        Ok(created) => {
            ctx.set_unresolved(&uid, false);
            audit::api(api, Mutation::Create, &created.api_id, None);
            crate::failpoint("after-create-api");
            ctx.mark_read(&uid);
            let note = format!(
                "created API {} on service {}",
                created.api_id, api.spec.service_id
            );
            ctx.normal(api, "Created", "Create", note).await;
            Ok(created)
        }
        Err(e) if e.outcome_unknown() => Err(waits::create_unanswered(&format!("API {name}"))),
        Err(e) => {
            ctx.set_unresolved(&uid, false);
            Err(Error::cloud(e))
        }
    }
}
