//! Test certificates made on the fly: a CA, and leaf certificates it signs
//! (valid, expired, for another host), written as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, date_time_ymd,
};

/// A test CA that signs leaf certificates.
pub(crate) struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// PEM files of one leaf certificate.
pub(crate) struct LeafFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// What a leaf certificate should be like.
pub(crate) enum Leaf {
    /// Valid now for `localhost` and 127.0.0.1, named `cn`.
    Valid(&'static str),
    /// Expired last century.
    Expired,
    /// Valid, but for another host.
    OtherHost,
}

impl TestCa {
    pub(crate) fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "notion-oauth-gateway test CA");
        let key = KeyPair::generate().expect("ca key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("ca cert"),
        }
    }

    /// Writes the CA certificate to `path` (for `extra_ca_file`, or a client's roots).
    pub(crate) fn write_ca(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.issuer.pem()).expect("write ca");
        path.to_path_buf()
    }

    /// The CA certificate in DER, for a client's root store.
    pub(crate) fn der(&self) -> Vec<u8> {
        self.issuer.der().to_vec()
    }

    /// Signs a leaf and writes `<stem>.crt` and `<stem>.key` (owner-only) in `dir`.
    pub(crate) fn leaf(&self, dir: &Path, stem: &str, kind: Leaf) -> LeafFiles {
        let names = match kind {
            Leaf::OtherHost => vec!["other.invalid".to_string()],
            _ => vec!["localhost".to_string(), "127.0.0.1".to_string()],
        };
        let mut params = CertificateParams::new(names).expect("leaf params");
        let cn = match kind {
            Leaf::Valid(cn) => cn,
            Leaf::Expired => "expired",
            Leaf::OtherHost => "other-host",
        };
        params.distinguished_name.push(DnType::CommonName, cn);
        if let Leaf::Expired = kind {
            params.not_before = date_time_ymd(1999, 1, 1);
            params.not_after = date_time_ymd(2000, 1, 1);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        let files = LeafFiles {
            cert: dir.join(format!("{stem}.crt")),
            key: dir.join(format!("{stem}.key")),
        };
        write_private(&files.key, key.serialize_pem().as_bytes());
        std::fs::write(&files.cert, cert.pem()).expect("write cert");
        files
    }
}

/// Writes a file only its owner can read, replacing it by rename as
/// certificate renewers do.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::rename(&tmp, path).expect("rename");
}
