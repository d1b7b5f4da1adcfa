//! ModelArts app calls: create, list, show, delete, reset the secret, add an AppCode.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{ApiList, InferenceApiInfo, ModelArts, ModelArtsApp};
use crate::cloud::error::CloudError;
use crate::cloud::transport::{Request, seg};

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

impl ModelArts<'_> {
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
}
