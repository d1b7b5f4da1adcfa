//! Error bodies per service, and the error codes the simulator answers with.
//!
//! Codes marked UNCONFIRMED are not in the API reference; they were agreed with the
//! operator's client so that both sides use the same values. Do not treat them as the real
//! cloud's codes.

use http::StatusCode;
use serde_json::{Value, json};

use crate::http::Reply;

/// How an error body is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorStyle {
    /// APIG, ModelArts, DataArts: `{"error_code", "error_msg"}`.
    Plain,
    /// ROMA Connect: `{"error_code", "error_msg", "error_details", "request_id"}`.
    Roma,
    /// IAM (Keystone): `{"error": {"code", "message", "title"}}`, plus `error_code`/`error_msg`
    /// at the top level when the error has a code (auth failures, injected faults).
    Iam,
}

/// An error answer: HTTP status, service error code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub msg: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, msg: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            msg: msg.into(),
        }
    }

    /// The JSON body for this error in the given style.
    pub fn body(&self, style: ErrorStyle, request_id: &str) -> Value {
        match style {
            ErrorStyle::Plain => json!({"error_code": self.code, "error_msg": self.msg}),
            ErrorStyle::Roma => json!({
                "error_code": self.code,
                "error_msg": self.msg,
                "error_details": self.msg,
                "request_id": request_id,
            }),
            ErrorStyle::Iam => {
                let mut body = json!({"error": {
                    "code": self.status.as_u16(),
                    "message": self.msg,
                    "title": self.status.canonical_reason().unwrap_or("Error"),
                }});
                if !self.code.is_empty()
                    && let Some(obj) = body.as_object_mut()
                {
                    obj.insert("error_code".into(), json!(self.code));
                    obj.insert("error_msg".into(), json!(self.msg));
                }
                body
            }
        }
    }

    pub fn into_reply(self, style: ErrorStyle, request_id: &str) -> Reply {
        let body = self.body(style, request_id);
        Reply::json(self.status, body)
    }
}

// ---- authentication (every service) ----

/// Bad or missing signature, unknown AK, bad token. (UNCONFIRMED for services other than APIG.)
pub const AUTH_FAILED: &str = "APIG.0301";
/// `X-Sdk-Date` too far from the server clock. (UNCONFIRMED outside APIG's runtime.)
pub const AUTH_EXPIRED: &str = "APIG.0303";
/// Bad token on the APIG management API (reference §4 table); also a domain-scoped token on
/// a project-scoped API.
pub const APIG_BAD_TOKEN: &str = "APIG.1002";
/// Expired token on the APIG management API (reference §4 table).
pub const APIG_TOKEN_EXPIRED: &str = "APIG.1001";
/// No permission (another account's project) on APIG, ModelArts, DataArts.
pub const FORBIDDEN: &str = "APIG.1005";
/// No permission on ROMA Connect (seed 003's example code).
pub const ROMA_FORBIDDEN: &str = "ROMA.00000101";

pub fn unauthorized(code: &str, msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, msg)
}

pub fn forbidden(style: ErrorStyle) -> ApiError {
    let code = if style == ErrorStyle::Roma {
        ROMA_FORBIDDEN
    } else {
        FORBIDDEN
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        code,
        "No permissions to request this method",
    )
}

/// The gateway's answer for a path that no API serves.
pub fn no_such_api() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "APIG.0101",
        "The API does not exist or has not been published in an environment",
    )
}

// ---- APIG (reference §4 table: confirmed) ----

pub mod apig {
    use super::*;

