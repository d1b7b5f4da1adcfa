//! IAM tokens: `TokenCache::token` against the fake's answers.

use appauth_operator::cloud::iam::TokenCache;
use appauth_operator::cloud::{CloudError, ErrorCategory, ExposeSecret, SecretString, Service};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

use crate::mutations::{apply_edits, count_nodes, edit, mutate, mutation, nth_mut};
use crate::oracle::{TOKEN_BODY, oracle};
use crate::runner::{MARK, fail, fuzz};
use crate::server::{Fake, Payload, Reply};
use crate::strategies::{any_json, error_status, re, valid};

#[derive(Clone, Debug)]
struct IamCase {
    status: u16,
    token: Option<Vec<u8>>,
    payload: Payload,
    password: String,
}

fn iam_cases() -> impl Strategy<Value = IamCase> {
    let token = prop_oneof![
        1 => Just(None),
        6 => re("[A-Za-z0-9+/=_-]{1,80}").prop_map(|s| Some(format!("{MARK}tok-{s}").into_bytes())),
        1 => vec(prop_oneof![8 => 0x21u8..0x7f, 1 => Just(b' '), 1 => 0x80u8..=0xff], 1..40)
            .prop_map(|mut b| {
                // Header values lose surrounding blanks on the wire; keep the ends visible.
                b.insert(0, b'S');
                b.push(b'E');
                Some(b)
            }),
        1 => Just(Some(Vec::new())),
    ];
    let status = prop_oneof![8 => Just(201u16), 1 => Just(200u16), 2 => error_status()];
    let password = re("[A-Za-z0-9]{8,16}").prop_map(|s| format!("{MARK}pw-{s}"));
    let payload = prop_oneof![
        1 => vec(any::<u8>(), 0..200).prop_map(|b| (Payload::raw("bytes", b), Vec::new())),
        1 => any_json().prop_map(|v| (Payload::json("json", v), Vec::new())),
        3 => valid(&TOKEN_BODY).prop_map(|v| (Payload::json("valid", v), Vec::new())),
        3 => (valid(&TOKEN_BODY), vec(mutation(), 1..3), vec(any::<usize>(), 1..3))
            .prop_map(|(v, ms, at)| (Payload::json("mutated", mutate(v, &ms)), at)),
        1 => (valid(&TOKEN_BODY), vec(edit(), 1..3)).prop_map(|(v, es)| {
            let bytes = apply_edits(serde_json::to_vec(&v).expect("json"), &es);
            (Payload::raw("edited", bytes), Vec::new())
        }),
    ];
    (status, token, password, payload).prop_map(|(status, token, password, (payload, echo))| {
        // The password, echoed in the answer where `echo` says.
        let payload = match payload.exact {
            Some(mut v) if !echo.is_empty() => {
                for i in echo {
                    let nodes = count_nodes(&v);
                    if let Some(n) = nth_mut(&mut v, &mut (i % nodes)) {
                        *n = Value::String(password.clone());
                    }
                }
                Payload::json("echo", v)
            }
            _ => payload,
        };
        IamCase {
            status,
            token,
            payload,
            password,
        }
    })
}

/// The `iam_token` target.
pub fn token() {
    let fake = Fake::start();
    let http = reqwest::Client::new();
    fuzz("iam_token", iam_cases(), |case| {
        let mut reply = Reply::new(case.status, case.payload.clone());
        if let Some(t) = &case.token {
            reply.headers.push(("X-Subject-Token".into(), t.clone()));
        }
        fake.script(vec![("", reply)]);
        let cache = TokenCache::new(
            fake.url.clone(),
            "domain".into(),
            "user".into(),
            SecretString::from(case.password.clone()),
            "proj".into(),
        );
        let result = fake.run(cache.token(&http));
        let seen = fake.seen();
        prop_assert_eq!(seen.len(), 1);
        prop_assert_eq!(seen[0].path.as_str(), "/v3/auth/tokens");
        if let Err(e) = &result {
            let text = format!("{e}\n{e:?}");
            prop_assert!(!text.contains(MARK), "a secret in an error's text: {text}");
        }
        if !(200..300).contains(&case.status) {
            let want = match case.status {
                401 => ErrorCategory::Unauthorized,
                500..=599 => ErrorCategory::Transient,
                _ => ErrorCategory::Unknown,
            };
            return match &result {
                Err(
                    e @ CloudError::Api {
                        service: Service::Iam,
                        status,
                        ..
                    },
                ) if *status == case.status && e.category() == want => Ok(()),
                other => fail(format!("expected an IAM Api error ({want}), got {other:?}")),
            };
        }
        let header = case
            .token
            .as_deref()
            .filter(|t| t.iter().all(|b| (0x20..0x7f).contains(b) || *b == b'\t'))
            .map(|t| String::from_utf8_lossy(t).into_owned());
        let verdict = oracle(&TOKEN_BODY, &case.payload).map(|(exact, v)| {
            let expires = v.and_then(|n| {
                let at = n["token"]["expires_at"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                chrono::DateTime::parse_from_rfc3339(&at)
                    .map_err(|e| format!("expires_at {at:?}: {e}"))
            });
            (exact, expires)
        });
        match &result {
            Ok(token) => {
                prop_assert_eq!(Some(token.expose_secret()), header.as_deref());
                let debug = format!("{token:?}");
                prop_assert!(!debug.contains(MARK), "{}", debug);
                if let Some((_, expires)) = verdict {
                    let expires = expires.map_err(|why| {
                        TestCaseError::fail(format!("a token from a bad body: {why}"))
                    })?;
                    // Reuse and renewal.
                    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
                    let again = fake.run(cache.token(&http));
                    let requests = fake.seen().len();
                    if left > chrono::Duration::hours(2) {
                        prop_assert_eq!(requests, 1, "a token valid for {} renewed", left);
                        let again = again.map_err(|e| TestCaseError::fail(e.to_string()))?;
                        prop_assert_eq!(again.expose_secret(), token.expose_secret());
                    } else if left < chrono::Duration::seconds(-5) {
                        prop_assert_eq!(requests, 2, "an expired token reused");
                    }
                }
            }
            Err(CloudError::Decode { service, op, .. }) => {
                prop_assert_eq!(*service, Service::Iam);
                prop_assert_eq!(*op, "token");
                if header.is_some() {
                    prop_assert!(
                        !matches!(verdict, Some((true, Ok(_)))),
                        "rejected a valid token answer"
                    );
                }
            }
            Err(other) => return fail(format!("expected a Decode error, got {other:?}")),
        }
        Ok(())
    });
}
