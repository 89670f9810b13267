//! A certificate chain and its private key, read from PEM files and checked
//! to belong together. Both the config's check (`[server] tls_cert`,
//! `tls_key`) and HTTPS serving ([`crate::http`]) use it; it knows neither.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The two PEM files of a certificate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CertificateFiles<'a> {
    /// The certificate chain, leaf first.
    pub(crate) cert: &'a Path,
    /// The private key.
    pub(crate) key: &'a Path,
}

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is unreadable or holds no PEM certificate.
    #[error(
        "cannot use the certificate file {path}: {reason}; give a PEM file with the certificate chain, leaf first"
    )]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The key file is unreadable or holds no PEM private key.
    #[error(
        "cannot use the private key file {path}: {reason}; give a PEM file with one PKCS#8, PKCS#1 or SEC1 private key"
    )]
    Key {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The key is of a kind rustls cannot sign with, or does not belong to the certificate.
    #[error("the private key {key} does not go with the certificate {cert}: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// The folders holding the files cannot be watched for renewals.
    #[error("cannot watch {path} for renewed certificates: {reason}")]
    Watch {
        /// The folder.
        path: PathBuf,
        /// What the watcher said.
        reason: String,
    },
}

impl TlsError {
    /// The config key a problem with this error is reported under.
    pub(crate) fn config_key(&self) -> &'static str {
        match self {
            TlsError::Certificate { .. } | TlsError::Watch { .. } => "server.tls_cert",
            TlsError::Key { .. } | TlsError::Mismatch { .. } => "server.tls_key",
        }
    }
}

/// The crypto rustls uses here (one provider for the whole gateway).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks the certificate chain and key named by `files`.
pub(crate) fn load_certified_key(files: &CertificateFiles<'_>) -> Result<CertifiedKey, TlsError> {
    let cert_error = |reason: String| TlsError::Certificate {
        path: files.cert.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(files.cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("it holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_file(files.key).map_err(|e| TlsError::Key {
        path: files.key.to_path_buf(),
        reason: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Mismatch {
        cert: files.cert.to_path_buf(),
        key: files.key.to_path_buf(),
        reason: e.to_string(),
    })
}
