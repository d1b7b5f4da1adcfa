//! Error bodies: a request that carries a secret, an error answer that may echo it.

use appauth_operator::cloud::apig::AppInput;
use appauth_operator::cloud::roma::RomaInput;
use appauth_operator::cloud::{CloudClient, CloudError, SecretString};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

use crate::codes::expected_category;
use crate::mutations::{mutate, mutation};
use crate::oracle::{ERROR_BODY, Ty, oracle};
use crate::runner::{MARK, NAME, fail, fuzz};
use crate::server::{Fake, Payload, Reply};
use crate::strategies::{SOUP, any_json, error_status, re, text, valid};

#[derive(Clone, Copy, Debug)]
enum Sensitive {
    ApigReset,
    ApigUpdate,
    ApigCreateAppCode,
    RomaCreate,
}

/// A piece of an error message: text, or the request's secret in one of `forms`.
#[derive(Clone, Debug)]
enum Piece {
    Text(String),
    Form(usize),
}

#[derive(Clone, Debug)]
struct ErrorCase {
    op: Sensitive,
    secret: String,
    status: u16,
    retry_after: Option<Vec<u8>>,
    payload: Payload,
}

/// The forms an echo may give the secret: raw, percent-encoded, JSON-escaped as serde does (the
/// request body carries this one), with `\/`, with every symbol as `\uXXXX`, percent-encoded in
/// lowercase, base64.
fn forms(secret: &str) -> [String; 7] {
    use base64::Engine;
    let json = serde_json::to_string(secret).expect("a string serialises");
    let json = json[1..json.len() - 1].to_string();
    let escape_each = |f: &dyn Fn(char) -> String| -> String {
        secret
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_string()
                } else {
                    f(c)
                }
            })
            .collect()
    };
    [
        secret.to_string(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        json.clone(),
        json.replace('/', "\\/"),
        escape_each(&|c| format!("\\u{:04x}", u32::from(c))),
        escape_each(&|c| {
            let mut buf = [0; 4];
            c.encode_utf8(&mut buf)
                .bytes()
                .map(|b| format!("%{b:02x}"))
                .collect()
        }),
        base64::engine::general_purpose::STANDARD.encode(secret),
    ]
}

fn header_value() -> BoxedStrategy<Vec<u8>> {
    let byte = prop_oneof![
        8 => 0x20u8..0x7f,
        1 => Just(b'\t'),
        1 => 0x80u8..=0xff,
    ];
    prop_oneof![
        3 => re("[0-9]{1,3}").prop_map(String::into_bytes),
        1 => re(" ?[0-9]{1,25} ?").prop_map(String::into_bytes),
        1 => select(&["-1", "1.5", "0", "18446744073709551615", "18446744073709551616", "Wed, 21 Oct 2015 07:28:00 GMT", "+5", ""][..])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => vec(byte, 0..20),
    ]
    .boxed()
}

/// The error code of an error body: a code, or the request's secret (alone or after text).
#[derive(Clone, Debug)]
enum CodePiece {
    Code(Value),
    Secret,
    AfterText(String),
}

fn error_cases() -> impl Strategy<Value = ErrorCase> {
    let ops = select(
        &[
            Sensitive::ApigReset,
            Sensitive::ApigUpdate,
            Sensitive::ApigCreateAppCode,
            Sensitive::RomaCreate,
        ][..],
    );
    let secret = re("[A-Za-z0-9/+=\"\\\\_.~-]{6,20}").prop_map(|s| format!("{MARK}{s}"));
    let piece = prop_oneof![
        4 => text().prop_map(Piece::Text),
        3 => (0..7usize).prop_map(Piece::Form),
        1 => re("[a-z ]{300,400}").prop_map(Piece::Text),
    ];
    let code = prop_oneof![
        4 => valid(&Ty::Code).prop_map(CodePiece::Code),
        1 => Just(CodePiece::Secret),
        1 => text().prop_map(CodePiece::AfterText),
    ];
    let structured = (code, vec(piece, 0..5), vec(mutation(), 0..3));
    let payload = prop_oneof![
        1 => vec(any::<u8>(), 0..200).prop_map(|b| Err(Payload::raw("bytes", b))),
        1 => vec(select(SOUP), 0..30)
            .prop_map(|t| Err(Payload::raw("soup", t.concat().into_bytes()))),
        1 => any_json().prop_map(|v| Err(Payload::json("json", v))),
        6 => structured.prop_map(Ok),
    ];
    (
        ops,
        secret,
        error_status(),
        proptest::option::of(header_value()),
        payload,
    )
        .prop_map(|(op, secret, status, retry_after, payload)| {
            let payload = match payload {
                Err(made) => made,
                Ok((code, pieces, mutations)) => {
                    let forms = forms(&secret);
                    let code = match code {
                        CodePiece::Code(c) => c,
                        CodePiece::Secret => Value::String(secret.clone()),
                        CodePiece::AfterText(t) => Value::String(format!("{t}{secret}")),
                    };
                    let message: String = pieces
                        .iter()
                        .map(|p| match p {
                            Piece::Text(t) => t.as_str(),
                            Piece::Form(i) => forms[*i].as_str(),
                        })
                        .collect();
                    let body = json!({"error_code": code, "error_msg": message});
                    Payload::json("error", mutate(body, &mutations))
                }
            };
            ErrorCase {
                op,
                secret,
                status,
                retry_after,
                payload,
            }
        })
}

