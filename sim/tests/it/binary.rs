use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use reqwest::StatusCode;

#[tokio::test]
async fn binary_prints_its_address_and_uses_flag_credentials() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hwcloud-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--access-key",
            "CLIAK",
            "--project-id",
            "cliproject",
        ])
        .env("HWCLOUD_SIM_SECRET_KEY", "cli-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read line");
    let url = line
        .trim()
        .strip_prefix("hwcloud-sim listening on ")
        .expect("listening line")
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );

    let client = crate::common::Client {
        base: url.clone(),
        auth: crate::common::Auth::sign("CLIAK", "cli-secret"),
        http: reqwest::Client::new(),
        headers: Vec::new(),
    };
    let ok = client
        .get("/v2/cliproject/apigw/instances/i/apps", &[])
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let wrong = crate::common::Client {
        auth: crate::common::Auth::default_keys(),
        ..client
    };
    assert_eq!(
        wrong
            .get("/v2/cliproject/apigw/instances/i/apps", &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let _ = child.kill();
    let _ = child.wait();
}