    pub fn invalid(param: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "APIG.2011",
            format!(
                "Invalid parameter value,parameterName:{param}. Please refer to the support documentation"
            ),
        )
    }
    /// The request body is not a JSON object (unparseable JSON, an array, a string...). The
    /// reference lists APIG.2011 and APIG.2012 for invalid parameters; 2012 here is SIM-CHOSEN.
    pub fn invalid_body(param: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "APIG.2012",
            format!(
                "Invalid parameter value,parameterName:{param}. The request body must be a JSON object"
            ),
        )
    }
    pub fn name_exists() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "APIG.3203",
            "The app name already exists",
        )
    }
    pub fn key_exists() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "APIG.3310",
            "The AppKey already exists",
        )
    }
    pub fn quota() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "APIG.3103",
            "The number of apps has reached the upper limit",
        )
    }
    pub fn app_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "APIG.3004",
            format!("App {id} does not exist"),
        )
    }
    pub fn app_code_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "APIG.3082",
            format!("AppCode {id} does not exist"),
        )
    }
    pub fn app_code_quota() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "APIG.3131",
            "The number of AppCodes has reached the upper limit",
        )
    }
}

// ---- ModelArts app-auth (all codes UNCONFIRMED) ----

pub mod modelarts {
    use super::*;

    /// UNCONFIRMED
    pub fn invalid(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "ModelArts.6400", msg)
    }
    /// UNCONFIRMED
    pub fn duplicate_name(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "ModelArts.6401",
            format!("App name {name} already exists"),
        )
    }
    /// UNCONFIRMED
    pub fn app_bound(id: &str, apis: usize) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "ModelArts.6402",
            format!("App {id} is authorized to {apis} API(s); cancel the authorizations first"),
        )
    }
    /// UNCONFIRMED
    pub fn quota(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "ModelArts.6403",
            format!("The number of apps exceeds the quota ({limit})"),
        )
    }
    /// UNCONFIRMED (code and message): a sixth AppCode on one app.
    pub fn app_code_quota(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "ModelArts.6406",
            format!("The number of AppCodes of the app exceeds the quota ({limit})"),
        )
    }
    /// UNCONFIRMED
    pub fn app_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ModelArts.6404",
            format!("App {id} does not exist"),
        )
    }
    /// UNCONFIRMED
    pub fn api_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ModelArts.6405",
            format!("API {id} does not exist"),
        )
    }
    /// UNCONFIRMED
    pub fn service_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ModelArts.3502",
            format!("Service {id} does not exist"),
        )
    }
}

// ---- DataArts DataService ----

pub mod dataarts {
    use super::*;

    /// Missing `workspace` header (DLM.4001 is "workspace not found" in the reference).
    pub fn no_workspace() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "DLM.4001",
            "The workspace header is missing or the workspace does not exist",
        )
    }
    /// Confirmed: not found is HTTP 400 with DLM.4063.
    pub fn app_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "DLM.4063",
            format!("Application {id} does not exist"),
        )
    }
    /// UNCONFIRMED
    pub fn duplicate_name(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "DLM.4011",
            format!("Application name {name} already exists"),
        )
    }
    /// UNCONFIRMED
    pub fn invalid(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "DLM.4000", msg)
    }
}

// ---- ROMA Connect (all but the 403 code UNCONFIRMED) ----

pub mod roma {
    use super::*;

    /// UNCONFIRMED
    pub fn app_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ROMA.00100404",
            format!("Application {id} does not exist"),
        )
    }
    /// UNCONFIRMED
    pub fn duplicate_name(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "ROMA.00100409",
            format!("Application name {name} already exists"),
        )
    }
    /// UNCONFIRMED
    pub fn duplicate_key() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "ROMA.00100410",
            "Application key already exists",
        )
    }
    /// UNCONFIRMED
    pub fn invalid(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "ROMA.00100400", msg)
    }
}

/// Default error code for an injected fault with the given status, per service.
pub fn fault_code(service: &str, status: StatusCode) -> String {
    let prefix = match service {
        "modelarts" => "ModelArts",
        "dataarts" => "DLM",
        "roma" => "ROMA",
        "iam" => "IAM",
        "cce" => "CCE",
        "metadata" => "METADATA",
        _ => "APIG",
    };
    match (service, status.as_u16()) {
        ("roma", s) => format!("ROMA.00000{s}"),
        (_, s) if s >= 500 => format!("{prefix}.9999"),
        (_, s) => format!("{prefix}.{s}"),
    }
}
