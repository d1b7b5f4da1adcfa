//! ModelArts app authentication (reference §1, §2): apps, AppCodes, inference APIs and the
//! bindings between them. No official SDK has these; they are called by hand.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::endpoints::Service;
use super::error::CloudError;
use super::secret::SecretString;
use super::transport::{CloudClient, Request, seg};

#[derive(Debug, Clone, Deserialize)]
pub struct ModelArtsApp {
    #[serde(deserialize_with = "super::ids::non_empty")]
    pub app_id: String,
    pub app_name: String,
    #[serde(default)]
    pub app_key: Option<String>,
    /// Masked (contains `*`) unless read with the plaintext flag.
    #[serde(default)]
    pub app_secret: Option<SecretString>,
    #[serde(default)]
    pub app_remark: Option<String>,
    #[serde(default)]
    pub app_codes: Vec<SecretString>,
    #[serde(default)]
    pub bounded_api_count: Option<i64>,
}

#[derive(Deserialize)]
struct AppBody {
    app: ModelArtsApp,
}

#[derive(Deserialize)]
struct AppList {
    #[serde(default)]
    apps: Vec<ModelArtsApp>,
    #[serde(default)]
    total_count: Option<i64>,
}

#[derive(Deserialize)]
struct Exists {
    exists: bool,
}

/// `AuthTypeApiBasicInfo`.
#[derive(Debug, Clone, Deserialize)]
pub struct InferenceApiInfo {
    #[serde(deserialize_with = "super::ids::non_empty")]
    pub api_id: String,
    #[serde(default)]
    pub api_name: Option<String>,
    #[serde(default)]
    pub api_method: Option<String>,
    #[serde(default)]
    pub api_remark: Option<String>,
    #[serde(default)]
    pub auth_type: Option<String>,
    #[serde(default)]
    pub predict_url: Option<String>,
    #[serde(default)]
    pub service_id: Option<String>,
    #[serde(default)]
    pub support_app_code: Option<bool>,
}

#[derive(Deserialize)]
struct ApiBody {
    api: InferenceApiInfo,
}

#[derive(Deserialize)]
struct ApiList {
    #[serde(default)]
    apis: Vec<InferenceApiInfo>,
}

/// One entry of a bind/unbind result: HTTP 200 does not mean every binding succeeded.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthResult {
    #[serde(default)]
    pub api_id: Option<String>,
    #[serde(deserialize_with = "super::ids::non_empty")]
    pub app_id: String,
    #[serde(default)]
    pub auth_id: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub success: bool,
}

#[derive(Deserialize)]
struct BindBody {
    #[serde(default)]
    auth_result: Vec<AuthResult>,
}

#[derive(Deserialize)]
struct UnbindBody {
    #[serde(default)]
    unauth_result: Vec<AuthResult>,
}

#[derive(Deserialize)]
struct BindingList {
    #[serde(default)]
    auths: Vec<ModelArtsApp>,
}

/// Fields of a new inference API (seed 004).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApiInput {
    pub workspace_id: String,
    pub support_app_code: bool,
    pub auth_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_path: Option<String>,
    pub api_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_remark: Option<String>,
}

pub struct ModelArts<'a> {
    client: &'a CloudClient,
    workspace: &'a str,
}

impl CloudClient {
    pub fn modelarts<'a>(&'a self, workspace_id: &'a str) -> ModelArts<'a> {
        ModelArts {
            client: self,
            workspace: workspace_id,
        }
    }
}

