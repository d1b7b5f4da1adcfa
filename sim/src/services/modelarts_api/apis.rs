//! Registration of app-auth APIs: the new API from a request body, and its JSON.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::invalid;
use crate::error::{ApiError, modelarts as err};
use crate::http::Body;
use crate::services::Ctx;
use crate::state::{Api, hex32};
use crate::validate;

const MAX_FIELD: usize = 255;
const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "ANY",
];

/// A deterministic service name for a service id (the simulator has no real services).
pub fn service_name(service_id: &str) -> String {
    let digest = hex::encode(Sha256::digest(service_id.as_bytes()));
    format!("service-{}", &digest[..4])
}

/// `AuthTypeApiBasicInfo` (plus api_url, api_path, workspace_id).
pub fn api_json(api: &Api) -> Value {
    json!({
        "api_id": api.id,
        "api_name": api.name,
        "api_method": api.method,
        "api_remark": api.remark,
        "auth_type": api.auth_type,
        "predict_url": api.predict_url,
        "service_id": api.service_id,
        "service_name": service_name(&api.service_id),
        "support_app_code": api.support_app_code,
        "api_url": api.api_url,
        "api_path": api.api_path,
        "workspace_id": api.workspace_id,
    })
}

pub(super) fn new_api(ctx: &Ctx, service_id: &str, body: &Body) -> Result<Api, ApiError> {
    let workspace = body
        .str("workspace_id")?
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "0".to_string());
    let auth_type = match body.str("auth_type")?.as_deref() {
        None | Some("APP") | Some("APIG") => "APP".to_string(),
        Some("NONE") => "NONE".to_string(),
        Some("IAM") => "IAM".to_string(),
        Some(_) => return Err(invalid("auth_type")),
    };
    let method = match body.str("api_method")? {
        None => "ANY".to_string(),
        Some(m) => {
            let up = m.to_ascii_uppercase();
            if !METHODS.contains(&up.as_str()) {
                return Err(invalid("api_method"));
            }
            up
        }
    };
    let mut fields = Vec::new();
    for key in ["api_url", "api_path", "api_remark"] {
        let v = body.str(key)?.unwrap_or_default();
        if !validate::remark(&v, MAX_FIELD) {
            return Err(err::invalid(format!(
                "Invalid parameter: {key} exceeds {MAX_FIELD} characters"
            )));
        }
        fields.push(v);
    }
    let [api_url, api_path, remark] =
        <[String; 3]>::try_from(fields).map_err(|_| invalid("body"))?;
    let name = match body.str("api_name")? {
        Some(n) if !n.is_empty() => {
            if !validate::free_name(&n) {
                return Err(invalid("api_name"));
            }
            n
        }
        _ => format!("infer_{}", service_id.replace('-', "")),
    };
    let domain_digest = hex::encode(Sha256::digest(
        format!("{}/{service_id}", ctx.account.project_id).as_bytes(),
    ));
    let path = if api_path.is_empty() {
        format!("/v1/infers/{service_id}")
    } else if api_path.starts_with('/') {
        api_path.clone()
    } else {
        format!("/{api_path}")
    };
    let predict_url = format!(
        "https://{}.apig.{}.huaweicloudapis.com{path}",
        &domain_digest[..32],
        ctx.account.region
    );
    Ok(Api {
        project: ctx.account.project_id.clone(),
        service_id: service_id.to_string(),
        workspace_id: workspace,
        id: hex32(),
        name,
        remark,
        method,
        auth_type,
        support_app_code: body.bool("support_app_code")?.unwrap_or(false),
        api_url,
        api_path,
        predict_url,
        user_id: ctx.user_id(),
        created: ctx.now,
        bindings: Vec::new(),
    })
}
