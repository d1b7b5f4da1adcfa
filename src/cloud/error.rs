//! Cloud errors and their classification (SPEC §6). Classification is pure: status + error code
//! -> category, with the codes the reference does not confirm held in a configurable table.

use std::collections::HashMap;
use std::time::Duration;

use super::endpoints::Service;

/// What an error means for the caller. Stable, low-cardinality: used for metrics labels,
/// condition reasons and retry decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// The resource is confirmed gone (only on confirmed codes).
    NotFound,
    /// A name is taken.
    AlreadyExists,
    /// The app key a request chose is held by another app (FromSecret, Generated).
    KeyTaken,
    /// A quota is exhausted; recoverable with a long backoff.
    QuotaExceeded,
    /// The request is invalid; the spec must change (terminal).
    InvalidInput,
    /// The request conflicts with the resource's state (e.g. deleting a bound ModelArts app).
    Conflict,
    /// Throttled; honour Retry-After.
    Throttled,
    /// Credentials rejected (401).
    Unauthorized,
    /// Permission missing (403).
    Forbidden,
    /// Worth retrying: 5xx, timeouts, dropped connections.
    Transient,
    /// Anything else; never treated as "gone".
    Unknown,
    /// The operator could not make a request to send: an endpoint, id, header or body that
    /// forms no valid HTTP request, or an HTTP client it cannot set up. Nothing reached the
    /// cloud, and the same call cannot succeed until the configuration or the input changes.
    /// Never a cloud answer's meaning, so `--error-code` cannot assign it.
    InvalidRequest,
}

impl ErrorCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "NotFound",
            Self::AlreadyExists => "AlreadyExists",
            Self::KeyTaken => "KeyTaken",
            Self::QuotaExceeded => "QuotaExceeded",
            Self::InvalidInput => "InvalidInput",
            Self::Conflict => "Conflict",
            Self::Throttled => "Throttled",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::Transient => "Transient",
            Self::Unknown => "Unknown",
            Self::InvalidRequest => "InvalidRequest",
        }
    }

    /// A category a cloud error code may be given (`--error-code`): every one but
    /// `InvalidRequest`, which only the operator's own side reports.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::NotFound,
            Self::AlreadyExists,
            Self::KeyTaken,
            Self::QuotaExceeded,
            Self::InvalidInput,
            Self::Conflict,
            Self::Throttled,
            Self::Unauthorized,
            Self::Forbidden,
            Self::Transient,
            Self::Unknown,
        ]
        .into_iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }

    /// Safe to retry an idempotent call after this error.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient)
    }
}

impl std::fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a dropped or failed request ended, for transport errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Timeout,
    Connect,
    /// The connection closed before a whole response arrived: the call may have taken effect.
    Incomplete,
}

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("{service} {op}: {category} (HTTP {status}, {code}): {message}")]
    Api {
        service: Service,
        op: &'static str,
        status: u16,
        code: String,
        message: String,
        category: ErrorCategory,
        retry_after: Option<Duration>,
    },
    #[error("{service} {op}: request failed ({kind:?}): {detail}")]
    Transport {
        service: Service,
        op: &'static str,
        kind: TransportKind,
        detail: String,
    },
    #[error("{service} {op}: unexpected response: {detail}")]
    Decode {
        service: Service,
        op: &'static str,
        detail: String,
    },
    /// Nothing was sent: the request could not be built (URL, header or body).
    #[error("{service} {op}: invalid request, not sent: {detail}")]
    InvalidRequest {
        service: Service,
        op: &'static str,
        detail: String,
    },
    /// The HTTP client could not be set up (TLS backend, settings).
    #[error("setting up the HTTP client: {0}")]
    HttpClient(String),
    /// Temporary credentials could not be obtained (a refused or unreadable token, an identity
    /// service that did not answer). Never a verdict on an app: only `Unauthorized`,
    /// `Transient` or `InvalidRequest`.
    #[error("credentials from {from}: {detail}")]
    Credentials {
        from: String,
        category: ErrorCategory,
        detail: String,
    },
}

