use super::*;
use crate::api::{ApigTarget, GatewayAppSpec, SecretTarget};

const SECRET: &str = "s3cr3tV4lu3-AbCdEf0123456789";
const KEY: &str = "key-0123456789abcdef";

fn app(templates: &[(&str, &str)], app_code: bool) -> GatewayApp {
    let mut a = GatewayApp::new(
        "orders",
        GatewayAppSpec {
            apig: Some(ApigTarget {
                instance_id: "gw1".into(),
            }),
            app_code,
            secret: Some(Box::new(SecretTarget {
                template: templates
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Default::default()
            })),
            ..Default::default()
        },
    );
    a.metadata.namespace = Some("shop".into());
    a
}

fn vars() -> Vars<'static> {
    Vars {
        app_key: KEY,
        app_secret: SECRET,
        app_id: "id-42",
        app_code: None,
    }
}

#[test]
fn good_templates_render_with_the_credentials_and_the_object() {
    let cases: [(&str, &str, &str); 7] = [
        (
            "env file",
            "APP_KEY={{ appKey }}\nAPP_SECRET={{ appSecret }}\n",
            "APP_KEY=key-0123456789abcdef\nAPP_SECRET=s3cr3tV4lu3-AbCdEf0123456789\n",
        ),
        (
            "json document",
            r#"{"key": {{ appKey|tojson }}, "secret": {{ appSecret|tojson }}}"#,
            r#"{"key": "key-0123456789abcdef", "secret": "s3cr3tV4lu3-AbCdEf0123456789"}"#,
        ),
        (
            "url with the key",
            "https://api.example.com/?app_key={{ appKey|urlencode }}",
            "https://api.example.com/?app_key=key-0123456789abcdef",
        ),
        (
            "object variables",
            "{{ namespace }}/{{ name }} {{ service }} {{ instance }} {{ secretName }} {{ appId }}",
            "shop/orders apig gw1 orders id-42",
        ),
        (
            "base64",
            "{{ (appKey ~ ':' ~ appSecret)|b64encode }}",
            "a2V5LTAxMjM0NTY3ODlhYmNkZWY6czNjcjN0VjRsdTMtQWJDZEVmMDEyMzQ1Njc4OQ==",
        ),
        (
            "appCode tested for",
            "{% if appCode is defined %}code{% else %}none{% endif %}",
            "none",
        ),
        (
            "a loop within the budget",
            "{% for i in range(3) %}{{ i }}{% endfor %}",
            "012",
        ),
    ];
    for (name, source, want) in cases {
        let a = app(&[("out", source)], false);
        assert_eq!(check(&a), Ok(()), "{name}");
        let got = render(&a, &vars()).expect(name);
        assert_eq!(got.get("out").map(String::as_str), Some(want), "{name}");
    }
}

#[test]
fn the_app_code_is_there_only_when_asked_for() {
    let a = app(&[("code", "{{ appCode }}")], true);
    assert_eq!(check(&a), Ok(()));
    let v = Vars {
        app_code: Some("the-code"),
        ..vars()
    };
    assert_eq!(render(&a, &v).expect("renders")["code"], "the-code");
    let without = app(&[("code", "{{ appCode }}")], false);
    let err = check(&without).expect_err("appCode is undefined without spec.appCode");
    assert!(err.what.starts_with("undefined value"), "{err}");
}

