//! Extra CA certificates trusted for cloud endpoints (`--ca-bundle`), for private endpoints
//! and proxies whose certificates no public root signs. They add to the built-in and the
//! platform's roots; they replace nothing.
//!
//! Checked when the operator starts, so that a bad file stops it there and not at the first
//! request. Errors say where and which certificate, never what the file holds: a file mounted
//! by mistake may hold anything.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// One or more CA certificates (DER). `Debug` shows only how many.
#[derive(Clone, PartialEq, Eq)]
pub struct CaBundle {
    certificates: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaBundle")
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    #[error("no PEM certificate (-----BEGIN CERTIFICATE-----) in it")]
    NoCertificate,
    /// The PEM library's own message can quote the offending line, so it is dropped.
    #[error("PEM section {0} cannot be decoded")]
    Pem(usize),
    #[error("certificate {0} is not a usable X.509 CA certificate")]
    Invalid(usize),
}

impl CaBundle {
    /// Reads and checks a PEM file.
    pub fn load(path: &Path) -> Result<Self, CaBundleError> {
        let pem = std::fs::read(path).map_err(CaBundleError::Read)?;
        Self::from_pem(&pem)
    }

    /// Every `CERTIFICATE` section, in order (other sections and text between them are
    /// skipped, as in the usual `ca-certificates.crt`); at least one, each a certificate rustls
    /// accepts as a trust anchor.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CaBundleError> {
        let mut certificates = Vec::new();
        for (n, section) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let der = section.map_err(|_| CaBundleError::Pem(n + 1))?;
            rustls::RootCertStore::empty()
                .add(der.clone())
                .map_err(|_| CaBundleError::Invalid(n + 1))?;
            certificates.push(der);
        }
        if certificates.is_empty() {
            return Err(CaBundleError::NoCertificate);
        }
        Ok(Self { certificates })
    }

    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }
}

#[cfg(test)]
mod tests;
