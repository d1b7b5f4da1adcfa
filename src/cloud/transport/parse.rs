//! Reading answers: a success body into the caller's type, an error body into a classified
//! `CloudError`. Pure. No value from an answer or a request reaches error text unscrubbed.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::cloud::endpoints::Service;
use crate::cloud::error::{CloudError, ErrorCodes};
use crate::cloud::secret::{SecretString, scrub};

/// The longest Retry-After honoured; longer values are capped.
const MAX_RETRY_AFTER_SECS: u64 = 300;
/// Characters of an error message kept.
const MAX_MESSAGE_CHARS: usize = 300;

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_msg: Option<String>,
}

/// A Retry-After header in seconds, capped: a hostile or broken answer must not park a
/// reconcile for ages. An HTTP date or junk counts as absent.
pub(super) fn retry_after(header: Option<&str>) -> Option<Duration> {
    header
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(MAX_RETRY_AFTER_SECS)))
}

/// The error a non-2xx answer stands for. Classified on the code as sent; the code and the
/// message are shown scrubbed of what the request carried (a body may echo it).
pub(super) struct Failure<'a> {
    pub service: Service,
    pub op: &'static str,
    pub status: u16,
    pub body: &'a [u8],
    pub retry_after: Option<Duration>,
    pub sensitive: &'a [SecretString],
}

pub(super) fn api_error(failure: Failure<'_>, codes: &ErrorCodes) -> CloudError {
    let parsed: ErrorBody = serde_json::from_slice(failure.body).unwrap_or_default();
    let code = parsed.error_code.unwrap_or_default();
    let category = codes.classify(failure.status, &code);
    let code = scrub(&code, failure.sensitive);
    let mut message = scrub(&parsed.error_msg.unwrap_or_default(), failure.sensitive);
    if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(cut);
    }
    CloudError::Api {
        service: failure.service,
        op: failure.op,
        status: failure.status,
        category,
        code,
        message,
        retry_after: failure.retry_after,
    }
}

/// A 2xx body as `T`. Every answer the operator reads is an object; serde would otherwise
/// fill a struct from an array by position, turning a proxy's junk into plausible ids and keys.
pub(super) fn decode_json<T: DeserializeOwned>(
    service: Service,
    op: &'static str,
    body: &[u8],
) -> Result<T, CloudError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(CloudError::Decode {
            service,
            op,
            detail: "the answer is not a JSON object".into(),
        });
    }
    serde_json::from_slice(body).map_err(|e| CloudError::Decode {
        service,
        op,
        detail: decode_detail(&e),
    })
}

/// A request body that cannot be encoded: nothing was sent.
pub(crate) fn body_error(service: Service, op: &'static str, e: &serde_json::Error) -> CloudError {
    CloudError::InvalidRequest {
        service,
        op,
        detail: format!("the body cannot be encoded: {}", decode_detail(e)),
    }
}

/// serde_json's account of a failure without the value it quotes: a data error names what it
/// found (`invalid type: string "…", expected a sequence`), and that may be a secret. serde
/// prints a string with `{:?}`, so its quotes are the first and last `"` of the message.
fn decode_detail(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match (text.find('"'), text.rfind('"')) {
        (Some(start), Some(end)) if start < end => {
            format!("{}\"…\"{}", &text[..start], &text[end + 1..])
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::error::ErrorCategory;
    use serde_json::Value;

    #[test]
    fn an_unencodable_body_is_an_invalid_request() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(vec![1u8], 1);
        let e = serde_json::to_vec(&map).expect_err("non-string keys");
        let e = body_error(Service::ModelArts, "create_api", &e);
        assert!(matches!(e, CloudError::InvalidRequest { .. }), "{e}");
        assert_eq!(e.category(), ErrorCategory::InvalidRequest);
        assert!(!e.outcome_unknown());
    }

    #[test]
    fn retry_after_values() {
        let table = [
            (None, None),
            (Some("7"), Some(7)),
            (Some(" 7 "), Some(7)),
            (Some("100000"), Some(MAX_RETRY_AFTER_SECS)),
            (Some("Wed, 21 Oct 2015 07:28:00 GMT"), None),
            (Some("-1"), None),
        ];
        for (header, want) in table {
            assert_eq!(
                retry_after(header),
                want.map(Duration::from_secs),
                "{header:?}"
            );
        }
    }

    fn failure(status: u16, body: &str, sensitive: &[SecretString]) -> CloudError {
        api_error(
            Failure {
                service: Service::Apig,
                op: "show",
                status,
                body: body.as_bytes(),
                retry_after: None,
                sensitive,
            },
            &ErrorCodes::default(),
        )
    }

    #[test]
    fn error_bodies() {
        // (status, body, category, code, message)
        let table = [
            (
                404,
                r#"{"error_code":"APIG.3004","error_msg":"gone"}"#,
                ErrorCategory::NotFound,
                "APIG.3004",
                "gone",
            ),
            (404, "<html>proxy</html>", ErrorCategory::Unknown, "", ""),
            (503, "", ErrorCategory::Transient, "", ""),
            (
                400,
                r#"{"error_msg":"bad"}"#,
                ErrorCategory::InvalidInput,
                "",
                "bad",
            ),
            (429, r#"[1,2]"#, ErrorCategory::Throttled, "", ""),
        ];
        for (status, body, category, code, message) in table {
            let e = failure(status, body, &[]);
            assert_eq!(e.category(), category, "{body}");
            assert_eq!(e.code(), Some(code), "{body}");
            assert_eq!(e.status(), Some(status));
            assert!(
                matches!(&e, CloudError::Api { message: m, .. } if m == message),
                "{e}"
            );
        }
    }

    #[test]
    fn an_echoed_secret_is_scrubbed_and_long_messages_cut() {
        let secret = SecretString::from("s3cr3t-value");
        let body = format!(
            r#"{{"error_code":"X.s3cr3t-value","error_msg":"bad secret s3cr3t-value {}"}}"#,
            "é".repeat(400)
        );
        let e = failure(400, &body, std::slice::from_ref(&secret));
        let text = e.to_string();
        assert!(!text.contains("s3cr3t-value"), "{text}");
        let CloudError::Api { message, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn only_objects_decode_and_quoted_values_stay_out() {
        let table = [
            (r#"{"a":1}"#, true),
            ("  {}", true),
            ("[]", false),
            ("", false),
            ("null", false),
        ];
        for (body, ok) in table {
            let got = decode_json::<Value>(Service::Roma, "show", body.as_bytes());
            assert_eq!(got.is_ok(), ok, "{body}");
        }
        #[derive(Debug, Deserialize)]
        struct Wants {
            #[allow(dead_code)]
            n: Vec<u8>,
        }
        let e = decode_json::<Wants>(Service::Roma, "show", br#"{"n":"leaked-secret"}"#)
            .expect_err("wrong type");
        assert!(matches!(e, CloudError::Decode { .. }));
        assert!(!e.to_string().contains("leaked-secret"), "{e}");
    }
}
