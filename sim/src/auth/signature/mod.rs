//! Verification of `SDK-HMAC-SHA256` request signatures (API reference §9).
//!
//! Written from the reference text, independently of the operator's signer: the canonical
//! request is rebuilt from what was RECEIVED (method, raw path, raw query, the listed headers'
//! values and the body bytes) and signed with the secret that belongs to the access key.

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// Algorithm name in the `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// SHA-256 of the empty string.
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Everything except the unreserved characters `A-Z a-z 0-9 - _ . ~` is percent-encoded.
const ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Why a signature could not be checked or did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigError {
    /// The Authorization header is not `SDK-HMAC-SHA256 Access=.., SignedHeaders=.., Signature=..`.
    Malformed(&'static str),
    /// A header named in SignedHeaders is not on the request.
    MissingSignedHeader(String),
    /// `X-Sdk-Date` is absent or not `YYYYMMDDTHHMMSSZ`.
    BadDate,
    /// The date is further from the server clock than allowed.
    Expired,
    /// The signature does not match.
    Mismatch,
}

/// The parts of an `Authorization: SDK-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub access: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`.
pub fn parse_authorization(value: &str) -> Result<ParsedAuthorization, SigError> {
    let value = value.trim();
    let rest = value
        .strip_prefix(ALGORITHM)
        .ok_or(SigError::Malformed("unsupported signing algorithm"))?;
    if !rest.starts_with(' ') {
        return Err(SigError::Malformed("missing space after the algorithm"));
    }
    let mut access = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part
            .split_once('=')
            .ok_or(SigError::Malformed("authorization part without '='"))?;
        match k.trim() {
            "Access" => access = Some(v.trim().to_string()),
            "SignedHeaders" => signed = Some(v.trim().to_string()),
            "Signature" => signature = Some(v.trim().to_string()),
            _ => return Err(SigError::Malformed("unknown authorization part")),
        }
    }
    let access = access
        .filter(|a| !a.is_empty())
        .ok_or(SigError::Malformed("missing Access"))?;
    let signed = signed.ok_or(SigError::Malformed("missing SignedHeaders"))?;
    let signature = signature
        .filter(|s| !s.is_empty())
        .ok_or(SigError::Malformed("missing Signature"))?;
    let signed_headers: Vec<String> = signed
        .split(';')
        .filter(|h| !h.is_empty())
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if signed_headers.is_empty() {
        return Err(SigError::Malformed("empty SignedHeaders"));
    }
    Ok(ParsedAuthorization {
        access,
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// Percent-encodes with the unreserved set kept, uppercase hex.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, ENCODE_SET).to_string()
}

/// Canonical URI: URL-decode the path, split on `/`, encode each segment, re-join and
/// append `/` when it does not end with one.
pub fn canonical_uri(raw_path: &str) -> String {
    let decoded = percent_decode_str(raw_path).decode_utf8_lossy();
    let mut out = decoded.split('/').map(encode).collect::<Vec<_>>().join("/");
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Decodes one query component (`+` is a space, as both SDKs' URL parsers treat it).
fn decode_query_component(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Parses a raw query string into decoded `(key, value)` pairs, in order.
pub fn parse_query(raw_query: &str) -> Vec<(String, String)> {
    raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode_query_component(k), decode_query_component(v)),
            None => (decode_query_component(pair), String::new()),
        })
        .collect()
}

/// Canonical query: pairs sorted by key then value, each `enc(k)=enc(v)`, joined by `&`.
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs = parse_query(raw_query);
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Lowercase hex HMAC-SHA256 with the secret key's bytes as key.
pub fn hmac_hex(secret: &str, message: &str) -> String {
    // HMAC accepts keys of any length; new_from_slice cannot fail for Hmac<Sha256>.
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(message.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Parses `X-Sdk-Date` (`YYYYMMDDTHHMMSSZ`, UTC).
pub fn parse_sdk_date(value: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(value.trim(), "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|n| n.and_utc())
}

/// Formats a time as `YYYYMMDDTHHMMSSZ`.
pub fn format_sdk_date(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A request as received, reduced to what the signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path exactly as received (still percent-encoded).
    pub raw_path: &'a str,
    /// The query exactly as received, without `?` (empty when none).
    pub raw_query: &'a str,
    /// Looks a header up by lowercase name; returns its value(s) joined by `,`.
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub body: &'a [u8],
}

impl SignedRequest<'_> {
    /// The canonical request for the given signed headers and body hash.
    pub fn canonical_request(
        &self,
        signed_headers: &[String],
        body_hash: &str,
    ) -> Result<String, SigError> {
        let mut headers = String::new();
        for name in signed_headers {
            let value =
                (self.header)(name).ok_or_else(|| SigError::MissingSignedHeader(name.clone()))?;
            headers.push_str(name);
            headers.push(':');
            headers.push_str(value.trim());
            headers.push('\n');
        }
        Ok(format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method.to_ascii_uppercase(),
            canonical_uri(self.raw_path),
            canonical_query(self.raw_query),
            headers,
            signed_headers.join(";"),
            body_hash
        ))
    }

    /// The body hashes a correct signer may have used: the `X-Sdk-Content-Sha256` value when
    /// present (the Python SDK ignores it for an empty body, so the empty hash is then also
    /// accepted), otherwise the SHA-256 of the received bytes.
    pub fn body_hash_candidates(&self) -> Vec<String> {
        let declared = (self.header)("x-sdk-content-sha256").map(|v| v.trim().to_string());
        match declared {
            Some(v) if self.body.is_empty() && v != EMPTY_BODY_SHA256 => {
                vec![v, EMPTY_BODY_SHA256.to_string()]
            }
            Some(v) => vec![v],
            None => vec![sha256_hex(self.body)],
        }
    }

    /// Checks the signature against `secret`; `now` and `max_skew_secs` bound `X-Sdk-Date`.
    pub fn verify(
        &self,
        auth: &ParsedAuthorization,
        secret: &str,
        now: DateTime<Utc>,
        max_skew_secs: u64,
    ) -> Result<(), SigError> {
        let date_raw = (self.header)("x-sdk-date").ok_or(SigError::BadDate)?;
        let date = parse_sdk_date(&date_raw).ok_or(SigError::BadDate)?;
        let mut matched = false;
        for body_hash in self.body_hash_candidates() {
            let canonical = self.canonical_request(&auth.signed_headers, &body_hash)?;
            let expected = hmac_hex(secret, &string_to_sign(date_raw.trim(), &canonical));
            if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
                matched = true;
            }
        }
        if !matched {
            return Err(SigError::Mismatch);
        }
        let skew = (now - date).num_seconds().unsigned_abs();
        if skew > max_skew_secs {
            return Err(SigError::Expired);
        }
        Ok(())
    }
}

/// `SDK-HMAC-SHA256\n{date}\n{hex(sha256(canonical request))}`.
pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            list.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_string())
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn signature_for(
        method: &str,
        path: &str,
        query: &str,
        hdrs: &dyn Fn(&str) -> Option<String>,
        signed: &[&str],
        body: &[u8],
        date: &str,
        sk: &str,
    ) -> (String, String) {
        let req = SignedRequest {
            method,
            raw_path: path,
            raw_query: query,
            header: hdrs,
            body,
        };
        let signed: Vec<String> = signed.iter().map(|s| s.to_string()).collect();
        let canonical = req
            .canonical_request(&signed, &sha256_hex(body))
            .expect("canonical request");
        let sig = hmac_hex(sk, &string_to_sign(date, &canonical));
        (canonical, sig)
    }

    // Python SDK vector (huaweicloudsdkcore tests/test_signer.py), reference §9.
    const PY_HEADERS: &[(&str, &str)] = &[
        ("Host", "service.endpoint.myhuaweicloud.com"),
        ("X-Sdk-Date", "20200608T023900Z"),
        ("TEST_UNDERSCORE", "ignored"),
    ];

    #[test]
    fn python_sdk_get_vector() {
        let h = headers(PY_HEADERS);
        let (canonical, sig) = signature_for(
            "GET",
            "/resources",
            "size=1",
            &h,
            &["host", "x-sdk-date"],
            b"",
            "20200608T023900Z",
            "SecretKey",
        );
        assert_eq!(
            canonical,
            "GET\n/resources/\nsize=1\nhost:service.endpoint.myhuaweicloud.com\n\
             x-sdk-date:20200608T023900Z\n\nhost;x-sdk-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "de94dd1e1ccdb730b403ce35d7e14f7c7b04337f6def1c3a3a2ba936852b133f"
        );
        assert_eq!(
            sig,
            "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"
        );
    }

    #[test]
    fn python_sdk_post_vector() {
        let body = br#"{"name":"test","id":1}"#;
        assert_eq!(
            sha256_hex(body),
            "8ed555081b9961769014bc1182c629bb0fe68d7b01c1fc1caab4dc791f377e8c"
        );
        let h = headers(PY_HEADERS);
        let (_, sig) = signature_for(
            "POST",
            "/resources",
            "size=1",
            &h,
            &["host", "x-sdk-date"],
            body,
            "20200608T023900Z",
            "SecretKey",
        );
        assert_eq!(
            sig,
            "436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f"
        );
    }

    const GO_HEADERS: &[(&str, &str)] = &[
        ("X-Sdk-Date", "20060102T150405Z"),
        ("TEST_UNDERSCORE", "TEST_VALUE"),
        ("Content-Type", "application/json"),
    ];

    #[test]
    fn go_sdk_get_vector() {
        let h = headers(GO_HEADERS);
        let (_, sig) = signature_for(
            "GET",
            "/path",
            "limit=1",
            &h,
            &["x-sdk-date"],
            b"",
            "20060102T150405Z",
            "SecretKey",
        );
        assert_eq!(
            sig,
            "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
        );
    }

    #[test]
    fn go_sdk_post_vector_hashes_trailing_newline() {
        let h = headers(GO_HEADERS);
        let (_, sig) = signature_for(
            "POST",
            "/path",
            "key=value",
            &h,
            &["x-sdk-date"],
            b"{\"Name\":\"test\",\"Id\":1}\n",
            "20060102T150405Z",
            "SecretKey",
        );
        assert_eq!(
            sig,
            "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
        );
        let (_, without_newline) = signature_for(
            "POST",
            "/path",
            "key=value",
            &h,
            &["x-sdk-date"],
            b"{\"Name\":\"test\",\"Id\":1}",
            "20060102T150405Z",
            "SecretKey",
        );
        assert_ne!(without_newline, sig);
    }

    #[test]
    fn verify_accepts_vector_and_rejects_tampering() {
        let h = headers(PY_HEADERS);
        let req = SignedRequest {
            method: "GET",
            raw_path: "/resources",
            raw_query: "size=1",
            header: &h,
            body: b"",
        };
        let auth = parse_authorization(
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, \
             Signature=cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842",
        )
        .expect("parse");
        assert_eq!(auth.access, "AccessKey");
        let now = parse_sdk_date("20200608T024500Z").expect("date");
        assert_eq!(req.verify(&auth, "SecretKey", now, 900), Ok(()));
        assert_eq!(
            req.verify(&auth, "OtherKey", now, 900),
            Err(SigError::Mismatch)
        );
        let later = parse_sdk_date("20200608T025500Z").expect("date");
        assert_eq!(
            req.verify(&auth, "SecretKey", later, 900),
            Err(SigError::Expired)
        );
        let tampered = SignedRequest {
            raw_query: "size=2",
            ..req
        };
        assert_eq!(
            tampered.verify(&auth, "SecretKey", now, 900),
            Err(SigError::Mismatch)
        );
    }

    #[test]
    fn go_sdk_canonical_query_vector() {
        // The Go SDK's canonicalQueryString test, sent in a different order and encoding.
        let raw = "test=%E4%B8%80+%28%26%3D%3F%21%23%25.*%29&path=/tmp/123&multi=3&multi=1\
                   &multi=2&limit=1&enable=true";
        assert_eq!(
            canonical_query(raw),
            "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123\
             &test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
        );
    }

    #[test]
    fn canonical_uri_decodes_then_encodes() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/v1/a b/"), "/v1/a%20b/");
        assert_eq!(canonical_uri("/v1/a%20b"), "/v1/a%20b/");
        assert_eq!(canonical_uri("/v1/%E4%B8%80"), "/v1/%E4%B8%80/");
        assert_eq!(canonical_uri("/v1/a:b"), "/v1/a%3Ab/");
    }

    #[test]
    fn authorization_parsing() {
        assert!(parse_authorization("AWS4 x").is_err());
        assert!(parse_authorization("SDK-HMAC-SHA256 Access=a, Signature=b").is_err());
        let p = parse_authorization(
            "SDK-HMAC-SHA256 Access=ak,SignedHeaders=X-Sdk-Date;Host,Signature=AB",
        )
        .expect("lenient spacing");
        assert_eq!(p.signed_headers, vec!["x-sdk-date", "host"]);
        assert_eq!(p.signature, "ab");
    }

    #[test]
    fn unsigned_payload_header_is_used() {
        let h = |name: &str| match name {
            "x-sdk-date" => Some("20200608T023900Z".to_string()),
            "x-sdk-content-sha256" => Some("UNSIGNED-PAYLOAD".to_string()),
            _ => None,
        };
        let req = SignedRequest {
            method: "PUT",
            raw_path: "/x",
            raw_query: "",
            header: &h,
            body: b"binary",
        };
        assert_eq!(
            req.body_hash_candidates(),
            vec!["UNSIGNED-PAYLOAD".to_string()]
        );
    }
}
