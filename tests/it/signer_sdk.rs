//! The operator's signer against the official Huawei Cloud Python SDK signer
//! (huaweicloudsdkcore, run from the test venv): the same requests must give the same canonical
//! request and the same Authorization header, byte for byte.

use std::io::Write;
use std::process::{Command, Stdio};

use appauth_operator::cloud::signer::{SigningRequest, sign};
use serde_json::{Value, json};

struct Case {
    method: &'static str,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: String,
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn cases() -> Vec<Case> {
    let base_headers = |date: &str| {
        pairs(&[
            ("Host", "apig.cn-north-4.myhuaweicloud.com"),
            ("X-Sdk-Date", date),
            ("X-Project-Id", "0833a5737480d53b2f250010d01a7b88"),
        ])
    };
    let paths = [
        "/v2/0833a5737480d53b2f250010d01a7b88/apigw/instances/gw1/apps",
        "/v1/p/app-auth/apps/%E8%AE%A2%E5%8D%95%20app/exists",
        "/v1/p/app-auth/apps/name%2Fwith%2Fslash/exists",
        "/v2/p/instances/i-1/apps/abc~def_ghi.jkl-mno/secret",
        "/v1/p/service/apps/",
        "/v1/p/a%20b/c+d/e%25f/(g)/h!i/j*k/'l'",
        "/",
    ];
    let queries: Vec<Vec<(String, String)>> = vec![
        vec![],
        pairs(&[("limit", "500"), ("offset", "0")]),
        pairs(&[("name", "orders_client"), ("precise_search", "name")]),
        pairs(&[("b", "2"), ("a", "z z"), ("a", "y/"), ("c", "")]),
        pairs(&[("app_name", "订单 客户端"), ("workspace_id", "0")]),
        pairs(&[
            ("k", "a+b=c&d"),
            ("k", "~x*y'z"),
            ("empty", ""),
            ("empty", ""),
        ]),
        pairs(&[
            ("Upper", "1"),
            ("lower", "2"),
            ("_under", "3"),
            ("-dash", "4"),
        ]),
    ];
    let bodies = [
        String::new(),
        r#"{"name":"orders_client","remark":"Orders [appauth:1a2b3c4d]"}"#.to_string(),
        r#"{"app_name":"订单客户端","app_remark":"déjà vu ✓ 😀"}"#.to_string(),
        "{\n  \"secret\": \"a!b@c#d$e%f\"\n}\n".to_string(),
    ];
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let mut out = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        for (j, query) in queries.iter().enumerate() {
            let method = methods[(i + j) % methods.len()];
            let body = if method == "GET" || method == "DELETE" {
                String::new()
            } else {
                bodies[(i + j) % bodies.len()].clone()
            };
            let mut headers = base_headers(if (i + j) % 2 == 0 {
                "20261122T050000Z"
            } else {
                "20200608T023900Z"
            });
            if !body.is_empty() {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            match (i * 7 + j) % 5 {
                0 => headers.push(("X-Security-Token".into(), "tmp-token/with+chars==".into())),
                1 => headers.push(("workspace".into(), "w1".into())),
                2 => headers.push(("Dlm-Type".into(), "  EXCLUSIVE  ".into())),
                3 => headers.push((
                    "X_Not_Signed".into(),
                    "underscore headers are skipped".into(),
                )),
                _ => {}
            }
            out.push(Case {
                method,
                path: path.to_string(),
                query: query.clone(),
                headers,
                body,
            });
        }
    }
    out
}

/// The venv's python, made by the SDK test script (the same venv the conformance suite uses).
fn sdk_python() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(format!("{root}/xtask/scripts/sdk-tests.sh"))
        .arg("--python")
        .stderr(Stdio::inherit())
        .output()
        .expect("running xtask/scripts/sdk-tests.sh --python (needs python3 and PyPI)");
    assert!(
        out.status.success(),
        "could not prepare the SDK venv: {}",
        out.status
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 path")
        .lines()
        .last()
        .expect("a python path")
        .trim()
        .to_string()
}

#[test]
fn signatures_match_the_official_python_sdk_byte_for_byte() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let (ak, sk) = ("HWSIMAK0000000000000", "sk/with+odd=chars 🔑");
    let mut input = String::new();
    for c in &cases {
        let url = format!("https://apig.cn-north-4.myhuaweicloud.com{}", c.path);
        let headers: serde_json::Map<String, Value> = c
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let line = json!({"method": c.method, "url": url, "headers": headers, "query": c.query, "body": c.body, "ak": ak, "sk": sk});
        input.push_str(&line.to_string());
        input.push('\n');
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new(sdk_python())
        .arg(format!("{root}/tests/sdk/sdk_sign.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the SDK signer");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writing requests");
    let out = child.wait_with_output().expect("SDK signer output");
    assert!(out.status.success(), "SDK signer failed: {}", out.status);
    let answers: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(answers.len(), cases.len());
    let mut mismatches = Vec::new();
    for (c, sdk) in cases.iter().zip(&answers) {
        assert!(
            sdk.get("error").is_none(),
            "SDK could not sign {} {}: {}",
            c.method,
            c.path,
            sdk["error"]
        );
        let ours = sign(
            &SigningRequest {
                method: c.method,
                path: &c.path,
                query: &c.query,
                headers: &c.headers,
                body: c.body.as_bytes(),
            },
            ak,
            sk.as_bytes(),
        );
        if ours.canonical_request != sdk["canonical_request"].as_str().unwrap_or_default()
            || ours.authorization != sdk["authorization"].as_str().unwrap_or_default()
        {
            mismatches.push(format!(
                "{} {} {:?}\n ours: {:?}\n sdk:  {:?}",
                c.method, c.path, c.query, ours.canonical_request, sdk["canonical_request"]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}
