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
    let url = listening_url(&mut child);
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

/// The first line of stdout, `hwcloud-sim listening on URL`: the URL.
fn listening_url(child: &mut std::process::Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read line");
    line.trim()
        .strip_prefix("hwcloud-sim listening on ")
        .unwrap_or_else(|| panic!("listening line: {line:?}"))
        .to_string()
}

#[tokio::test]
async fn binary_serves_https_with_a_certificate_and_key() {
    let pki = crate::tls::private_ca("binary");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hwcloud-sim"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&pki.server_cert)
        .env("HWCLOUD_SIM_TLS_KEY", &pki.server_key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start binary");
    let url = listening_url(&mut child);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let client = crate::common::Client {
        base: url.clone(),
        auth: crate::common::Auth::default_keys(),
        http: crate::tls::client(&pki),
        headers: Vec::new(),
    };
    let apps = client
        .get(
            &format!("/v2/{}/apigw/instances/i/apps", crate::common::PROJECT),
            &[],
        )
        .await;
    assert_eq!(apps.status, StatusCode::OK);
    // A client without the CA is refused in the handshake; plain HTTP gets no answer either.
    let untrusting = reqwest::Client::new()
        .get(format!("{url}/_sim/state"))
        .send()
        .await;
    assert!(untrusting.is_err(), "{untrusting:?}");
    let plain = reqwest::Client::new()
        .get(url.replace("https://", "http://") + "/_sim/state")
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn binary_wants_both_tls_flags_or_neither() {
    let pki = crate::tls::private_ca("half");
    for (flag, path, missing) in [
        ("--tls-cert", &pki.server_cert, "--tls-key"),
        ("--tls-key", &pki.server_key, "--tls-cert"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_hwcloud-sim"))
            .args(["--listen", "127.0.0.1:0", flag])
            .arg(path)
            .env_remove("HWCLOUD_SIM_TLS_CERT")
            .env_remove("HWCLOUD_SIM_TLS_KEY")
            .output()
            .expect("run binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag} alone: started");
        assert!(stderr.contains(missing), "{flag} alone: {stderr}");
        assert!(out.stdout.is_empty(), "{flag} alone: listened");
    }
    // A key where the certificate should be: refused at start, naming the file.
    let out = Command::new(env!("CARGO_BIN_EXE_hwcloud-sim"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&pki.server_key)
        .arg("--tls-key")
        .arg(&pki.server_key)
        .output()
        .expect("run binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with a key as certificate");
    assert!(
        stderr.contains("no PEM certificate")
            && stderr.contains(&*pki.server_key.to_string_lossy()),
        "{stderr}"
    );
}

#[tokio::test]
async fn binary_reads_a_config_file_with_providers_and_settings() {
    let dir = std::env::temp_dir().join(format!("hwsim-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("config.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "temporary_credential_max_secs": 20,
            "metadata_agency": "hwsim-user",
            "identity_providers": [{"id": "k8s", "issuer": "https://issuer.test",
                "client_id": "appauth", "jwks": {"keys": []},
                "mappings": [{"sub": "system:serviceaccount:ns1:*", "user": "hwsim-user"}]}],
        })
        .to_string(),
    )
    .expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hwcloud-sim"))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start binary");
    let url = listening_url(&mut child);
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{url}{path}")).send();
    let providers: serde_json::Value = get("/_sim/identity-providers")
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(providers[0]["id"], "k8s");
    let cfg: serde_json::Value = get("/_sim/config")
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(cfg["temporary_credential_max_secs"], 20);
    let accounts: serde_json::Value = get("/_sim/accounts")
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        accounts.as_array().map(Vec::len),
        Some(1),
        "only the flags' account"
    );
    let key = get("/openstack/latest/securitykey").await.expect("get");
    assert_eq!(key.status(), StatusCode::OK);
    let _ = child.kill();
    let _ = child.wait();

    std::fs::write(
        &file,
        r#"{"identity_providers": [{"id": "x", "issuer": "i", "client_id": "c"}]}"#,
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_hwcloud-sim"))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("identity_providers[0]: jwks or jwks_url is required"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
