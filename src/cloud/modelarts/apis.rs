//! ModelArts inference API calls and the bindings of apps to them.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{ApiInput, ApiList, AuthResult, InferenceApiInfo, ModelArts, ModelArtsApp};
use crate::cloud::endpoints::Service;
use crate::cloud::error::CloudError;
use crate::cloud::transport::{Request, body_error, seg};

#[derive(Deserialize)]
struct ApiBody {
    api: InferenceApiInfo,
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

impl ModelArts<'_> {
    pub async fn create_api(
        &self,
        service_id: &str,
        input: &ApiInput,
    ) -> Result<InferenceApiInfo, CloudError> {
        let body = serde_json::to_value(input)
            .map_err(|e| body_error(Service::ModelArts, "create_api", &e))?;
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
