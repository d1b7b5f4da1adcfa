//! Verification of `SDK-HMAC-SHA256` request signatures (API reference §9).
//!
//! Written from the reference text, independently of the operator's signer: the canonical
//! request is rebuilt from what was RECEIVED (method, raw path, raw query, the listed headers'
//! values and the body bytes) and signed with the secret that belongs to the access key.
//! Header parsing (`headers`), the canonical forms (`canonical`), the hashes (`hash`) and the
//! check itself (`verify`) each have a file of their own.

mod canonical;
mod hash;
mod headers;
mod verify;

pub use canonical::{canonical_query, canonical_uri, encode, parse_query, string_to_sign};
pub use hash::{hmac_hex, sha256_hex};
pub use headers::{ParsedAuthorization, format_sdk_date, parse_authorization, parse_sdk_date};
pub use verify::SignedRequest;

/// Algorithm name in the `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// SHA-256 of the empty string.
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

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