async fn sensitive_call(
    op: Sensitive,
    client: &CloudClient,
    secret: &str,
) -> Result<(), CloudError> {
    let secret = SecretString::from(secret.to_string());
    let apig = client.apig("inst");
    match op {
        Sensitive::ApigReset => apig.reset_secret("app-1", Some(&secret)).await.map(drop),
        Sensitive::ApigUpdate => apig
            .update(
                "app-1",
                &AppInput {
                    name: NAME,
                    app_secret: Some(&secret),
                    ..Default::default()
                },
            )
            .await
            .map(drop),
        Sensitive::ApigCreateAppCode => apig.create_app_code("app-1", &secret).await.map(drop),
        Sensitive::RomaCreate => client
            .roma("inst")
            .create(&RomaInput {
                name: NAME,
                secret: Some(&secret),
                ..Default::default()
            })
            .await
            .map(drop),
    }
}

fn retry_after_oracle(header: Option<&[u8]>) -> Option<u64> {
    let bytes = header?;
    if !bytes
        .iter()
        .all(|b| (0x20..0x7f).contains(b) || *b == b'\t')
    {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// The `error_bodies` target.
pub fn bodies() {
    let fake = Fake::start();
    let client = fake.client();
    fuzz("error_bodies", error_cases(), |case| {
        let mut reply = Reply::new(case.status, case.payload.clone());
        if let Some(v) = &case.retry_after {
            reply.headers.push(("Retry-After".into(), v.clone()));
        }
        fake.script(vec![("", reply)]);
        let result = fake.run(sensitive_call(case.op, &client, &case.secret));
        let seen = fake.seen();
        prop_assert_eq!(seen.len(), 1);
        let forms = forms(&case.secret);
        prop_assert!(
            String::from_utf8_lossy(&seen[0].body).contains(&forms[2]),
            "the request carried the secret"
        );
        let err = match result {
            Err(e) => e,
            Ok(()) => return fail("an error status must be an error"),
        };
        let text = format!("{err}\n{err:?}");
        for form in &forms {
            prop_assert!(
                !text.contains(form.as_str()),
                "secret form {form:?} in: {text}"
            );
        }
        let CloudError::Api {
            status,
            code,
            message,
            category,
            retry_after,
            ..
        } = &err
        else {
            return fail(format!("expected CloudError::Api, got {err:?}"));
        };
        prop_assert_eq!(*status, case.status);
        prop_assert_eq!(err.status(), Some(case.status));
        prop_assert_eq!(err.code(), Some(code.as_str()));
        prop_assert_eq!(err.category(), *category);
        prop_assert!(!err.outcome_unknown());
        prop_assert!(
            message.chars().count() <= 300,
            "message of {} chars",
            message.chars().count()
        );
        match (retry_after_oracle(case.retry_after.as_deref()), retry_after) {
            (None, None) => {}
            (Some(secs), Some(d)) => {
                // Exact for sane values; a cap on absurd ones would be fine.
                prop_assert!(d.as_secs() <= secs);
                if secs <= 60 {
                    prop_assert_eq!(d.as_secs(), secs);
                }
            }
            (want, got) => return fail(format!("Retry-After {want:?} read as {got:?}")),
        }
        let contains_secret = |s: &str| forms.iter().any(|f| s.contains(f.as_str()));
        match oracle(&ERROR_BODY, &case.payload) {
            Some((true, Ok(n))) => {
                let raw_code = n["error_code"].as_str().unwrap_or("");
                let raw_msg = n["error_msg"].as_str().unwrap_or("");
                prop_assert_eq!(*category, expected_category(case.status, raw_code));
                if !contains_secret(raw_code) {
                    prop_assert_eq!(code.as_str(), raw_code);
                }
                if !contains_secret(raw_msg) {
                    let want: String = raw_msg.chars().take(300).collect();
                    prop_assert_eq!(message, &want);
                }
            }
            Some((true, Err(_))) => {
                prop_assert_eq!(code.as_str(), "");
                prop_assert_eq!(message.as_str(), "");
                prop_assert_eq!(*category, expected_category(case.status, ""));
            }
            _ => {
                if !code.contains("[redacted]") {
                    prop_assert_eq!(*category, expected_category(case.status, code));
                }
            }
        }
        Ok(())
    });
}
