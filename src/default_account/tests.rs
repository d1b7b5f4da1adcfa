//! The default account: which source wins, files read again, watched, read by version.
use super::*;
use std::collections::HashMap;

fn args() -> CredentialArgs {
    CredentialArgs {
        credential_duration: Duration::from_secs(3600),
        instance_metadata_url: "http://169.254.169.254".into(),
        token_audience: "appauth-operator".into(),
        ..CredentialArgs::default()
    }
}

fn kind(account: &Result<Option<Account>, String>) -> String {
    match account {
        Ok(None) => "none".into(),
        Ok(Some(a)) => match &a.credentials {
            Credentials::AkSk { .. } => format!("aksk project={}", a.project_id),
            Credentials::Password { .. } => format!("password project={}", a.project_id),
            Credentials::Temporary { source } => {
                format!("{} project={}", source.describe(), a.project_id)
            }
        },
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn the_first_source_configured_wins() {
    let federated = CredentialArgs {
        idp_id: Some("k8s".into()),
        id_token_file: Some("/var/run/token".into()),
        ..args()
    };
    let pod = CredentialArgs {
        pod_identity_uri: Some("http://agent/credentials".into()),
        pod_identity_token_file: Some("/var/run/pod-token".into()),
        ..args()
    };
    let metadata = CredentialArgs {
        instance_metadata: true,
        ..args()
    };
    let keys: &[(&str, &str)] = &[("HWCLOUD_ACCESS_KEY", "AK"), ("HWCLOUD_SECRET_KEY", "SK")];
    let region: &[(&str, &str)] = &[("HWCLOUD_REGION", "cn-north-4")];
    let project: &[(&str, &str)] = &[("HWCLOUD_PROJECT_ID", "p1")];
    type Case<'a> = (&'a str, CredentialArgs, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("nothing", args(), vec![], "none"),
        (
            "keys",
            args(),
            [keys, region, project].concat(),
            "aksk project=p1",
        ),
        (
            "keys without a project",
            args(),
            [keys, region].concat(),
            "error: --project-id (HWCLOUD_PROJECT_ID) is required with keys or an IAM password",
        ),
        (
            "federation wins over keys; the project is looked up",
            federated.clone(),
            [keys, region].concat(),
            "identity provider k8s (token file /var/run/token) project=",
        ),
        (
            "keys win over Pod Identity",
            pod.clone(),
            [keys, region, project].concat(),
            "aksk project=p1",
        ),
        (
            "Pod Identity",
            pod.clone(),
            region.to_vec(),
            "Pod Identity at http://agent/credentials project=",
        ),
        (
            "metadata is last: Pod Identity wins over it",
            CredentialArgs {
                instance_metadata: true,
                ..pod.clone()
            },
            region.to_vec(),
            "Pod Identity at http://agent/credentials project=",
        ),
        (
            "metadata is last: keys win over it",
            metadata.clone(),
            [keys, region, project].concat(),
            "aksk project=p1",
        ),
        (
            "metadata is last: federation wins over it",
            CredentialArgs {
                instance_metadata: true,
                ..federated.clone()
            },
            region.to_vec(),
            "identity provider k8s (token file /var/run/token) project=",
        ),
        (
            "metadata only when asked",
            metadata,
            [region, project].concat(),
            "instance metadata at http://169.254.169.254 project=p1",
        ),
        (
            "no region",
            federated,
            vec![],
            "error: --region (HWCLOUD_REGION) is required with a default account",
        ),
    ];
    for (name, args, env, want) in cases {
        let env: HashMap<&str, &str> = env.into_iter().collect();
        let read = |_: &str, var: &str| env.get(var).map(|v| v.to_string());
        assert_eq!(kind(&resolve(&args, &read)), want, "{name}");
    }
}

#[test]
fn files_are_read_again_at_each_use() {
    let dir = std::env::temp_dir().join(format!("appauth-default-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for (file, value) in [
        ("accessKey", "AK1"),
        ("secretKey", "SK1"),
        ("region", "cn-north-4"),
        ("projectId", "p1"),
    ] {
        std::fs::write(dir.join(file), value).expect("write");
    }
    let account = DefaultAccount::new(CredentialArgs {
        credentials_dir: Some(dir.clone()),
        ..args()
    });
    let principal =
        |a: &DefaultAccount| a.current().expect("valid").expect("configured").principal();
    assert_eq!(principal(&account), "ak:AK1");
    std::fs::write(dir.join("accessKey"), "AK2").expect("write");
    assert_eq!(principal(&account), "ak:AK2");
    std::fs::remove_file(dir.join("secretKey")).expect("rm");
    let e = account.current().expect_err("no secret key");
    assert!(e.contains("secretKey"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_changed_file_signals_every_subscriber() {
    let dir = std::env::temp_dir().join(format!("appauth-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("accessKey"), "AK1").expect("write");
    let account = DefaultAccount::new(CredentialArgs {
        credentials_dir: Some(dir.clone()),
        ..args()
    });
    let (mut signals, poll) = account.watch(2, Duration::from_millis(20));
    let poll = tokio::spawn(poll);
    use futures::StreamExt;
    // Nothing changed: no signal within several polls.
    let quiet = tokio::time::timeout(Duration::from_millis(200), signals[0].next()).await;
    assert!(quiet.is_err(), "no change, no signal");
    std::fs::write(dir.join("accessKey"), "AK2").expect("write");
    for s in signals.iter_mut() {
        let got = tokio::time::timeout(Duration::from_secs(5), s.next()).await;
        assert!(matches!(got, Ok(Some(()))), "signalled");
    }
    poll.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_mounted_secret_is_read_through_its_current_version() {
    let dir = std::env::temp_dir().join(format!("appauth-snapshot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let version = dir.join("..2026_12_03_21_00_00.1");
    std::fs::create_dir_all(&version).expect("dir");
    std::fs::write(version.join("accessKey"), "AK-v1").expect("write");
    std::os::unix::fs::symlink("..2026_12_03_21_00_00.1", dir.join("..data")).expect("link");
    std::os::unix::fs::symlink("..data/accessKey", dir.join("accessKey")).expect("link");
    assert_eq!(
        snapshot(&dir),
        std::fs::canonicalize(&version).expect("path")
    );
    assert_eq!(
        std::fs::read_to_string(snapshot(&dir).join("accessKey")).expect("read"),
        "AK-v1"
    );
    // A plain directory is read as it is.
    let plain = dir.join("plain");
    std::fs::create_dir_all(&plain).expect("dir");
    assert_eq!(snapshot(&plain), plain);
    let _ = std::fs::remove_dir_all(&dir);
}
