//! HTTPS for the simulator: a certificate chain and its key from PEM files, served with rustls
//! (the ring provider, like the rest of the workspace), so that clients can be tested against
//! a server whose certificate comes from a private CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// What makes the simulator serve HTTPS. Cheap to clone (one shared server configuration).
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

/// Why the certificate or key cannot be served. Messages name the file, never its contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate in it")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no PEM private key in it (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: PathBuf },
    #[error("{path}: a PEM section cannot be decoded")]
    Pem { path: PathBuf },
    #[error("the certificate and key cannot be served: {0}")]
    Config(#[source] rustls::Error),
}

impl Tls {
    /// Loads the certificate chain (leaf first, as servers send it) and the leaf's key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                what,
                path: path.to_path_buf(),
                source,
            })
        };
        let chain = certificates(&read("certificate", cert)?, cert)?;
        let key_der = private_key(&read("key", key)?, key)?;
        Self::new(chain, key_der)
    }

    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        // The provider is named, not taken from the process default: no feature elsewhere in
        // the build can change which one serves.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(TlsError::Config)?;
        // The server speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

fn certificates(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TlsError::Pem {
            path: path.to_path_buf(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn private_key(pem: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    use rustls::pki_types::pem::Error;
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        // The pem error's own text can quote the file: report only where.
        _ => TlsError::Pem {
            path: path.to_path_buf(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_files_are_named_without_their_contents() {
        let p = Path::new("/x/cert.pem");
        let cases: [(&[u8], &str); 3] = [
            (b"", "no PEM certificate"),
            (b"not pem at all: hunter2", "no PEM certificate"),
            (
                b"-----BEGIN CERTIFICATE-----\nhunter2!!\n-----END CERTIFICATE-----\n",
                "cannot be decoded",
            ),
        ];
        for (pem, want) in cases {
            let e = certificates(pem, p).expect_err("refused").to_string();
            assert!(e.contains(want) && e.contains("/x/cert.pem"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let e = private_key(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            p,
        )
        .expect_err("a certificate is no key")
        .to_string();
        assert!(e.contains("no PEM private key"), "{e}");
    }

    #[test]
    fn a_missing_file_names_what_and_where() {
        let e = Tls::from_pem_files(Path::new("/nonexistent/c.pem"), Path::new("/k.pem"))
            .expect_err("missing")
            .to_string();
        assert!(e.contains("certificate /nonexistent/c.pem"), "{e}");
    }
}
