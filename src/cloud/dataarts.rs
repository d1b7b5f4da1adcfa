//! DataArts Studio DataService apps (reference §3): `workspace` and `Dlm-Type` headers on every
//! call; not-found is HTTP 400 with DLM.4063; no secret reset exists.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::endpoints::Service;
use super::error::CloudError;
use super::secret::SecretString;
use super::transport::{CloudClient, Request, seg};

#[derive(Debug, Clone, Deserialize)]
pub struct DataArtsApp {
    #[serde(deserialize_with = "super::ids::non_empty")]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub app_key: Option<String>,
    #[serde(default)]
    pub app_secret: Option<SecretString>,
    #[serde(default)]
    pub app_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DataArtsAppList {
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub apps: Vec<DataArtsApp>,
}

pub struct DataArts<'a> {
    client: &'a CloudClient,
    workspace: &'a str,
    dlm_type: &'a str,
}

impl CloudClient {
    /// `dlm_type` is SHARED or EXCLUSIVE.
    pub fn dataarts<'a>(&'a self, workspace_id: &'a str, dlm_type: &'a str) -> DataArts<'a> {
        DataArts {
            client: self,
            workspace: workspace_id,
            dlm_type,
        }
    }
}

impl DataArts<'_> {
    fn req(&self, op: &'static str, method: Method, rest: &str) -> Request {
        let path = format!("/v1/{}/service/apps{rest}", seg(self.client.project_id()));
        Request::new(Service::DataArts, op, method, path)
            .header("workspace", self.workspace)
            .header("Dlm-Type", self.dlm_type)
    }

    /// Creates an APP-type app (IAM apps carry no key and are out of scope).
    pub async fn create(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<DataArtsApp, CloudError> {
        let mut body = json!({"name": name, "app_type": "APP"});
        if let Some(d) = description {
            body["description"] = json!(d);
        }
        self.client
            .call_json(
                self.req("create", Method::POST, "")
                    .json(body)
                    .not_idempotent(),
            )
            .await
    }

    pub async fn list(
        &self,
        name: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<DataArtsAppList, CloudError> {
        let req = self
            .req("list", Method::GET, "")
            .query_opt("name", name)
            .query("offset", offset)
            .query("limit", limit);
        self.client.call_json(req).await
    }

    /// Every app named exactly `name`: the service's name filter is fuzzy, so filter here.
    pub async fn find_by_name(&self, name: &str) -> Result<Vec<DataArtsApp>, CloudError> {
        let mut found = Vec::new();
        let mut offset = 0;
        for _ in 0..50 {
            let page = self.list(Some(name), offset, 100).await?;
            let n = page.apps.len() as i64;
            found.extend(page.apps.into_iter().filter(|a| a.name == name));
            offset += n;
            if n == 0 || offset >= page.total {
                break;
            }
        }
        Ok(found)
    }

    pub async fn show(&self, app_id: &str) -> Result<DataArtsApp, CloudError> {
        self.client
            .call_json(self.req("show", Method::GET, &format!("/{}", seg(app_id))))
            .await
    }

    pub async fn update(
        &self,
        app_id: &str,
        name: &str,
        description: Option<&str>,
    ) -> Result<DataArtsApp, CloudError> {
        let body = json!({"name": name, "description": description.unwrap_or_default()});
        self.client
            .call_json(
                self.req("update", Method::PUT, &format!("/{}", seg(app_id)))
                    .json(body),
            )
            .await
    }

    pub async fn delete(&self, app_id: &str) -> Result<(), CloudError> {
        self.client
            .call(self.req("delete", Method::DELETE, &format!("/{}", seg(app_id))))
            .await
            .map(|_| ())
    }
}
