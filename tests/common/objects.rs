//! Helpers for GatewayApps and their Secrets in a test namespace.

use std::time::Duration;

use appauth_operator::api::GatewayApp;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::Value;

use super::sim::Sim;
use super::{cluster, wait};

/// A fresh namespace named after the test, and a simulator of its own.
pub async fn setup(test: &str) -> (Ns, Sim) {
    let client = cluster::client().await;
    let name = cluster::namespace(&client, test).await;
    (Ns { client, name }, Sim::start())
}

/// The app key and secret a credentials Secret holds.
pub async fn creds(ns: &Ns, secret: &str) -> (String, String) {
    let s = ns.secret(secret).await.expect("Secret");
    (
        Ns::value(&s, "app_key").expect("key"),
        Ns::value(&s, "app_secret").expect("secret"),
    )
}

/// The namespace's Events with `reason`.
pub async fn events(ns: &Ns, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(ns.client.clone(), &ns.name);
    api.list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

pub struct Ns {
    pub client: Client,
    pub name: String,
}

impl Ns {
    pub fn apps(&self) -> Api<GatewayApp> {
        Api::namespaced(self.client.clone(), &self.name)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.name)
    }

    pub async fn create(&self, name: &str, spec: Value) -> GatewayApp {
        let obj: GatewayApp = serde_json::from_value(serde_json::json!({
            "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
            "metadata": {"name": name}, "spec": spec,
        }))
        .expect("GatewayApp");
        self.apps()
            .create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"))
    }

    /// Creates a GatewayApp with annotations (a restore, a copy, an adoption).
    pub async fn create_annotated(
        &self,
        name: &str,
        annotations: Value,
        spec: Value,
    ) -> GatewayApp {
        let obj: GatewayApp = serde_json::from_value(serde_json::json!({
            "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
            "metadata": {"name": name, "annotations": annotations}, "spec": spec,
        }))
        .expect("GatewayApp");
        self.apps()
            .create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"))
    }

    /// Creates a GatewayApp with labels (an operator that selects objects by label).
    pub async fn create_labelled(&self, name: &str, labels: Value, spec: Value) -> GatewayApp {
        let obj: GatewayApp = serde_json::from_value(serde_json::json!({
            "apiVersion": "appauth.hwcloud.dev/v1alpha1", "kind": "GatewayApp",
            "metadata": {"name": name, "labels": labels}, "spec": spec,
        }))
        .expect("GatewayApp");
        self.apps()
            .create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"))
    }

    pub async fn patch(&self, name: &str, patch: Value) {
        self.apps()
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap_or_else(|e| panic!("patch {name}: {e}"));
    }

    pub async fn get(&self, name: &str) -> Option<GatewayApp> {
        self.apps().get_opt(name).await.expect("get GatewayApp")
    }

    pub async fn delete(&self, name: &str) {
        self.apps()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete {name}: {e}"));
    }

    /// The Ready condition's (status, reason).
    pub fn ready(app: &GatewayApp) -> Option<(String, String)> {
        app.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| (c.status.to_string(), c.reason.to_string()))
    }

    /// Waits for Ready=True at the current generation; returns the object.
    pub async fn wait_ready(&self, name: &str, timeout: Duration) -> GatewayApp {
        wait::until(timeout, &format!("{name} Ready"), || async {
            let app = self.get(name).await?;
            let st = app.status.as_ref()?;
            let ready = st
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            (ready && st.observed_generation == app.metadata.generation).then_some(app)
        })
        .await
    }

    /// Waits for Ready=True at the current generation; returns the app id.
    pub async fn ready_id(&self, name: &str, timeout: Duration) -> String {
        let app = self.wait_ready(name, timeout).await;
        app.status.and_then(|s| s.app_id).expect("status.appId")
    }

    /// Waits for Ready to carry `reason`.
    pub async fn wait_reason(&self, name: &str, reason: &str, timeout: Duration) -> GatewayApp {
        wait::until(
            timeout,
            &format!("{name} Ready reason {reason}"),
            || async {
                let app = self.get(name).await?;
                (Self::ready(&app)?.1 == reason).then_some(app)
            },
        )
        .await
    }

    pub async fn wait_gone(&self, name: &str, timeout: Duration) {
        wait::until(timeout, &format!("{name} deleted"), || async {
            self.get(name).await.is_none().then_some(())
        })
        .await
    }

    pub async fn secret(&self, name: &str) -> Option<Secret> {
        self.secrets().get_opt(name).await.expect("get Secret")
    }

    pub fn value(secret: &Secret, key: &str) -> Option<String> {
        secret
            .data
            .as_ref()?
            .get(key)
            .map(|v| String::from_utf8_lossy(&v.0).to_string())
    }
}

/// An account Secret for the simulator's default account, labelled so changes are seen at once.
pub async fn account_secret(ns: &Ns, name: &str) {
    use super::operator::{AK, PROJECT, REGION, SK};
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"appauth.hwcloud.dev/account": "true"}},
        "stringData": {"accessKey": AK, "secretKey": SK, "region": REGION, "projectId": PROJECT},
    }))
    .expect("Secret");
    ns.secrets()
        .create(&PostParams::default(), &secret)
        .await
        .expect("account Secret");
}

/// Whether the Secret carries the operator's in-use finalizer.
pub async fn in_use(ns: &Ns, name: &str) -> bool {
    ns.secret(name)
        .await
        .and_then(|s| s.metadata.finalizers)
        .unwrap_or_default()
        .iter()
        .any(|f| f == "appauth.hwcloud.dev/in-use")
}

/// Object `i` of a burst spread over the four services, round robin (1 in 4 is ModelArts).
pub fn spread_spec(i: usize) -> Value {
    match i % 4 {
        0 => serde_json::json!({"apig": {"instanceId": "gw1"}, "description": format!("app {i}")}),
        1 => serde_json::json!({"modelarts": {}}),
        2 => serde_json::json!({"dataarts": {"workspaceId": "w1"}}),
        _ => serde_json::json!({"roma": {"instanceId": "r1"}}),
    }
}
