//! ROMA Connect integration applications (reference §5). The app object never carries the
//! secret: it is read with `GET .../apps/{id}/secret`.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::endpoints::Service;
use super::error::{CloudError, ErrorCategory};
use super::secret::{ExposeSecret, SecretString};
use super::transport::{CloudClient, Request, seg};

#[derive(Debug, Clone, Deserialize)]
pub struct RomaApp {
    #[serde(deserialize_with = "super::ids::non_empty")]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub remark: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub favorite: Option<bool>,
    #[serde(default)]
    pub owner: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RomaAppBrief {
    #[serde(deserialize_with = "super::ids::non_empty")]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub remark: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RomaAppList {
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub apps: Vec<RomaApp>,
}

#[derive(Deserialize)]
struct SecretBody {
    secret: SecretString,
}

#[derive(Debug, Clone, Default)]
pub struct RomaInput<'a> {
    pub name: &'a str,
    pub remark: Option<&'a str>,
    pub key: Option<&'a str>,
    pub secret: Option<&'a SecretString>,
    pub favorite: Option<bool>,
}

pub struct Roma<'a> {
    client: &'a CloudClient,
    instance: &'a str,
}

impl CloudClient {
    pub fn roma<'a>(&'a self, instance_id: &'a str) -> Roma<'a> {
        Roma {
            client: self,
            instance: instance_id,
        }
    }
}

impl Roma<'_> {
    fn req(&self, op: &'static str, method: Method, rest: &str) -> Request {
        let path = format!(
            "/v2/{}/instances/{}{rest}",
            seg(self.client.project_id()),
            seg(self.instance)
        );
        Request::new(Service::Roma, op, method, path)
    }

    pub async fn create(&self, input: &RomaInput<'_>) -> Result<RomaApp, CloudError> {
        let mut body = json!({"name": input.name});
        if let Some(r) = input.remark {
            body["remark"] = json!(r);
        }
        if let Some(k) = input.key {
            body["key"] = json!(k);
        }
        if let Some(s) = input.secret {
            body["secret"] = json!(s.expose_secret());
        }
        if let Some(f) = input.favorite {
            body["favorite"] = json!(f);
        }
        let req = self
            .req("create", Method::POST, "/apps")
            .json(body)
            .not_idempotent()
            .sensitive(input.secret);
        self.client.call_json(req).await
    }

    pub async fn list(
        &self,
        name: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<RomaAppList, CloudError> {
        let req = self
            .req("list", Method::GET, "/apps")
            .query_opt("name", name)
            .query("offset", offset)
            .query("limit", limit);
        self.client.call_json(req).await
    }

    /// Exact lookup by name (`validate-apps`); `None` when no app has that name.
    pub async fn find_by_name(&self, name: &str) -> Result<Option<RomaAppBrief>, CloudError> {
        let req = self
            .req("validate", Method::GET, "/validate-apps")
            .query("name", name);
        match self.client.call_json(req).await {
            Ok(app) => Ok(Some(app)),
            Err(e) if e.category() == ErrorCategory::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Exact lookup by id (`validate-apps?id=`); `None` when no app has that id.
    pub async fn find_by_id(&self, app_id: &str) -> Result<Option<RomaAppBrief>, CloudError> {
        let req = self
            .req("validate", Method::GET, "/validate-apps")
            .query("id", app_id);
        match self.client.call_json(req).await {
            Ok(app) => Ok(Some(app)),
            Err(e) if e.category() == ErrorCategory::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn show(&self, app_id: &str) -> Result<RomaApp, CloudError> {
        self.client
            .call_json(self.req("show", Method::GET, &format!("/apps/{}", seg(app_id))))
            .await
    }

    pub async fn update(
        &self,
        app_id: &str,
        name: &str,
        remark: Option<&str>,
        favorite: Option<bool>,
    ) -> Result<RomaApp, CloudError> {
        let mut body = json!({"name": name});
        if let Some(r) = remark {
            body["remark"] = json!(r);
        }
        if let Some(f) = favorite {
            body["favorite"] = json!(f);
        }
        self.client
            .call_json(
                self.req("update", Method::PUT, &format!("/apps/{}", seg(app_id)))
                    .json(body),
            )
            .await
    }

    pub async fn delete(&self, app_id: &str) -> Result<(), CloudError> {
        self.client
            .call(self.req("delete", Method::DELETE, &format!("/apps/{}", seg(app_id))))
            .await
            .map(|_| ())
    }

    pub async fn get_secret(&self, app_id: &str) -> Result<SecretString, CloudError> {
        let body: SecretBody = self
            .client
            .call_json(self.req(
                "get_secret",
                Method::GET,
                &format!("/apps/{}/secret", seg(app_id)),
            ))
            .await?;
        Ok(body.secret)
    }

    /// New secret: the given one, or a random one the service chooses.
    pub async fn reset_secret(
        &self,
        app_id: &str,
        secret: Option<&SecretString>,
    ) -> Result<SecretString, CloudError> {
        let body = match secret {
            Some(s) => json!({"secret": s.expose_secret()}),
            None => json!({}),
        };
        let req = self
            .req(
                "reset_secret",
                Method::PUT,
                &format!("/apps/{}/secret", seg(app_id)),
            )
            .json(body)
            .not_idempotent()
            .sensitive(secret);
        let body: SecretBody = self.client.call_json(req).await?;
        Ok(body.secret)
    }
}
