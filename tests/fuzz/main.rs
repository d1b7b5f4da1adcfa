//! Time-bounded fuzzing of everything the operator parses from the cloud, and of the signer.
//!
//! Targets: error bodies and their classification, each service's app and list answers (down
//! to the operator's `CloudApp`), IAM token answers, and the AK/SK signer's canonical forms.
//! Every target runs proptest's `TestRunner` until a deadline: `APPAUTH_FUZZ_SECS` seconds per
//! target (default 3), from the seed in `APPAUTH_FUZZ_SEED` when set (printed either way, so
//! that a failure reproduces). A failure fails the test with proptest's minimal input.
//!
//! Answers reach the real client over HTTP, from an in-process fake (one per target) that
//! answers with the case's status, headers and body: what is fuzzed is the path production
//! uses (`call_json`, the error-body parser, the `Target` conversions), not a copy of it.
//! Secret fields carry a `SEKRET-` marker that must never reach an error's text or a `Debug`.
//! The tests in `properties.rs` cover the simpler signer and parser properties.

mod apig;
mod classify;
mod codes;
mod dataarts;
mod errors;
mod iam;
mod modelarts;
mod mutations;
mod observe;
mod oracle;
mod roma;
mod runner;
mod server;
mod service;
mod signer;
mod strategies;

/// APIG: show, validate, list, find_by_name (paged), AppCodes, secret reset.
#[test]
fn fuzz_apig_answers() {
    apig::answers();
}

/// ModelArts: apps (show, paged find, AppCodes), inference APIs, bindings, exists.
#[test]
fn fuzz_modelarts_answers() {
    modelarts::answers();
}

/// DataArts: show, list, find_by_name (paged).
#[test]
fn fuzz_dataarts_answers() {
    dataarts::answers();
}

/// ROMA: show, list, the secret endpoint, secret reset.
#[test]
fn fuzz_roma_answers() {
    roma::answers();
}

/// `Target::Roma::find_by_name`: "not found" from validate-apps is an empty answer, any other
/// error is an error, and a match is shown in full.
#[test]
fn fuzz_roma_find_by_name() {
    roma::find_by_name();
}

/// Error answers: always `CloudError::Api` with the status; the code and message are those
/// of the body when it is a well-formed error body, empty otherwise; the message is at most 300
/// characters; the category is the one `codes.rs` expects; Retry-After is honoured; and no form of the
/// request's secret reaches the error's Display or Debug, wherever the body echoes it.
#[test]
fn fuzz_error_bodies() {
    errors::bodies();
}

/// `ErrorCodes`: every code of `codes.rs` has its expected category, codes the reference
/// confirms are fixed, `CODE=Category` overrides work exactly as documented, anything else
/// falls back to the status, and nothing unknown is ever NotFound.
#[test]
fn fuzz_error_classification() {
    classify::classification();
}

/// `TokenCache::token`: a token only from a 2xx answer with a readable X-Subject-Token and a
/// body with a parseable `expires_at`; otherwise a typed error without the password or token;
/// a long-lived token is reused, an expired one renewed.
#[test]
fn fuzz_iam_token() {
    iam::token();
}

/// Canonical forms: deterministic; independent of query and header order, of header-name case,
/// of blanks around header values, of the method's case, of how the path is escaped, and of
/// unsigned (underscore) headers; `sign` equal for equal canonical requests and different for a
/// different key; the canonical query and URI decode back to the input; the payload hash and
/// the signed-header list follow the SDK rules.
#[test]
fn fuzz_signer_canonical() {
    signer::canonical();
}

/// `prepare_headers`: keeps what is there, adds X-Sdk-Date (the time, in the SDK format), Host
/// and UNSIGNED-PAYLOAD exactly when the SDK does, and never a second date or host.
#[test]
fn fuzz_signer_prepare_headers() {
    signer::prepare();
}
