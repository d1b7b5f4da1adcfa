//! Parsing of the signature's headers: `Authorization` and `X-Sdk-Date`.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{ALGORITHM, SigError};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
