//! ModelArts app authentication (reference §1, §2): apps, AppCodes, inference APIs and the
//! bindings between them. No official SDK has these; they are called by hand. The types
//! callers see (`types`), the app calls (`apps`) and the API and binding calls (`apis`) each
//! have a file of their own.

mod apis;
mod apps;
mod types;

use reqwest::Method;
use serde::Deserialize;

use super::endpoints::Service;
use super::transport::{CloudClient, Request, seg};
pub use types::{ApiInput, AuthResult, InferenceApiInfo, ModelArtsApp};

/// Here because both `apps` (an app's APIs) and `apis` (a service's APIs) read it.
#[derive(Deserialize)]
struct ApiList {
    #[serde(default)]
    apis: Vec<InferenceApiInfo>,
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
}
