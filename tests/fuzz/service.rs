//! One check for every decoding operation of a service, and the driver that fuzzes them all.

use std::fmt::Debug;

use appauth_operator::backend::Target;
use appauth_operator::cloud::{CloudClient, CloudError, SecretString, Service};
use futures::future::BoxFuture;
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde_json::Value;

use crate::codes::expected_category;
use crate::observe::{Obs, no_secret_in, obs, secret_json, the_app};
use crate::oracle::{ERROR_BODY, Ty, answer_oracle, oracle};
use crate::runner::{NAME, fail, fuzz};
use crate::server::{Fake, Payload, Reply};
use crate::strategies::{payload, success_or_error_status};

/// Expected observation and number of requests, from the oracle's normalised answer.
pub type Expect = fn(&Value) -> (Value, usize);

/// What an operation must produce from a normalised answer.
pub struct Spec {
    ty: &'static Ty,
    /// The op name a decode failure must carry.
    op: &'static str,
    max_requests: usize,
    expect: Expect,
}

impl Spec {
    pub fn new(ty: &'static Ty, op: &'static str, max_requests: usize, expect: Expect) -> Self {
        Spec {
            ty,
            op,
            max_requests,
            expect,
        }
    }
}

pub fn one(v: Value) -> (Value, usize) {
    (v, 1)
}

/// A 2xx answer decodes exactly when it fits the schema (both ways when the payload is a JSON
/// value, one way for byte-level junk the oracle can still parse), into exactly the answer's
/// fields with the expected number of requests; a failure is `CloudError::Decode` naming the
/// operation; no secret reaches an error's text or a decoded value's `Debug`.
fn check_answer(
    service: Service,
    spec: &Spec,
    status: u16,
    payload: &Payload,
    result: &Result<Obs, CloudError>,
    requests: usize,
) -> TestCaseResult {
    prop_assert!(
        (1..=spec.max_requests).contains(&requests),
        "{requests} requests"
    );
    if !(200..300).contains(&status) {
        return check_error_answer(service, status, payload, result);
    }
    no_secret_in(result)?;
    let verdict = answer_oracle(spec.ty, payload);
    match result {
        Ok((observed, _)) => match verdict {
            Some((_, Ok(normal))) => {
                let (want, want_requests) = (spec.expect)(&normal);
                prop_assert_eq!(observed, &want, "decoded fields differ from the answer");
                prop_assert_eq!(requests, want_requests);
            }
            Some((_, Err(why))) => {
                return fail(format!("decoded an answer the schema rejects ({why})"));
            }
            None => {}
        },
        Err(CloudError::Decode { service: s, op, .. }) => {
            prop_assert_eq!(*s, service);
            prop_assert_eq!(*op, spec.op);
            if let Some((true, Ok(_))) = verdict {
                return fail("rejected an answer that fits the schema");
            }
        }
        Err(other) => {
            return fail(format!(
                "a 2xx answer that does not decode must be CloudError::Decode, got {other:?}"
            ));
        }
    }
    Ok(())
}

/// `error_code` and `error_msg` as the client must read them from an error answer, when the
/// oracle can tell: empty when the body is not an error body.
pub fn error_fields(payload: &Payload) -> Option<(String, String)> {
    match oracle(&ERROR_BODY, payload)? {
        (true, Ok(n)) => Some((
            n["error_code"].as_str().unwrap_or_default().to_string(),
            n["error_msg"].as_str().unwrap_or_default().to_string(),
        )),
        (true, Err(_)) => Some((String::new(), String::new())),
        (false, _) => None,
    }
}

/// An error status is an Api error whose text is the body's `error_code` and `error_msg` (at
/// most 300 characters) and nothing else from the body: a secret elsewhere in it never shows.
fn check_error_answer(
    service: Service,
    status: u16,
    payload: &Payload,
    result: &Result<Obs, CloudError>,
) -> TestCaseResult {
    let e = match result {
        Err(
            e @ CloudError::Api {
                service: s,
                status: got,
                ..
            },
        ) if *s == service && *got == status => e,
        other => return fail(format!("HTTP {status} must be an Api error, got {other:?}")),
    };
    let CloudError::Api {
        op,
        code,
        message,
        category,
        ..
    } = e
    else {
        unreachable!()
    };
    prop_assert!(message.chars().count() <= 300);
    prop_assert_eq!(
        e.to_string(),
        format!("{service} {op}: {category} (HTTP {status}, {code}): {message}")
    );
    if let Some((want_code, want_message)) = error_fields(payload) {
        prop_assert_eq!(*category, expected_category(status, &want_code));
        prop_assert_eq!(code, &want_code);
        prop_assert_eq!(message, &want_message.chars().take(300).collect::<String>());
    }
    Ok(())
}

#[derive(Clone, Debug)]
struct Case<Op> {
    op: Op,
    status: u16,
    payload: Payload,
}

fn cases<Op: Clone + Copy + Debug + 'static>(
    ops: &'static [Op],
    spec: fn(Op) -> Spec,
) -> impl Strategy<Value = Case<Op>> {
    let per_op: Vec<BoxedStrategy<Case<Op>>> = ops
        .iter()
        .map(|&op| {
            (success_or_error_status(), payload(spec(op).ty))
                .prop_map(move |(status, payload)| Case {
                    op,
                    status,
                    payload,
                })
                .boxed()
        })
        .collect();
    proptest::strategy::Union::new(per_op)
}

pub type Call<Op> = for<'a> fn(Op, &'a CloudClient) -> BoxFuture<'a, Result<Obs, CloudError>>;

/// One service's answers: every operation against arbitrary bytes, arbitrary JSON and valid
/// answers with mutated fields, under success and error statuses (see `check_answer`).
pub fn fuzz_service<Op: Clone + Copy + Debug + 'static>(
    target: &str,
    service: Service,
    ops: &'static [Op],
    spec: fn(Op) -> Spec,
    call: Call<Op>,
) {
    let fake = Fake::start();
    let client = fake.client();
    fuzz(target, cases(ops, spec), |case| {
        fake.script(vec![("", Reply::new(case.status, case.payload.clone()))]);
        let result = fake.run(call(case.op, &client));
        let requests = fake.seen().len();
        check_answer(
            service,
            &spec(case.op),
            case.status,
            &case.payload,
            &result,
            requests,
        )
    });
}

/// `find_by_name` over pages that are all the same answer: what it must return and how many
/// pages it must read.
pub fn pages(
    apps: &[Value],
    limit: usize,
    mut last: impl FnMut(i64, i64) -> bool,
    to_app: fn(&Value) -> Value,
) -> (Value, usize) {
    let matching: Vec<Value> = apps
        .iter()
        .filter(|a| a["name"] == NAME || a["app_name"] == NAME)
        .map(to_app)
        .collect();
    let (mut out, mut offset, mut requests) = (Vec::new(), 0i64, 0);
    for _ in 0..limit {
        requests += 1;
        out.extend(matching.iter().cloned());
        let n = apps.len() as i64;
        offset += n;
        if n == 0 || last(offset, n) {
            break;
        }
    }
    (Value::Array(out), requests)
}

pub fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// `Target::reset_secret` of `the_app` to a chosen secret, as the operator calls it.
pub async fn reset_secret(target: &Target, client: &CloudClient) -> Result<Obs, CloudError> {
    let chosen = SecretString::from("chosen-secret-0000");
    let s = target
        .reset_secret(client, &the_app(), Some(&chosen))
        .await?;
    Ok(obs(&s, |s| secret_json(s.as_ref())))
}
