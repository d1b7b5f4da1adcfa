//! ROMA: show, list, the secret endpoint, secret reset; and `find_by_name`, which is two calls
//! (validate-apps, then show), so it has its own check.

use appauth_operator::backend::Target;
use appauth_operator::cloud::signer::url_encode;
use appauth_operator::cloud::{CloudClient, CloudError, ErrorCategory, ExposeSecret, Service};
use futures::future::BoxFuture;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use crate::codes::expected_category;
use crate::observe::{Obs, cloud_app_json, no_secret_in, obs, obs_list, roma_app_json, unmasked};
use crate::oracle::{ERROR_BODY, ROMA_APP, ROMA_APP_LIST, ROMA_BRIEF, ROMA_SECRET, answer_oracle};
use crate::runner::{NAME, fail, fuzz};
use crate::server::{Fake, Payload, Reply};
use crate::service::{Spec, error_fields, fuzz_service, one, reset_secret};
use crate::strategies::{error_status, payload};

#[derive(Clone, Copy, Debug)]
enum RomaOp {
    Show,
    List,
    GetSecret,
    ResetSecret,
}

fn roma_cloud_app(a: &Value) -> Value {
    json!({"id": a["id"], "name": a["name"], "remark": a["remark"], "key": a["key"],
           "secret": null})
}

fn roma_spec(op: RomaOp) -> Spec {
    match op {
        RomaOp::Show => Spec::new(&ROMA_APP, "show", 1, |n| one(roma_cloud_app(n))),
        RomaOp::List => Spec::new(&ROMA_APP_LIST, "list", 1, |n| one(n.clone())),
        RomaOp::GetSecret => Spec::new(&ROMA_SECRET, "get_secret", 1, |n| one(n["secret"].clone())),
        RomaOp::ResetSecret => Spec::new(&ROMA_SECRET, "reset_secret", 1, |n| {
            one(unmasked(&n["secret"]))
        }),
    }
}

fn roma_call(op: RomaOp, client: &CloudClient) -> BoxFuture<'_, Result<Obs, CloudError>> {
    Box::pin(async move {
        let target = Target::Roma {
            instance: "inst".into(),
            favorite: false,
        };
        let roma = client.roma("inst");
        Ok(match op {
            RomaOp::Show => obs(&target.show(client, "app-1").await?, cloud_app_json),
            RomaOp::List => obs(
                &roma.list(None, 0, 100).await?,
                |l| json!({"total": l.total, "apps": l.apps.iter().map(roma_app_json).collect::<Vec<_>>()}),
            ),
            RomaOp::GetSecret => obs(&roma.get_secret("app-1").await?, |s| {
                json!(s.expose_secret())
            }),
            RomaOp::ResetSecret => reset_secret(&target, client).await?,
        })
    })
}

/// The `roma_answers` target.
pub fn answers() {
    use RomaOp::*;
    fuzz_service(
        "roma_answers",
        Service::Roma,
        &[Show, List, GetSecret, ResetSecret],
        roma_spec,
        roma_call,
    );
}

#[derive(Clone, Debug)]
struct RomaFindCase {
    validate_status: u16,
    validate: Payload,
    show: Payload,
}

fn roma_find_cases() -> impl Strategy<Value = RomaFindCase> {
    let found =
        (payload(&ROMA_BRIEF), payload(&ROMA_APP)).prop_map(|(validate, show)| RomaFindCase {
            validate_status: 200,
            validate,
            show,
        });
    let error = (error_status(), payload(&ERROR_BODY), payload(&ROMA_APP)).prop_map(
        |(validate_status, validate, show)| RomaFindCase {
            validate_status,
            validate,
            show,
        },
    );
    prop_oneof![3 => found, 1 => error]
}

/// The `roma_find_by_name` target.
pub fn find_by_name() {
    let fake = Fake::start();
    let client = fake.client();
    let target = Target::Roma {
        instance: "inst".into(),
        favorite: false,
    };
    fuzz("roma_find_by_name", roma_find_cases(), |case| {
        fake.script(vec![
            (
                "/validate-apps",
                Reply::new(case.validate_status, case.validate.clone()),
            ),
            ("/apps/", Reply::new(200, case.show.clone())),
        ]);
        let result = fake
            .run(target.find_by_name(&client, NAME))
            .map(|apps| obs_list(&apps, cloud_app_json));
        let requests = fake.seen().len();
        no_secret_in(&result)?;
        if !(200..300).contains(&case.validate_status) {
            let code = error_fields(&case.validate).map(|(code, _)| code);
            match (&result, code) {
                (Ok((apps, _)), Some(code)) => {
                    prop_assert_eq!(
                        expected_category(case.validate_status, &code),
                        ErrorCategory::NotFound,
                        "only a not-found answer may mean 'no app'"
                    );
                    prop_assert_eq!(apps, &json!([]));
                }
                (Err(e), Some(code)) => {
                    prop_assert_ne!(
                        expected_category(case.validate_status, &code),
                        ErrorCategory::NotFound
                    );
                    prop_assert_eq!(e.status(), Some(case.validate_status));
                }
                (Ok((apps, _)), None) => prop_assert_eq!(apps, &json!([])),
                (Err(e), None) => prop_assert_eq!(e.status(), Some(case.validate_status)),
            }
            prop_assert_eq!(requests, 1);
            return Ok(());
        }
        let brief = answer_oracle(&ROMA_BRIEF, &case.validate);
        let shown = answer_oracle(&ROMA_APP, &case.show);
        match &result {
            Ok((apps, _)) => {
                if let Some((_, verdict)) = &brief {
                    prop_assert!(verdict.is_ok(), "decoded a brief the schema rejects");
                }
                if let Some((_, verdict)) = &shown {
                    let n = verdict
                        .as_ref()
                        .map_err(|why| TestCaseError::fail(format!("decoded {why}")))?;
                    prop_assert_eq!(apps, &json!([roma_cloud_app(n)]));
                }
                prop_assert_eq!(requests, 2);
                // The id from the answer addresses that app, and nothing else.
                if let Some((_, Ok(n))) = &brief {
                    let id = n["id"].as_str().unwrap_or_default();
                    let want = format!("/v2/proj/instances/inst/apps/{}", url_encode(id));
                    prop_assert_eq!(
                        &fake.seen()[1].path,
                        &want,
                        "the id {:?} escaped its path",
                        id
                    );
                }
            }
            Err(CloudError::Decode { service, op, .. }) => {
                prop_assert_eq!(*service, Service::Roma);
                match *op {
                    "validate" => {
                        prop_assert_eq!(requests, 1);
                        prop_assert!(!matches!(brief, Some((true, Ok(_)))));
                    }
                    "show" => {
                        prop_assert_eq!(requests, 2);
                        prop_assert!(!matches!(shown, Some((true, Ok(_)))));
                    }
                    other => return fail(format!("decode error from op {other}")),
                }
            }
            // Only when the id cannot go into a URL (too long, a dot segment): nothing is sent.
            Err(CloudError::InvalidRequest { service, op, .. }) => {
                prop_assert_eq!(*service, Service::Roma);
                prop_assert_eq!(*op, "show");
                prop_assert_eq!(requests, 1);
            }
            Err(other) => return fail(format!("expected a Decode error, got {other:?}")),
        }
        Ok(())
    });
}