impl CloudError {
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::Api { category, .. } | Self::Credentials { category, .. } => *category,
            Self::Transport { .. } => ErrorCategory::Transient,
            Self::Decode { .. } => ErrorCategory::Unknown,
            Self::InvalidRequest { .. } | Self::HttpClient(_) => ErrorCategory::InvalidRequest,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The call may have taken effect even though no answer arrived.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            Self::Transport {
                kind: TransportKind::Incomplete | TransportKind::Timeout,
                ..
            }
        )
    }

    pub fn is_not_found(&self) -> bool {
        self.category() == ErrorCategory::NotFound
    }

    /// A not-found whose code the reference confirms (APIG, DataArts): believed as it is. Any
    /// other not-found is checked with a second, different read before acting on it.
    pub fn is_confirmed_not_found(&self) -> bool {
        self.is_not_found()
            && self.code().is_some_and(|code| {
                CONFIRMED
                    .iter()
                    .any(|(c, cat)| *c == code && *cat == ErrorCategory::NotFound)
            })
    }
}

/// Error codes the reference confirms. Never configurable.
const CONFIRMED: &[(&str, ErrorCategory)] = &[
    ("APIG.3004", ErrorCategory::NotFound),
    ("APIG.3002", ErrorCategory::NotFound),
    ("APIG.3082", ErrorCategory::NotFound),
    ("APIG.3203", ErrorCategory::AlreadyExists),
    ("APIG.3310", ErrorCategory::KeyTaken),
    ("APIG.3103", ErrorCategory::QuotaExceeded),
    ("APIG.3131", ErrorCategory::QuotaExceeded),
    ("APIG.2011", ErrorCategory::InvalidInput),
    ("APIG.2012", ErrorCategory::InvalidInput),
    ("APIG.1000", ErrorCategory::Unauthorized),
    ("APIG.1001", ErrorCategory::Unauthorized),
    ("APIG.1002", ErrorCategory::Unauthorized),
    ("APIG.0301", ErrorCategory::Unauthorized),
    ("APIG.0303", ErrorCategory::Unauthorized),
    ("APIG.1005", ErrorCategory::Forbidden),
    ("APIG.1104", ErrorCategory::Forbidden),
    ("APIG.9999", ErrorCategory::Transient),
    // DataArts: "application not found" on HTTP 400 (the Terraform provider treats it as gone).
    ("DLM.4063", ErrorCategory::NotFound),
];

/// Codes the reference does NOT confirm, with the meaning the simulator gives them. Operators
/// can override or extend this with `--error-code CODE=Category`.
pub const UNCONFIRMED_DEFAULTS: &[(&str, ErrorCategory)] = &[
    ("ModelArts.6404", ErrorCategory::NotFound),
    ("ModelArts.6405", ErrorCategory::NotFound),
    ("ModelArts.6401", ErrorCategory::AlreadyExists),
    ("ModelArts.6403", ErrorCategory::QuotaExceeded),
    ("ModelArts.6406", ErrorCategory::QuotaExceeded),
    ("ModelArts.6402", ErrorCategory::Conflict),
    ("ModelArts.6400", ErrorCategory::InvalidInput),
    ("ModelArts.3502", ErrorCategory::InvalidInput),
    ("DLM.4011", ErrorCategory::AlreadyExists),
    ("DLM.4000", ErrorCategory::InvalidInput),
    // Workspace missing: an instance problem, never "the app is gone".
    ("DLM.4001", ErrorCategory::InvalidInput),
    ("ROMA.00100404", ErrorCategory::NotFound),
    ("ROMA.00100409", ErrorCategory::AlreadyExists),
    ("ROMA.00100410", ErrorCategory::KeyTaken),
    ("ROMA.00100400", ErrorCategory::InvalidInput),
    ("ROMA.00000101", ErrorCategory::Forbidden),
];

/// The error-code table in force.
#[derive(Debug, Clone)]
pub struct ErrorCodes {
    table: HashMap<String, ErrorCategory>,
}

impl Default for ErrorCodes {
    fn default() -> Self {
        let table = UNCONFIRMED_DEFAULTS
            .iter()
            .map(|(c, k)| (c.to_string(), *k))
            .collect();
        Self { table }
    }
}

impl ErrorCodes {
    /// Overrides or adds an unconfirmed code. Confirmed codes cannot be changed.
    pub fn set(&mut self, code: &str, category: ErrorCategory) -> Result<(), String> {
        if CONFIRMED.iter().any(|(c, _)| *c == code) {
            return Err(format!(
                "{code} is a confirmed code and cannot be reclassified"
            ));
        }
        self.table.insert(code.to_string(), category);
        Ok(())
    }

