//! HTTPS serving: the certificate chain and private key from PEM files,
//! served with rustls (TLS 1.2 and 1.3 only), and reloaded when the files
//! change so a renewed certificate is used without a restart.
//!
//! A reload that fails (a half-written file, a key that does not match the
//! certificate) is refused with a log line and the certificate already loaded
//! keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::certificate::{CertificateFiles, TlsError, load_certified_key, provider};
use crate::config::TlsFiles;
use crate::watch::{Depth, FolderWatch, watch_folders};

/// Hands every handshake the certificate loaded last.
#[derive(Debug)]
struct CurrentCertificate(ArcSwap<CertifiedKey>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// The HTTPS side of the server: an acceptor whose certificate follows the files.
pub struct TlsServer {
    acceptor: TlsAcceptor,
    current: Arc<CurrentCertificate>,
    files: TlsFiles,
    _watch: FolderWatch,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("cert", &self.files.cert)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Loads the files and, inside a tokio runtime, watches them for renewals.
    pub fn start(files: &TlsFiles) -> Result<Self, TlsError> {
        let current = Arc::new(CurrentCertificate(ArcSwap::from_pointee(
            load_certified_key(&pem(files))?,
        )));
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Mismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
                reason: e.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            _watch: watch(&current, files)?,
            current,
            files: files.clone(),
        })
    }

    /// The acceptor that runs handshakes with the current certificate.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Loads the files again; on failure the current certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        reload(&self.current, &self.files)
    }
}

/// Watches the folders of `files` and reloads `current` when either changes.
fn watch(current: &Arc<CurrentCertificate>, files: &TlsFiles) -> Result<FolderWatch, TlsError> {
    let folders: Vec<PathBuf> = [&files.cert, &files.key]
        .iter()
        .map(|p| folder_of(p))
        .collect();
    let names: Vec<PathBuf> = [&files.cert, &files.key]
        .iter()
        .filter_map(|p| p.file_name().map(PathBuf::from))
        .collect();
    let (watched, current) = (files.clone(), current.clone());
    // Any change in the folders counts when it touches one of the two
    // files, or a name that a symlink swap (`..data` in Kubernetes
    // secrets) would use.
    watch_folders(
        &folders,
        Depth::Folder,
        move |path| {
            path.file_name().is_some_and(|n| {
                names.iter().any(|m| m == n) || n.to_string_lossy().starts_with("..")
            })
        },
        move |_changed| {
            let result = reload(&current, &watched);
            async move {
                match result {
                    Ok(()) => {
                        tracing::info!("TLS certificate reloaded; new connections use it")
                    }
                    Err(e) => tracing::error!(
                        "renewed TLS certificate refused, the previous one keeps serving: {e}"
                    ),
                }
            }
        },
    )
    .map_err(|e| TlsError::Watch {
        path: folder_of(&files.cert),
        reason: e.to_string(),
    })
}

fn reload(current: &CurrentCertificate, files: &TlsFiles) -> Result<(), TlsError> {
    let key = load_certified_key(&pem(files))?;
    current.0.store(Arc::new(key));
    Ok(())
}

/// The folder a file lives in (`.` for a bare file name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The PEM files named by the config.
fn pem(files: &TlsFiles) -> CertificateFiles<'_> {
    CertificateFiles {
        cert: &files.cert,
        key: &files.key,
    }
}
