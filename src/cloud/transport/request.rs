//! One cloud call as the service modules describe it, before it becomes HTTP.

use reqwest::Method;

use crate::cloud::endpoints::Service;
use crate::cloud::secret::SecretString;
use crate::cloud::signer;

/// One cloud call.
pub(crate) struct Request {
    pub service: Service,
    pub op: &'static str,
    pub method: Method,
    /// Path with every variable segment already encoded with [`seg`].
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
    /// Safe to repeat: reads, updates to a fixed value, deletes.
    pub idempotent: bool,
    /// Secrets this request carries, scrubbed from any error text.
    pub sensitive: Vec<SecretString>,
}

impl Request {
    pub fn new(service: Service, op: &'static str, method: Method, path: String) -> Self {
        let idempotent = method == Method::GET || method == Method::DELETE || method == Method::PUT;
        Self {
            service,
            op,
            method,
            path,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            idempotent,
            sensitive: Vec::new(),
        }
    }

    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    pub fn query_opt(self, key: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.query(key, v),
            None => self,
        }
    }

    pub fn header(mut self, key: &str, value: impl ToString) -> Self {
        self.headers.push((key.to_string(), value.to_string()));
        self
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Never retried by the client: creates and resets go through the controller's recovery.
    pub fn not_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }

    pub fn sensitive(mut self, secret: Option<&SecretString>) -> Self {
        if let Some(s) = secret {
            self.sensitive.push(s.clone());
        }
        self
    }
}

/// Percent-encodes one path segment.
pub(crate) fn seg(s: &str) -> String {
    signer::url_encode(s)
}
