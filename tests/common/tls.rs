//! A private CA made for one test with the openssl CLI: its certificate (what the operator is
//! told to trust) and a server certificate it signed (what the simulator serves).

use std::path::PathBuf;
use std::process::Command;

pub struct PrivateCa {
    /// The CA's certificate, PEM.
    pub ca_cert: PathBuf,
    /// The server's certificate (signed by the CA) and its key, PEM.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl PrivateCa {
    /// A CA and a server certificate for `localhost`, `127.0.0.1` and `names`, in a scratch
    /// directory named after `tag`. EC P-256, valid for two days.
    pub fn generate(tag: &str, names: &[&str]) -> PrivateCa {
        let dir = std::env::temp_dir().join(format!("appauth-ca-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let ca = PrivateCa {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
        };
        let ca_key = dir.join("ca.key");
        openssl(
            Command::new("openssl")
                .args(["req", "-x509", "-nodes", "-days", "2"])
                .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
                .args(["-subj", &format!("/CN=appauth test CA {tag}")])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .arg("-keyout")
                .arg(&ca_key)
                .arg("-out")
                .arg(&ca.ca_cert),
        );
        let csr = dir.join("server.csr");
        openssl(
            Command::new("openssl")
                .args(["req", "-new", "-nodes", "-subj", "/CN=hwcloud-sim"])
                .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
                .arg("-keyout")
                .arg(&ca.server_key)
                .arg("-out")
                .arg(&csr),
        );
        let mut san = vec!["DNS:localhost".to_string(), "IP:127.0.0.1".to_string()];
        san.extend(names.iter().map(|n| format!("DNS:{n}")));
        let ext = dir.join("server.ext");
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={}\nbasicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
                san.join(",")
            ),
        )
        .expect("extensions file");
        openssl(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
                .arg("-in")
                .arg(&csr)
                .arg("-CA")
                .arg(&ca.ca_cert)
                .arg("-CAkey")
                .arg(&ca_key)
                .arg("-CAserial")
                .arg(dir.join("ca.srl"))
                .arg("-extfile")
                .arg(&ext)
                .arg("-out")
                .arg(&ca.server_cert),
        );
        ca
    }

    /// What the simulator serves HTTPS with.
    pub fn server_tls(&self) -> hwcloud_sim::Tls {
        hwcloud_sim::Tls::from_pem_files(&self.server_cert, &self.server_key)
            .expect("the simulator takes the server certificate")
    }

    /// A client that trusts this CA (and nothing else), for the tests' own requests.
    pub fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.ca_cert).expect("CA certificate");
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("PEM"))
            .build()
            .expect("client")
    }
}

fn openssl(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?} (the openssl CLI is needed): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
