//! Request and reply types shared by the services, and JSON body helpers.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::auth::signature::parse_query;
use crate::error::ApiError;

/// A fully received request.
pub struct Req {
    pub method: Method,
    /// Path as received (percent-encoded).
    pub raw_path: String,
    /// Query as received, without `?`.
    pub raw_query: String,
    /// Decoded query pairs in order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_id: String,
}

impl Req {
    pub fn new(
        method: Method,
        raw_path: String,
        raw_query: String,
        headers: HeaderMap,
        body: Bytes,
        request_id: String,
    ) -> Self {
        let query = parse_query(&raw_query);
        Req {
            method,
            raw_path,
            raw_query,
            query,
            headers,
            body,
            request_id,
        }
    }

    /// Decoded path segments, without the leading empty one.
    pub fn segments(&self) -> Vec<String> {
        let trimmed = self.raw_path.trim_start_matches('/');
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Vec::new();
        }
        trimmed
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect()
    }

    /// First value of a query parameter.
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All values of a query parameter; comma-separated values are split too.
    pub fn q_all(&self, key: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// A header's value(s) as text (lossy UTF-8), joined by `,` when repeated.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<String> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if values.is_empty() {
            None
        } else {
            Some(values.join(","))
        }
    }

    /// Parses an integer query parameter; `Ok(None)` when absent.
    pub fn q_int(&self, key: &str, invalid: fn(&str) -> ApiError) -> Result<Option<i64>, ApiError> {
        match self.q(key) {
            None | Some("") => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| invalid(key)),
        }
    }
}

/// A response to send.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    /// A `text/plain` body instead of JSON (the metadata service's session token).
    pub text: Option<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Reply {
            status,
            body: Some(body),
            text: None,
            headers: Vec::new(),
        }
    }

    pub fn ok(body: Value) -> Self {
        Reply::json(StatusCode::OK, body)
    }

    pub fn empty(status: StatusCode) -> Self {
        Reply {
            status,
            body: None,
            text: None,
            headers: Vec::new(),
        }
    }

    pub fn text(status: StatusCode, text: String) -> Self {
        Reply {
            status,
            body: None,
            text: Some(text),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }
}

/// A JSON object body with typed, service-specific validation errors.
pub struct Body {
    map: Map<String, Value>,
    invalid: fn(&str) -> ApiError,
}

impl Body {
    /// Parses the body as a JSON object; an empty body is `{}`. A body that is not a JSON
    /// object is `invalid("body")`.
    pub fn parse(req: &Req, invalid: fn(&str) -> ApiError) -> Result<Body, ApiError> {
        Body::parse_object(req, invalid, invalid)
    }

    /// As [`Body::parse`], but a body that is not a JSON object is `not_object("body")`
    /// (APIG answers a distinct code for that).
    pub fn parse_object(
        req: &Req,
        invalid: fn(&str) -> ApiError,
        not_object: fn(&str) -> ApiError,
    ) -> Result<Body, ApiError> {
        if req.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Body {
                map: Map::new(),
                invalid,
            });
        }
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(map)) => Ok(Body { map, invalid }),
            Ok(Value::Null) => Ok(Body {
                map: Map::new(),
                invalid,
            }),
            _ => Err(not_object("body")),
        }
    }

    /// Optional string field; null counts as absent; another type is invalid.
    pub fn str(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err((self.invalid)(key)),
        }
    }

    /// Mandatory non-empty string field.
    pub fn required_str(&self, key: &str) -> Result<String, ApiError> {
        match self.str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err((self.invalid)(key)),
        }
    }

    /// Optional boolean field (also accepts "true"/"false" strings).
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(_) => Err((self.invalid)(key)),
        }
    }

    /// Optional array field.
    pub fn array(&self, key: &str) -> Result<Option<&Vec<Value>>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err((self.invalid)(key)),
        }
    }
}

/// Pagination: returns the slice `[offset, offset+limit)` of `items`.
pub fn page<T: Clone>(items: &[T], offset: usize, limit: usize) -> Vec<T> {
    items.iter().skip(offset).take(limit).cloned().collect()
}
