//! APIG dedicated gateway apps ("credentials") and AppCodes (reference §4).

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::endpoints::Service;
use super::error::CloudError;
use super::secret::{ExposeSecret, SecretString};
use super::transport::{CloudClient, Request, seg};

/// An APIG app as the API returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct ApigApp {
    #[serde(deserialize_with = "super::ids::non_empty")]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub remark: Option<String>,
    #[serde(default)]
    pub app_key: Option<String>,
    #[serde(default)]
    pub app_secret: Option<SecretString>,
    #[serde(default)]
    pub status: Option<i64>,
    #[serde(default)]
    pub creator: Option<String>,
    #[serde(default)]
    pub bind_num: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApigAppList {
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub apps: Vec<ApigApp>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AppCode {
    #[serde(deserialize_with = "super::ids::non_empty")]
    pub id: String,
    pub app_code: SecretString,
    #[serde(default)]
    pub app_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AppCodeList {
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub app_codes: Vec<AppCode>,
}

/// Fields of a create or update.
#[derive(Debug, Clone, Default)]
pub struct AppInput<'a> {
    pub name: &'a str,
    pub remark: Option<&'a str>,
    pub app_key: Option<&'a str>,
    pub app_secret: Option<&'a SecretString>,
}

impl AppInput<'_> {
    fn body(&self) -> serde_json::Value {
        let mut body = json!({"name": self.name});
        if let Some(r) = self.remark {
            body["remark"] = json!(r);
        }
        if let Some(k) = self.app_key {
            body["app_key"] = json!(k);
        }
        if let Some(s) = self.app_secret {
            body["app_secret"] = json!(s.expose_secret());
        }
        body
    }
}

/// List filters.
#[derive(Debug, Clone, Default)]
pub struct ListFilter<'a> {
    pub name: Option<&'a str>,
    /// Exact match on name (`precise_search=name`).
    pub precise: bool,
    pub id: Option<&'a str>,
    pub app_key: Option<&'a str>,
    pub offset: i64,
    pub limit: i64,
}

pub struct Apig<'a> {
    client: &'a CloudClient,
    instance: &'a str,
}

impl CloudClient {
    pub fn apig<'a>(&'a self, instance_id: &'a str) -> Apig<'a> {
        Apig {
            client: self,
            instance: instance_id,
        }
    }
}

impl Apig<'_> {
    fn path(&self, rest: &str) -> String {
        format!(
            "/v2/{}/apigw/instances/{}/apps{rest}",
            seg(self.client.project_id()),
            seg(self.instance)
        )
    }

    fn req(&self, op: &'static str, method: Method, rest: &str) -> Request {
        Request::new(Service::Apig, op, method, self.path(rest))
    }

    pub async fn create(&self, input: &AppInput<'_>) -> Result<ApigApp, CloudError> {
        let req = self
            .req("create", Method::POST, "")
            .json(input.body())
            .not_idempotent()
            .sensitive(input.app_secret);
        self.client.call_json(req).await
    }

    pub async fn list(&self, filter: &ListFilter<'_>) -> Result<ApigAppList, CloudError> {
        let req = self
            .req("list", Method::GET, "")
            .query_opt("name", filter.name)
            .query_opt("precise_search", filter.precise.then_some("name"))
            .query_opt("id", filter.id)
            .query_opt("app_key", filter.app_key)
            .query("offset", filter.offset)
            .query("limit", if filter.limit > 0 { filter.limit } else { 500 });
        self.client.call_json(req).await
    }

    /// Every app whose name is exactly `name` (precise search, then an exact check here too).
    pub async fn find_by_name(&self, name: &str) -> Result<Vec<ApigApp>, CloudError> {
        let mut found = Vec::new();
        let mut offset = 0;
        // Bounded: at most 20 pages of 500.
        for _ in 0..20 {
            let page = self
                .list(&ListFilter {
                    name: Some(name),
                    precise: true,
                    offset,
                    limit: 500,
                    ..Default::default()
                })
                .await?;
            let n = page.apps.len() as i64;
            found.extend(page.apps.into_iter().filter(|a| a.name == name));
            offset += n;
            if n == 0 || offset >= page.total {
                break;
            }
        }
        Ok(found)
    }

    pub async fn show(&self, app_id: &str) -> Result<ApigApp, CloudError> {
        self.client
            .call_json(self.req("show", Method::GET, &format!("/{}", seg(app_id))))
            .await
    }

    /// `GET .../apps/validation/{app_id}`: does the app exist (no secret).
    pub async fn verify(&self, app_id: &str) -> Result<ApigApp, CloudError> {
        self.client
            .call_json(self.req(
                "validate",
                Method::GET,
                &format!("/validation/{}", seg(app_id)),
            ))
            .await
    }

    pub async fn update(&self, app_id: &str, input: &AppInput<'_>) -> Result<ApigApp, CloudError> {
        let req = self
            .req("update", Method::PUT, &format!("/{}", seg(app_id)))
            .json(input.body())
            .sensitive(input.app_secret);
        self.client.call_json(req).await
    }

    pub async fn delete(&self, app_id: &str) -> Result<(), CloudError> {
        self.client
            .call(self.req("delete", Method::DELETE, &format!("/{}", seg(app_id))))
            .await
            .map(|_| ())
    }

    /// New secret: the given one, or one the gateway chooses.
    pub async fn reset_secret(
        &self,
        app_id: &str,
        secret: Option<&SecretString>,
    ) -> Result<ApigApp, CloudError> {
        let body = match secret {
            Some(s) => json!({"app_secret": s.expose_secret()}),
            None => json!({}),
        };
        let req = self
            .req(
                "reset_secret",
                Method::PUT,
                &format!("/secret/{}", seg(app_id)),
            )
            .json(body)
            .not_idempotent()
            .sensitive(secret);
        self.client.call_json(req).await
    }

    pub async fn create_app_code(
        &self,
        app_id: &str,
        code: &SecretString,
    ) -> Result<AppCode, CloudError> {
        let req = self
            .req(
                "create_app_code",
                Method::POST,
                &format!("/{}/app-codes", seg(app_id)),
            )
            .json(json!({"app_code": code.expose_secret()}))
            .not_idempotent()
            .sensitive(Some(code));
        self.client.call_json(req).await
    }

    /// `PUT .../app-codes`: the gateway generates a code.
    pub async fn generate_app_code(&self, app_id: &str) -> Result<AppCode, CloudError> {
        let req = self
            .req(
                "generate_app_code",
                Method::PUT,
                &format!("/{}/app-codes", seg(app_id)),
            )
            .not_idempotent();
        self.client.call_json(req).await
    }

    pub async fn list_app_codes(&self, app_id: &str) -> Result<Vec<AppCode>, CloudError> {
        let req = self
            .req(
                "list_app_codes",
                Method::GET,
                &format!("/{}/app-codes", seg(app_id)),
            )
            .query("limit", 50);
        let list: AppCodeList = self.client.call_json(req).await?;
        Ok(list.app_codes)
    }

    pub async fn delete_app_code(&self, app_id: &str, app_code_id: &str) -> Result<(), CloudError> {
        let req = self.req(
            "delete_app_code",
            Method::DELETE,
            &format!("/{}/app-codes/{}", seg(app_id), seg(app_code_id)),
        );
        self.client.call(req).await.map(|_| ())
    }
}