    /// Parses `CODE=Category`.
    pub fn set_from_str(&mut self, spec: &str) -> Result<(), String> {
        let (code, category) = spec
            .split_once('=')
            .ok_or_else(|| format!("expected CODE=Category, got {spec:?}"))?;
        let category = ErrorCategory::parse(category.trim())
            .ok_or_else(|| format!("unknown category {category:?}"))?;
        self.set(code.trim(), category)
    }

    /// Classifies an error response.
    pub fn classify(&self, status: u16, code: &str) -> ErrorCategory {
        if let Some((_, c)) = CONFIRMED.iter().find(|(c, _)| *c == code) {
            return *c;
        }
        if let Some(c) = self.table.get(code) {
            return *c;
        }
        match status {
            429 => ErrorCategory::Throttled,
            401 => ErrorCategory::Unauthorized,
            403 => ErrorCategory::Forbidden,
            408 | 500..=599 => ErrorCategory::Transient,
            400 | 422 => ErrorCategory::InvalidInput,
            409 => ErrorCategory::Conflict,
            // An unrecognised 404 may be a missing instance or a wrong endpoint: never "gone".
            _ => ErrorCategory::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmed_codes() {
        let codes = ErrorCodes::default();
        assert_eq!(codes.classify(404, "APIG.3004"), ErrorCategory::NotFound);
        assert_eq!(codes.classify(404, "APIG.3002"), ErrorCategory::NotFound);
        assert_eq!(codes.classify(400, "DLM.4063"), ErrorCategory::NotFound);
        assert_eq!(
            codes.classify(400, "APIG.3203"),
            ErrorCategory::AlreadyExists
        );
        assert_eq!(codes.classify(400, "APIG.3310"), ErrorCategory::KeyTaken);
        assert_eq!(
            codes.classify(400, "ROMA.00100410"),
            ErrorCategory::KeyTaken
        );
        assert_eq!(
            codes.classify(403, "APIG.3103"),
            ErrorCategory::QuotaExceeded
        );
        assert_eq!(
            codes.classify(400, "APIG.2011"),
            ErrorCategory::InvalidInput
        );
    }

    #[test]
    fn unknown_not_found_is_never_gone() {
        let codes = ErrorCodes::default();
        assert_eq!(codes.classify(404, "APIG.3030"), ErrorCategory::Unknown);
        assert_eq!(codes.classify(404, ""), ErrorCategory::Unknown);
        assert_eq!(codes.classify(400, "DLM.4001"), ErrorCategory::InvalidInput);
    }

    #[test]
    fn status_fallbacks() {
        let codes = ErrorCodes::default();
        assert_eq!(codes.classify(429, "X"), ErrorCategory::Throttled);
        assert_eq!(codes.classify(401, "X"), ErrorCategory::Unauthorized);
        assert_eq!(codes.classify(503, "X"), ErrorCategory::Transient);
        assert_eq!(codes.classify(400, "X"), ErrorCategory::InvalidInput);
    }

    #[test]
    fn unconfirmed_codes_are_configurable_confirmed_are_not() {
        let mut codes = ErrorCodes::default();
        assert_eq!(
            codes.classify(404, "ModelArts.6404"),
            ErrorCategory::NotFound
        );
        codes
            .set_from_str("ModelArts.6404=Unknown")
            .expect("settable");
        assert_eq!(
            codes.classify(404, "ModelArts.6404"),
            ErrorCategory::Unknown
        );
        codes.set_from_str("ROMA.1234=NotFound").expect("new code");
        assert_eq!(codes.classify(404, "ROMA.1234"), ErrorCategory::NotFound);
        assert!(codes.set_from_str("APIG.3004=Unknown").is_err());
        assert!(codes.set_from_str("nonsense").is_err());
        assert!(codes.set_from_str("X=Whatever").is_err());
        // Only the operator's side reports an invalid request; no cloud code means it.
        assert!(codes.set_from_str("X=InvalidRequest").is_err());
        assert_eq!(ErrorCategory::InvalidRequest.as_str(), "InvalidRequest");
    }
}
