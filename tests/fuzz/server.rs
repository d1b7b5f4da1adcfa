//! The fake cloud: answers every request with the scripted reply for the first route whose
//! fragment the path contains, and records what it was asked.

use std::fmt::Debug;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use appauth_operator::cloud::ratelimit::Rate;
use appauth_operator::cloud::{
    Account, Cloud, CloudClient, CloudConfig, Credentials, SecretString, Service,
};
use serde_json::Value;

/// A response body and how it was made. `exact` is the JSON value the bytes serialise, when
/// they do: then the schema oracle is exact in both directions.
#[derive(Clone)]
pub struct Payload {
    pub kind: &'static str,
    pub exact: Option<Value>,
    pub bytes: Vec<u8>,
}

impl Payload {
    pub fn json(kind: &'static str, value: Value) -> Self {
        let bytes = serde_json::to_vec(&value).expect("a Value serialises");
        Payload {
            kind,
            exact: Some(value),
            bytes,
        }
    }

    pub fn raw(kind: &'static str, bytes: Vec<u8>) -> Self {
        Payload {
            kind,
            exact: None,
            bytes,
        }
    }
}

impl Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Payload");
        d.field("kind", &self.kind);
        match std::str::from_utf8(&self.bytes) {
            Ok(text) => d.field("text", &text),
            Err(_) => d.field("bytes_hex", &hex::encode(&self.bytes)),
        };
        d.finish()
    }
}

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub payload: Payload,
}

impl Reply {
    pub fn new(status: u16, payload: Payload) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            payload,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct Script {
    routes: Vec<(&'static str, Reply)>,
    seen: Vec<Seen>,
}

pub struct Fake {
    rt: tokio::runtime::Runtime,
    pub url: String,
    script: Arc<Mutex<Script>>,
}

async fn answer(
    axum::extract::State(script): axum::extract::State<Arc<Mutex<Script>>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::{HeaderName, HeaderValue, StatusCode};
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let reply = {
        let mut script = script.lock().unwrap_or_else(|e| e.into_inner());
        script.seen.push(Seen {
            path: path.clone(),
            body,
        });
        script
            .routes
            .iter()
            .find(|(fragment, _)| path.contains(fragment))
            .map(|(_, r)| r.clone())
    };
    let Some(reply) = reply else {
        let mut resp = axum::response::Response::new(axum::body::Body::from("no route"));
        *resp.status_mut() = StatusCode::IM_A_TEAPOT;
        return resp;
    };
    let mut resp = axum::response::Response::new(axum::body::Body::from(reply.payload.bytes));
    *resp.status_mut() = StatusCode::from_u16(reply.status).expect("a valid status");
    for (k, v) in &reply.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_bytes(v),
        ) {
            resp.headers_mut().append(k, v);
        }
    }
    resp
}

impl Fake {
    pub fn start() -> Fake {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let script = Arc::new(Mutex::new(Script::default()));
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        rt.spawn(async move { axum::serve(listener, app).await.expect("fake serves") });
        Fake { rt, url, script }
    }

    pub fn script(&self, routes: Vec<(&'static str, Reply)>) {
        let mut script = self.script.lock().unwrap_or_else(|e| e.into_inner());
        script.routes = routes;
        script.seen.clear();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .clone()
    }

    pub fn run<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// A client of every service at the fake: one attempt per call, no rate limit to speak of.
    pub fn client(&self) -> CloudClient {
        let mut config = CloudConfig {
            max_attempts: 1,
            ..CloudConfig::default()
        };
        let fast = NonZeroU32::new(1_000_000).expect("non-zero");
        for service in Service::ALL {
            config
                .endpoints
                .add_override(&format!("{service}={}", self.url))
                .expect("loopback override");
            config.rates.insert(service, Rate::new(fast, fast));
        }
        Cloud::new(config, None).expect("cloud").client(&Account {
            region: "cn-north-4".into(),
            project_id: "proj".into(),
            credentials: Credentials::AkSk {
                access_key: "AK".into(),
                secret_key: SecretString::from("the-signing-key"),
                security_token: None,
            },
        })
    }
}
