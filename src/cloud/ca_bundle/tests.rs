//! Loading `--ca-bundle`: one row per kind of file.

use std::io::Write as _;

use super::*;

/// Two self-signed CA certificates (EC P-256, valid for a century), made with the openssl CLI.
const CA_ONE: &str = "\
-----BEGIN CERTIFICATE-----
MIIBojCCAUmgAwIBAgIUN2q7YS8C+NNTWNqFcuMKqOyFZckwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTYXBwYXV0aCB0ZXN0IENBIG9uZTAgFw0yNjEyMDMxNzMxNTNa
GA8yMTI2MTEwOTE3MzE1M1owHjEcMBoGA1UEAwwTYXBwYXV0aCB0ZXN0IENBIG9u
ZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABESwbXSZZbmXHuq9BKvS6HD87pzO
lQQyEO/tbJKEAFTwtHarf5i2tK9yDK8+ibX0VqwMc6gJTzTK2UGDerKGpvWjYzBh
MB0GA1UdDgQWBBQ3d9fNZpZfVGGiLlFLJRAPq2W6TzAfBgNVHSMEGDAWgBQ3d9fN
ZpZfVGGiLlFLJRAPq2W6TzAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIB
BjAKBggqhkjOPQQDAgNHADBEAiAZZaYPrDc/Y4nsBooXWsPnKUM5opYOkbc6xmGK
4luczwIgMRALWjP5o1y/HDQ6aHVZ2vlDtsunNDtnXvj4KzucJmU=
-----END CERTIFICATE-----
";
const CA_TWO: &str = "\
-----BEGIN CERTIFICATE-----
MIIBpDCCAUmgAwIBAgIULayYN9oPzR0B6NXGXfrMCYmKhuAwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTYXBwYXV0aCB0ZXN0IENBIHR3bzAgFw0yNjEyMDMxNzMxNTNa
GA8yMTI2MTEwOTE3MzE1M1owHjEcMBoGA1UEAwwTYXBwYXV0aCB0ZXN0IENBIHR3
bzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKfbwdeMxfZKRIyphNHOwTtZIXVO
TE1uWCfhGip9f6HW81MQfaSpy1jszvZjr+pZGpDnLaOuIYjEVQrC9uimjq2jYzBh
MB0GA1UdDgQWBBTbk1E6Ui/tl1LFDpXDBm0fCnO6CTAfBgNVHSMEGDAWgBTbk1E6
Ui/tl1LFDpXDBm0fCnO6CTAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIB
BjAKBggqhkjOPQQDAgNJADBGAiEA7R4/Cm+348DenvoLgESJcwTAumV1SyYoiyM3
MDCLxQACIQCwCXr+VzjaEpmTbR7QSVY26KRpYNtZ+7NLpvC8Hs7ETA==
-----END CERTIFICATE-----
";

/// What a row expects: so many certificates, or an error whose text has this in it.
enum Want {
    Certificates(usize),
    Error(&'static str),
}

#[test]
fn pem_contents() {
    let two = format!("{CA_ONE}{CA_TWO}");
    let with_text = format!("# ops bundle\n{CA_ONE}\nsubject=CN = two\n{CA_TWO}");
    // Valid base64 in a CERTIFICATE section that is no certificate.
    let not_der = "-----BEGIN CERTIFICATE-----\naHVudGVyMiBpcyBub3QgYSBjZXJ0aWZpY2F0ZQ==\n-----END CERTIFICATE-----\n";
    let second_broken = format!("{CA_ONE}{not_der}");
    let bad_base64 = "-----BEGIN CERTIFICATE-----\nhunter2!!!\n-----END CERTIFICATE-----\n";
    let unterminated = "-----BEGIN CERTIFICATE-----\nMIIBojCCAUmgAwIBAgIU\nhunter2\n";
    let key_only = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
    let rows: [(&str, &str, Want); 10] = [
        ("one certificate", CA_ONE, Want::Certificates(1)),
        ("two certificates", &two, Want::Certificates(2)),
        ("text around them", &with_text, Want::Certificates(2)),
        ("empty", "", Want::Error("no PEM certificate")),
        (
            "garbage",
            "hunter2 is not PEM at all",
            Want::Error("no PEM certificate"),
        ),
        ("only a key", key_only, Want::Error("no PEM certificate")),
        ("not DER", not_der, Want::Error("certificate 1 is not")),
        (
            "second not DER",
            &second_broken,
            Want::Error("certificate 2 is not"),
        ),
        (
            "bad base64",
            bad_base64,
            Want::Error("PEM section 1 cannot be decoded"),
        ),
        (
            "no END line",
            unterminated,
            Want::Error("PEM section 1 cannot be decoded"),
        ),
    ];
    for (what, pem, want) in rows {
        let got = CaBundle::from_pem(pem.as_bytes());
        match (want, got) {
            (Want::Certificates(n), Ok(bundle)) => {
                assert_eq!(bundle.certificates().len(), n, "{what}");
            }
            (Want::Error(text), Err(e)) => {
                let e = e.to_string();
                assert!(e.contains(text), "{what}: {e}");
                assert!(!e.contains("hunter2"), "{what}: the file's contents in {e}");
            }
            (Want::Certificates(_), Err(e)) => panic!("{what}: refused: {e}"),
            (Want::Error(text), Ok(b)) => panic!("{what}: accepted ({b:?}), wanted {text:?}"),
        }
    }
}

#[test]
fn files() {
    let dir = std::env::temp_dir().join(format!("appauth-ca-bundle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(text.as_bytes()).expect("write");
        path
    };
    let both = write("both.pem", &format!("{CA_ONE}{CA_TWO}"));
    assert_eq!(
        CaBundle::load(&both).expect("two CAs").certificates().len(),
        2
    );
    let empty = write("empty.pem", "");
    assert!(matches!(
        CaBundle::load(&empty),
        Err(CaBundleError::NoCertificate)
    ));
    let missing = CaBundle::load(&dir.join("missing.pem")).expect_err("missing file");
    assert!(matches!(missing, CaBundleError::Read(_)), "{missing}");
    assert!(missing.to_string().contains("cannot read it"), "{missing}");
    let a_directory = CaBundle::load(&dir).expect_err("a directory");
    assert!(
        matches!(a_directory, CaBundleError::Read(_)),
        "{a_directory}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn debug_shows_only_the_count() {
    let bundle = CaBundle::from_pem(CA_ONE.as_bytes()).expect("one CA");
    assert_eq!(format!("{bundle:?}"), "CaBundle { certificates: 1 }");
}
