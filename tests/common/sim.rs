//! The simulator for tests, with its test endpoints as typed helpers.

use serde_json::Value;

pub struct Sim {
    pub handle: hwcloud_sim::Handle,
}

impl Sim {
    pub fn start() -> Sim {
        let handle = hwcloud_sim::spawn(
            hwcloud_sim::Config::default(),
            "127.0.0.1:0".parse().expect("addr"),
        )
        .expect("simulator starts");
        Sim { handle }
    }

    /// The simulator over HTTPS, with a certificate `ca` signed.
    pub fn start_tls(ca: &super::tls::PrivateCa) -> Sim {
        let handle = hwcloud_sim::spawn_tls(
            hwcloud_sim::Config::default(),
            "127.0.0.1:0".parse().expect("addr"),
            ca.server_tls(),
        )
        .expect("simulator starts");
        Sim { handle }
    }

    pub fn url(&self) -> String {
        self.handle.url()
    }

    /// Apps of one service (as `/_sim/state` lists them).
    pub fn apps(&self, service: &str) -> Vec<Value> {
        let state = serde_json::to_value(self.handle.state()).expect("state as JSON");
        state["apps"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["service"] == service)
            .collect()
    }

    pub fn all_apps(&self) -> Vec<Value> {
        let state = serde_json::to_value(self.handle.state()).expect("state as JSON");
        state["apps"].as_array().cloned().unwrap_or_default()
    }

    pub fn app(&self, id: &str) -> Option<Value> {
        self.all_apps().into_iter().find(|a| a["id"] == id)
    }
}

/// The simulator's app-credential check: a request signed with the app's key and secret.
pub async fn credentials_work(sim_url: &str, key: &str, secret: &str) -> bool {
    credentials_work_with(&reqwest::Client::new(), sim_url, key, secret).await
}

/// [`credentials_work`] through `client` (one that trusts the simulator's certificate).
pub async fn credentials_work_with(
    client: &reqwest::Client,
    sim_url: &str,
    key: &str,
    secret: &str,
) -> bool {
    use appauth_operator::cloud::signer::{SigningRequest, prepare_headers, sign};
    let url = reqwest::Url::parse(&format!("{sim_url}/_sim/gateway/ping")).expect("url");
    let host = format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(80)
    );
    let mut headers = Vec::new();
    prepare_headers(&mut headers, &host, chrono::Utc::now());
    let sig = sign(
        &SigningRequest {
            method: "GET",
            path: url.path(),
            query: &[],
            headers: &headers,
            body: b"",
        },
        key,
        secret.as_bytes(),
    );
    let mut req = client.get(url);
    for (k, v) in headers.iter().filter(|(k, _)| k != "Host") {
        req = req.header(k, v);
    }
    req.header("Authorization", sig.authorization)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}
