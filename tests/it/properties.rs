//! Property tests (bounded, run in the suite): the signer's canonical forms, the naming rules,
//! and the parsers of untrusted input never panic and keep their invariants.

use std::collections::BTreeMap;

use appauth_operator::cloud::ErrorCodes;
use appauth_operator::cloud::signer::{SigningRequest, canonical_query, canonical_uri, sign};
use appauth_operator::controller::account::from_secret_data;
use appauth_operator::controller::marker::PendingMarker;
use appauth_operator::naming;
use k8s_openapi::ByteString;
use proptest::prelude::*;

fn unreserved_or_escape(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.~%/".contains(c)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn canonical_uri_is_encoded_and_ends_with_a_slash(path in "/\\\\PC{0,40}") {
        let uri = canonical_uri(&path);
        prop_assert!(uri.ends_with('/'));
        prop_assert!(uri.chars().all(unreserved_or_escape), "{uri}");
        // Encoding what was decoded gives the same canonical form (the SDK decodes first).
        let reencoded = canonical_uri(&uri);
        prop_assert_eq!(reencoded, uri);
    }

    #[test]
    fn canonical_query_ignores_order(mut pairs in proptest::collection::vec(("\\\\PC{0,8}", "\\\\PC{0,8}"), 0..8)) {
        let a = canonical_query(&pairs);
        pairs.reverse();
        prop_assert_eq!(canonical_query(&pairs), a.clone());
        prop_assert!(a.chars().all(|c| unreserved_or_escape(c) || c == '=' || c == '&'));
    }

    #[test]
    fn signing_never_panics(method in "[A-Z]{1,7}", path in "\\\\PC{0,30}", body in proptest::collection::vec(any::<u8>(), 0..64),
                            headers in proptest::collection::vec(("[A-Za-z_-]{1,12}", "\\\\PC{0,12}"), 0..6), sk in "\\\\PC{0,20}") {
        let sig = sign(&SigningRequest { method: &method, path: &path, query: &[], headers: &headers, body: &body }, "AK", sk.as_bytes());
        prop_assert!(sig.authorization.starts_with("SDK-HMAC-SHA256 Access=AK, SignedHeaders="));
        prop_assert!(!sig.signed_headers.contains('_'));
    }

    #[test]
    fn default_names_are_valid_for_every_service(cluster in "\\\\PC{0,20}", ns in "[a-z0-9-]{1,63}", name in "[a-z0-9.-]{1,253}") {
        let n = naming::default_app_name(&cluster, &ns, &name);
        prop_assert!((3..=64).contains(&n.len()), "{n}");
        prop_assert!(n.starts_with(|c: char| c.is_ascii_lowercase()));
        prop_assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }

    #[test]
    fn fingerprints_round_trip(description in "\\\\PC{0,236}", cluster in "\\\\PC{0,20}", uid in "[0-9a-f-]{8,36}") {
        let fingerprint = naming::Fingerprint::new(&cluster, &uid);
        let remark = fingerprint.remark(Some(&description));
        prop_assert!(fingerprint.is_mine(Some(&remark)));
        prop_assert!(naming::has_any_fingerprint(Some(&remark)));
        prop_assert_eq!(naming::strip_fingerprint(&remark), description.as_str());
    }

    #[test]
    fn untrusted_parsers_never_panic(text in "\\\\PC{0,200}", status in 100u16..600) {
        let _ = PendingMarker::parse(&text);
        let _ = ErrorCodes::default().classify(status, &text);
        let _ = serde_json::from_str::<appauth_operator::cloud::apig::ApigAppList>(&text);
        let _ = serde_json::from_str::<appauth_operator::cloud::modelarts::AuthResult>(&text);
    }

    #[test]
    fn account_errors_never_echo_values(secret in "[A-Za-z0-9]{12,40}", region in "\\\\PC{0,20}", present in proptest::collection::vec(any::<bool>(), 5)) {
        let mut data = BTreeMap::new();
        let keys = ["accessKey", "secretKey", "region", "projectId", "iamUser"];
        let values = [secret.as_str(), secret.as_str(), region.as_str(), "p1", secret.as_str()];
        for ((k, v), on) in keys.iter().zip(values).zip(present) {
            if on {
                data.insert(k.to_string(), ByteString(v.as_bytes().to_vec()));
            }
        }
        if let Err(e) = from_secret_data("acct", &data) {
            prop_assert!(!e.contains(&secret), "{e}");
        }
    }
}