#[test]
fn bad_templates_fail_naming_the_key_and_never_a_value() {
    let cases: [(&str, &str, &str); 6] = [
        ("syntax error", "{{ appKey ", "syntax error"),
        (
            "undefined variable",
            "x={{ appScret }}",
            "undefined value 'appScret'",
        ),
        ("unknown filter", "{{ appSecret|nosuch }}", "unknown filter"),
        (
            "fuel exhausted",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "ran out of fuel",
        ),
        (
            "memory bounded by fuel",
            "{{ appSecret * 10000000 }}",
            "ran out of fuel",
        ),
        (
            "output too large",
            "{% for i in range(2000) %}{{ appSecret }}{% endfor %}",
            "larger than 16384 bytes",
        ),
    ];
    for (name, source, want) in cases {
        let a = app(&[("config.json", source)], false);
        for (mode, result) in [
            ("check", check(&a).map(|_| ())),
            ("render", render(&a, &vars()).map(|_| ())),
        ] {
            let err = result.expect_err(name);
            let text = err.to_string();
            assert!(
                text.starts_with(r#"spec.secret.template["config.json"]: "#),
                "{name} ({mode}): {text}"
            );
            assert!(text.contains(want), "{name} ({mode}): {text}");
            assert!(
                !text.contains(SECRET) && !text.contains(KEY) && !text.contains("s3cr3t"),
                "{name} ({mode}): {text}"
            );
        }
    }
}

#[test]
fn runtime_errors_with_real_values_name_only_the_kind_and_line() {
    // The secret is not a number: minijinja's detail could quote it, so the render with real
    // values leaves the detail out.
    let a = app(&[("n", "\n{{ appSecret|int + 1 }}")], false);
    if let Err(err) = render(&a, &vars()) {
        let text = err.to_string();
        assert!(!text.contains(SECRET) && !text.contains("s3cr3t"), "{text}");
    }
    let a = app(&[("n", "\n{{ appSecret.nosuch.deeper }}")], false);
    let err = render(&a, &vars()).expect_err("undefined attribute");
    assert_eq!(
        err.to_string(),
        r#"spec.secret.template["n"]: undefined value at line 2"#
    );
}

#[test]
fn no_templates_render_nothing() {
    let a = app(&[], false);
    assert_eq!(check(&a), Ok(()));
    assert!(render(&a, &vars()).expect("renders").is_empty());
}

#[test]
fn templates_load_nothing_else_and_recursion_ends() {
    // Built without minijinja's multi-template support: no other template can be named at all.
    // (With real values only the error's kind is told: "invalid operation" for the recursion.)
    let unknown = |tag| {
        [
            format!("unknown statement {tag}"),
            "syntax error".to_string(),
        ]
    };
    let cases: [(&str, &str, [String; 2]); 5] = [
        ("include", r#"{% include "other" %}"#, unknown("include")),
        (
            "import",
            r#"{% import "other" as o %}{{ o }}"#,
            unknown("import"),
        ),
        (
            "from import",
            r#"{% from "other" import m %}{{ m() }}"#,
            unknown("from"),
        ),
        (
            "extends",
            r#"{% extends "/etc/passwd" %}"#,
            unknown("extends"),
        ),
        (
            "recursion",
            "{% for x in [1] recursive %}{{ loop([x]) }}{% endfor %}",
            [
                "recursion limit exceeded".to_string(),
                "invalid operation".to_string(),
            ],
        ),
    ];
    for (name, source, [want_check, want_render]) in cases {
        let a = app(&[("k", source)], false);
        for (mode, result, want) in [
            ("check", check(&a).map(|_| ()), &want_check),
            ("render", render(&a, &vars()).map(|_| ()), &want_render),
        ] {
            let text = result.expect_err(name).to_string();
            assert!(text.contains(want.as_str()), "{name} ({mode}): {text}");
        }
    }
    // A recursive loop renders while its depth stays under the limit: the error above is the
    // limit's. (Macros are not built in either.)
    let a = app(
        &[(
            "k",
            "{% for x in [[[1]], 2] recursive %}{% if x is iterable %}{{ loop(x) }}{% else %}{{ x }}{% endif %}{% endfor %}",
        )],
        false,
    );
    assert_eq!(render(&a, &vars()).expect("bounded recursion")["k"], "12");
    let a = app(&[("k", "{% macro f() %}{% endmacro %}")], false);
    let text = check(&a).expect_err("macro").to_string();
    assert!(text.contains("unknown statement macro"), "{text}");
}
