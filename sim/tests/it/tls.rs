//! A private CA and a server certificate for 127.0.0.1 it signed, made with the openssl CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Pki {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

pub fn private_ca(tag: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("hwcloud-sim-pki-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let p = |name: &str| dir.join(name);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=hwcloud-sim test CA",
        ],
        &ec,
        &[
            ("-addext", "basicConstraints=critical,CA:TRUE"),
            ("-keyout", &path(&p("ca.key"))),
            ("-out", &path(&p("ca.crt"))),
        ],
    );
    openssl(
        &["req", "-new", "-subj", "/CN=hwcloud-sim"],
        &ec,
        &[
            ("-keyout", &path(&p("server.key"))),
            ("-out", &path(&p("server.csr"))),
        ],
    );
    std::fs::write(
        p("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    openssl(
        &["x509", "-req", "-days", "2", "-CAcreateserial"],
        &[],
        &[
            ("-in", &path(&p("server.csr"))),
            ("-CA", &path(&p("ca.crt"))),
            ("-CAkey", &path(&p("ca.key"))),
            ("-CAserial", &path(&p("ca.srl"))),
            ("-extfile", &path(&p("server.ext"))),
            ("-out", &path(&p("server.crt"))),
        ],
    );
    Pki {
        ca_cert: p("ca.crt"),
        server_cert: p("server.crt"),
        server_key: p("server.key"),
    }
}

/// A client that trusts only the test CA.
pub fn client(pki: &Pki) -> reqwest::Client {
    let pem = std::fs::read(&pki.ca_cert).expect("CA certificate");
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("PEM"))
        .build()
        .expect("client")
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn openssl(head: &[&str], ec: &[&str], pairs: &[(&str, &str)]) {
    let mut cmd = Command::new("openssl");
    cmd.args(head).args(ec);
    for (flag, value) in pairs {
        cmd.args([flag, value]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?} (the openssl CLI is needed): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
