//! The check itself: a received request's canonical request, its body hash and the signature.

use chrono::{DateTime, Utc};

use super::canonical::{canonical_query, canonical_uri, string_to_sign};
use super::hash::{constant_time_eq, hmac_hex, sha256_hex};
use super::headers::{ParsedAuthorization, parse_sdk_date};
use super::{EMPTY_BODY_SHA256, SigError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::signature::parse_authorization;

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