impl ModelArts<'_> {
    fn req(&self, op: &'static str, method: Method, rest: &str) -> Request {
        let path = format!("/v1/{}{rest}", seg(self.client.project_id()));
        Request::new(Service::ModelArts, op, method, path).query("workspace_id", self.workspace)
    }

    fn app_req(&self, op: &'static str, method: Method, rest: &str) -> Request {
        self.req(op, method, &format!("/app-auth/apps{rest}"))
    }

    fn plaintext_flag(&self) -> &str {
        &self.client.config().modelarts_plaintext_flag
    }

    pub async fn create_app(
        &self,
        name: &str,
        remark: Option<&str>,
    ) -> Result<ModelArtsApp, CloudError> {
        self.app_write("create", Method::POST, String::new(), name, remark)
            .await
    }

    /// The documented body of app writes (create, reset secret, add AppCode): `{app_name,
    /// app_remark, workspace_id}`, answered with `{"app": ...}`. Never retried blindly.
    async fn app_write(
        &self,
        op: &'static str,
        method: Method,
        rest: String,
        name: &str,
        remark: Option<&str>,
    ) -> Result<ModelArtsApp, CloudError> {
        let body = json!({"app_name": name, "app_remark": remark.unwrap_or_default(), "workspace_id": self.workspace});
        let req = self.app_req(op, method, &rest).json(body).not_idempotent();
        let body: AppBody = self.client.call_json(req).await?;
        Ok(body.app)
    }

    pub async fn list_apps(
        &self,
        name: Option<&str>,
        plaintext: bool,
    ) -> Result<Vec<ModelArtsApp>, CloudError> {
        let mut all = Vec::new();
        let mut offset = 0i64;
        for _ in 0..20 {
            let mut req = self
                .app_req("list", Method::GET, "")
                .query_opt("app_name", name)
                .query("limit", 1000)
                .query("offset", offset);
            if plaintext {
                req = req.query(self.plaintext_flag(), "true");
            }
            let page: AppList = self.client.call_json(req).await?;
            let n = page.apps.len() as i64;
            all.extend(page.apps);
            offset += n;
            if n == 0 || page.total_count.is_none_or(|t| offset >= t) {
                break;
            }
        }
        Ok(all)
    }

    /// Every app named exactly `name` (the list filter is not known to be exact).
    pub async fn find_apps_by_name(
        &self,
        name: &str,
        plaintext: bool,
    ) -> Result<Vec<ModelArtsApp>, CloudError> {
        Ok(self
            .list_apps(Some(name), plaintext)
            .await?
            .into_iter()
            .filter(|a| a.app_name == name)
            .collect())
    }

    pub async fn show_app(
        &self,
        app_id: &str,
        plaintext: bool,
    ) -> Result<ModelArtsApp, CloudError> {
        let mut req = self.app_req("show", Method::GET, &format!("/{}", seg(app_id)));
        if plaintext {
            req = req.query(self.plaintext_flag(), "true");
        }
        let body: AppBody = self.client.call_json(req).await?;
        Ok(body.app)
    }

    pub async fn app_exists(&self, name: &str) -> Result<bool, CloudError> {
        let body: Exists = self
            .client
            .call_json(self.app_req("exists", Method::GET, &format!("/{}/exists", seg(name))))
            .await?;
        Ok(body.exists)
    }

    pub async fn delete_app(&self, app_id: &str) -> Result<(), CloudError> {
        self.client
            .call(self.app_req("delete", Method::DELETE, &format!("/{}", seg(app_id))))
            .await
            .map(|_| ())
    }

    pub async fn reset_secret(
        &self,
        app_id: &str,
        name: &str,
        remark: Option<&str>,
    ) -> Result<ModelArtsApp, CloudError> {
        self.app_write(
            "reset_secret",
            Method::PUT,
            format!("/{}/app-secret", seg(app_id)),
            name,
            remark,
        )
        .await
    }

    /// Adds an AppCode; the body is as documented (`app_name` etc., not a code value).
    pub async fn add_app_code(
        &self,
        app_id: &str,
        name: &str,
        remark: Option<&str>,
    ) -> Result<ModelArtsApp, CloudError> {
        self.app_write(
            "create_app_code",
            Method::POST,
            format!("/{}/app-code", seg(app_id)),
            name,
            remark,
        )
        .await
    }

    /// APIs an app is authorized to.
    pub async fn app_apis(&self, app_id: &str) -> Result<Vec<InferenceApiInfo>, CloudError> {
        let req = self
            .app_req(
                "list_app_apis",
                Method::GET,
                &format!("/{}/auth-apis", seg(app_id)),
            )
            .query("limit", 1000);
        let body: ApiList = self.client.call_json(req).await?;
        Ok(body.apis)
    }

    pub async fn create_api(
        &self,
        service_id: &str,
        input: &ApiInput,
    ) -> Result<InferenceApiInfo, CloudError> {
        let body = serde_json::to_value(input)
            .map_err(|e| super::transport::body_error(Service::ModelArts, "create_api", &e))?;
        let req = self
            .req(
                "create_api",
                Method::POST,
                &format!("/app-auth/{}/apis", seg(service_id)),
            )
            .json(body)
            .not_idempotent();
        let body: ApiBody = self.client.call_json(req).await?;
        Ok(body.api)
    }

    pub async fn list_apis(&self, service_id: &str) -> Result<Vec<InferenceApiInfo>, CloudError> {
        let req = self.req(
            "list_apis",
            Method::GET,
            &format!("/services/{}/app-auth-apis", seg(service_id)),
        );
        let body: ApiList = self.client.call_json(req).await?;
        Ok(body.apis)
    }

    pub async fn delete_api(&self, service_id: &str, api_id: &str) -> Result<(), CloudError> {
        let req = self.req(
            "delete_api",
            Method::DELETE,
            &format!(
                "/services/{}/app-auth-apis/{}",
                seg(service_id),
                seg(api_id)
            ),
        );
        self.client.call(req).await.map(|_| ())
    }

    fn binding_path(service_id: &str, api_id: &str) -> String {
        format!(
            "/services/{}/app-auth-apis/{}/app-auth-api",
            seg(service_id),
            seg(api_id)
        )
    }

    fn apps_body(&self, app_ids: &[&str]) -> serde_json::Value {
        json!({"apps": app_ids.iter().map(|id| json!({"app_id": id})).collect::<Vec<_>>(), "workspace_id": self.workspace})
    }

    /// Authorizes apps to an API. Check each result's `success`.
    pub async fn bind(
        &self,
        service_id: &str,
        api_id: &str,
        app_ids: &[&str],
    ) -> Result<Vec<AuthResult>, CloudError> {
        // Binding an app that is already bound is harmless, so this may be retried.
        let req = Request {
            idempotent: true,
            ..self
                .req(
                    "bind",
                    Method::POST,
                    &Self::binding_path(service_id, api_id),
                )
                .json(self.apps_body(app_ids))
        };
        let body: BindBody = self.client.call_json(req).await?;
        Ok(body.auth_result)
    }

    pub async fn unbind(
        &self,
        service_id: &str,
        api_id: &str,
        app_ids: &[&str],
    ) -> Result<Vec<AuthResult>, CloudError> {
        let req = self
            .req(
                "unbind",
                Method::DELETE,
                &Self::binding_path(service_id, api_id),
            )
            .json(self.apps_body(app_ids));
        let body: UnbindBody = self.client.call_json(req).await?;
        Ok(body.unauth_result)
    }

    /// Apps authorized to an API.
    pub async fn bindings(
        &self,
        service_id: &str,
        api_id: &str,
    ) -> Result<Vec<ModelArtsApp>, CloudError> {
        let req = self
            .req(
                "list_bindings",
                Method::GET,
                &format!(
                    "/services/{}/app-auth-apis/{}/api-auths",
                    seg(service_id),
                    seg(api_id)
                ),
            )
            .query("limit", 1000)
            .query("show_only", "AUTH");
        let body: BindingList = self.client.call_json(req).await?;
        Ok(body.auths)
    }
}
