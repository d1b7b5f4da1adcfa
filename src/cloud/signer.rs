//! AK/SK request signing, `SDK-HMAC-SHA256`, byte for byte as the official Huawei Cloud SDK
//! signer does it (huaweicloudsdkcore `Signer`): pure functions, no IO.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
pub const HEADER_DATE: &str = "X-Sdk-Date";
pub const HEADER_CONTENT_SHA256: &str = "X-Sdk-Content-Sha256";
pub const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const EMPTY_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Everything but the RFC 3986 unreserved characters is percent-encoded (Python's
/// `quote(s, safe='~')`).
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, ENCODE).to_string()
}

/// A request as the signer sees it. `path` is the request path as sent (may be percent-encoded);
/// `headers` are the headers that will be sent, including Host and X-Sdk-Date.
pub struct SigningRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The result: the canonical request (for tests), the signed header list and the header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub canonical_request: String,
    pub signed_headers: String,
    pub authorization: String,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub fn canonical_uri(path: &str) -> String {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let mut uri = decoded
        .split('/')
        .map(url_encode)
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut params: Vec<&(String, String)> = query.iter().collect();
    params.sort();
    params
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Lower-cased names of the headers that are signed: every header without `_`, sorted.
pub fn signed_header_names(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .filter(|(k, _)| !k.contains('_'))
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn payload_hash(req: &SigningRequest<'_>) -> String {
    if req.body.is_empty() {
        return EMPTY_HASH.to_string();
    }
    if let Some(given) = header(req.headers, HEADER_CONTENT_SHA256) {
        return given.to_string();
    }
    hex::encode(Sha256::digest(req.body))
}

pub fn canonical_request(req: &SigningRequest<'_>, signed: &[String]) -> String {
    let canonical_headers: String = signed
        .iter()
        .map(|name| {
            format!(
                "{name}:{}\n",
                header(req.headers, name).unwrap_or_default().trim()
            )
        })
        .collect();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(req.path),
        canonical_query(req.query),
        canonical_headers,
        signed.join(";"),
        payload_hash(req)
    )
}

/// Signs `req` with the access key and secret key. The request must already carry
/// `X-Sdk-Date` (and Host); use [`prepare_headers`] to add them.
pub fn sign(req: &SigningRequest<'_>, access_key: &str, secret_key: &[u8]) -> Signature {
    let signed = signed_header_names(req.headers);
    let canonical = canonical_request(req, &signed);
    let date = header(req.headers, HEADER_DATE).unwrap_or_default();
    let string_to_sign = format!(
        "{ALGORITHM}\n{date}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret_key).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let signed_headers = signed.join(";");
    Signature {
        authorization: format!(
            "{ALGORITHM} Access={access_key}, SignedHeaders={signed_headers}, Signature={signature}"
        ),
        canonical_request: canonical,
        signed_headers,
    }
}

/// Adds what the SDK adds before signing: X-Sdk-Date (if absent), Host (if absent), and
/// X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD (if absent) for a body that is neither JSON nor BSON.
/// A second call adds nothing: two values of one signed header would not match what the
/// gateway recomputes.
pub fn prepare_headers(
    headers: &mut Vec<(String, String)>,
    host: &str,
    now: chrono::DateTime<chrono::Utc>,
) {
    if let Some(ct) = header(headers, "Content-Type")
        && !ct.starts_with("application/json")
        && !ct.starts_with("application/bson")
        && header(headers, HEADER_CONTENT_SHA256).is_none()
    {
        headers.push((
            HEADER_CONTENT_SHA256.to_string(),
            "UNSIGNED-PAYLOAD".to_string(),
        ));
    }
    if header(headers, HEADER_DATE).is_none() {
        headers.push((HEADER_DATE.to_string(), now.format(DATE_FORMAT).to_string()));
    }
    if header(headers, "Host").is_none() {
        headers.push(("Host".to_string(), host.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // Reference §9: the Python SDK's own test vectors.
    #[test]
    fn python_sdk_get_vector() {
        let headers = h(&[
            ("X-Sdk-Date", "20200608T023900Z"),
            ("TEST_UNDERSCORE", "x"),
            ("Host", "service.endpoint.myhuaweicloud.com"),
        ]);
        let query = vec![("size".to_string(), "1".to_string())];
        let req = SigningRequest {
            method: "GET",
            path: "/resources",
            query: &query,
            headers: &headers,
            body: b"",
        };
        let sig = sign(&req, "AccessKey", b"SecretKey");
        assert_eq!(
            sig.canonical_request,
            "GET\n/resources/\nsize=1\nhost:service.endpoint.myhuaweicloud.com\nx-sdk-date:20200608T023900Z\n\nhost;x-sdk-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sig.authorization,
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, Signature=cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"
        );
    }

    #[test]
    fn python_sdk_post_vector() {
        let headers = h(&[
            ("X-Sdk-Date", "20200608T023900Z"),
            ("Host", "service.endpoint.myhuaweicloud.com"),
        ]);
        let query = vec![("size".to_string(), "1".to_string())];
        let body = br#"{"name":"test","id":1}"#;
        let req = SigningRequest {
            method: "POST",
            path: "/resources",
            query: &query,
            headers: &headers,
            body,
        };
        let sig = sign(&req, "AccessKey", b"SecretKey");
        assert!(
            sig.canonical_request
                .ends_with("8ed555081b9961769014bc1182c629bb0fe68d7b01c1fc1caab4dc791f377e8c")
        );
        assert!(sig.authorization.ends_with(
            "Signature=436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f"
        ));
    }

    // Reference §9: the Go SDK's vectors (only x-sdk-date signed, no Host header).
    #[test]
    fn go_sdk_vectors() {
        let headers = h(&[("X-Sdk-Date", "20060102T150405Z")]);
        let query = vec![("limit".to_string(), "1".to_string())];
        let req = SigningRequest {
            method: "GET",
            path: "/path",
            query: &query,
            headers: &headers,
            body: b"",
        };
        assert!(
            sign(&req, "AccessKey", b"SecretKey")
                .authorization
                .ends_with("5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624")
        );
        let query = vec![("key".to_string(), "value".to_string())];
        let body = b"{\"Name\":\"test\",\"Id\":1}\n";
        let req = SigningRequest {
            method: "POST",
            path: "/path",
            query: &query,
            headers: &headers,
            body,
        };
        assert!(
            sign(&req, "AccessKey", b"SecretKey")
                .authorization
                .ends_with("cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59")
        );
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical_uri("/v1/a b/%E4%B8%AD"), "/v1/a%20b/%E4%B8%AD/");
        assert_eq!(canonical_uri("/v1/x/"), "/v1/x/");
        let q = vec![
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), "z z".to_string()),
            ("a".to_string(), "y/".to_string()),
            ("c".to_string(), String::new()),
        ];
        assert_eq!(canonical_query(&q), "a=y%2F&a=z%20z&b=2&c=");
    }

    #[test]
    fn prepare_adds_date_host_and_unsigned_payload() {
        let mut headers = h(&[("Content-Type", "text/plain")]);
        let now = chrono::DateTime::from_timestamp(1_591_583_940, 0).expect("valid time");
        prepare_headers(&mut headers, "example.com:8443", now);
        assert_eq!(header(&headers, "x-sdk-date"), Some("20200608T023900Z"));
        assert_eq!(header(&headers, "host"), Some("example.com:8443"));
        assert_eq!(
            header(&headers, HEADER_CONTENT_SHA256),
            Some("UNSIGNED-PAYLOAD")
        );
    }
}
