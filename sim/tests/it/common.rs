//! Test client: a small SDK-HMAC-SHA256 signer (test code only) over reqwest.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hwcloud_sim::{Config, Handle};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const AK: &str = hwcloud_sim::config::DEFAULT_ACCESS_KEY;
pub const SK: &str = hwcloud_sim::config::DEFAULT_SECRET_KEY;
pub const PROJECT: &str = hwcloud_sim::config::DEFAULT_PROJECT_ID;

pub fn start() -> Handle {
    start_with(Config::default())
}

pub fn start_with(config: Config) -> Handle {
    hwcloud_sim::spawn(config, "127.0.0.1:0".parse().expect("addr")).expect("spawn simulator")
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex_sha256(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}

fn hmac_hex(key: &str, msg: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("hmac key");
    mac.update(msg.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// How a request authenticates.
#[derive(Clone)]
pub enum Auth {
    /// AK/SK signature; `skew_secs` shifts X-Sdk-Date from now.
    Sign {
        ak: String,
        sk: String,
        security_token: Option<String>,
        skew_secs: i64,
    },
    Token(String),
    None,
}

impl Auth {
    pub fn default_keys() -> Self {
        Auth::sign(AK, SK)
    }

    pub fn sign(ak: &str, sk: &str) -> Self {
        Auth::Sign {
            ak: ak.to_string(),
            sk: sk.to_string(),
            security_token: None,
            skew_secs: 0,
        }
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    /// Sends a request and reads the answer (JSON when it parses).
    pub async fn send(rb: reqwest::RequestBuilder) -> Resp {
        let resp = rb.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        assert!(
            headers.contains_key("x-request-id"),
            "every response carries X-Request-Id"
        );
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn code(&self) -> &str {
        self.body
            .get("error_code")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

pub struct Client {
    pub base: String,
    pub auth: Auth,
    pub http: reqwest::Client,
    pub headers: Vec<(String, String)>,
}

impl Client {
    pub fn new(sim: &Handle) -> Self {
        Client::with_auth(sim, Auth::default_keys())
    }

    pub fn with_auth(sim: &Handle, auth: Auth) -> Self {
        Client {
            base: sim.url(),
            auth,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("reqwest client"),
            headers: Vec::new(),
        }
    }

    /// Adds a header sent (and signed) on every request.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Builds a signed request: canonical query in the URL, `host`, `x-sdk-date`,
    /// `content-type` and the extra headers signed.
    pub fn build(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        let raw = body.map(|b| serde_json::to_vec(b).expect("json"));
        self.build_raw(method, path, query, raw)
    }

    /// As [`Client::build`] with the body bytes as given (need not be JSON), signed.
    pub fn build_raw(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> reqwest::RequestBuilder {
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        pairs.sort();
        let canonical_query = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let url = if canonical_query.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{canonical_query}", self.base)
        };
        let has_body = body.is_some();
        let body_bytes = body.unwrap_or_default();
        let host = self
            .base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, host)| host)
            .to_string();
        let mut headers: Vec<(String, String)> = vec![("host".into(), host)];
        if has_body {
            headers.push(("content-type".into(), "application/json".into()));
        }
        for (k, v) in &self.headers {
            headers.push((k.to_ascii_lowercase(), v.clone()));
        }
        let mut rb = self.http.request(method.clone(), &url);
        match &self.auth {
            Auth::Sign {
                ak,
                sk,
                security_token,
                skew_secs,
            } => {
                let date: DateTime<Utc> = Utc::now() + chrono::Duration::seconds(*skew_secs);
                let date = date.format("%Y%m%dT%H%M%SZ").to_string();
                headers.push(("x-sdk-date".into(), date.clone()));
                if let Some(t) = security_token {
                    headers.push(("x-security-token".into(), t.clone()));
                }
                headers.sort();
                let signed = headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(";");
                let canonical_headers: String = headers
                    .iter()
                    .map(|(k, v)| format!("{k}:{}\n", v.trim()))
                    .collect();
                let mut uri = path.split('/').map(enc).collect::<Vec<_>>().join("/");
                if !uri.ends_with('/') {
                    uri.push('/');
                }
                let canonical = format!(
                    "{}\n{uri}\n{canonical_query}\n{canonical_headers}\n{signed}\n{}",
                    method.as_str(),
                    hex_sha256(&body_bytes)
                );
                let sts = format!(
                    "SDK-HMAC-SHA256\n{date}\n{}",
                    hex_sha256(canonical.as_bytes())
                );
                let sig = hmac_hex(sk, &sts);
                rb = rb.header(
                    "Authorization",
                    format!("SDK-HMAC-SHA256 Access={ak}, SignedHeaders={signed}, Signature={sig}"),
                );
            }
            Auth::Token(t) => rb = rb.header("X-Auth-Token", t),
            Auth::None => {}
        }
        for (k, v) in headers {
            if k != "host" {
                rb = rb.header(k, v);
            }
        }
        if has_body {
            rb = rb.body(body_bytes);
        }
        rb
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Resp {
        Resp::send(self.build(method, path, query, body)).await
    }

    /// A signed request with a raw (possibly non-JSON) body.
    pub async fn call_raw(&self, method: Method, path: &str, body: &[u8]) -> Resp {
        Resp::send(self.build_raw(method, path, &[], Some(body.to_vec()))).await
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Resp {
        self.call(Method::GET, path, query, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, &[], Some(&body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, &[], Some(&body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, &[], None).await
    }
}

/// Unauthenticated calls to `/_sim/*`.
pub async fn sim_call(
    sim: &Handle,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let mut rb = client.request(method, format!("{}{path}", sim.url()));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.expect("sim call");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl Client {
    /// A copy of this client with one more header.
    pub fn clone_with_header(&self, name: &str, value: &str) -> Client {
        Client {
            base: self.base.clone(),
            auth: self.auth.clone(),
            http: self.http.clone(),
            headers: self.headers.clone(),
        }
        .header(name, value)
    }
}
