//! HTTPS: the gateway serving TLS itself (HSTS, secure cookie, certificate
//! reload), and the gateway refusing a Notion it cannot verify (checklist
//! row 8).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::certs::{Leaf, TestCa, write_private};
use crate::support::{Harness, Options};
use notion_oauth_gateway::config::TlsFiles;
use tokio::net::TcpStream;

fn files(leaf: crate::support::certs::LeafFiles) -> TlsFiles {
    TlsFiles {
        cert: leaf.cert,
        key: leaf.key,
    }
}

/// The certificate a strict TLS client (trusting only `ca`) is served at `addr`.
async fn served_certificate(ca: &TestCa, port: u16) -> Result<Vec<u8>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca.der().into())
        .map_err(|e| format!("root: {e}"))?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let certs = tls
        .get_ref()
        .1
        .peer_certificates()
        .ok_or("no certificate")?;
    Ok(certs[0].to_vec())
}

fn pem_der(path: &Path) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_file(path)
        .expect("pem")
        .to_vec()
}

fn port_of(url: &str) -> u16 {
    url::Url::parse(url).expect("url").port().expect("port")
}

#[tokio::test]
async fn https_serving_runs_the_flow_with_hsts_and_a_host_prefixed_secure_cookie() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let h = Harness::start(Options {
        gateway_tls: Some(files(ca.leaf(dir.path(), "gw", Leaf::Valid("gateway")))),
        ..Options::default()
    })
    .await;
    assert!(h.gateway_url.starts_with("https://localhost:"));
    let b = h.browser();
    let start = b.get(&h.url("/auth/notion/start")).await;
    assert_eq!(start.status(), 302);
    assert_eq!(
        start.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let cookie = start.headers()["set-cookie"].to_str().expect("cookie");
    assert!(
        cookie.starts_with("__Host-nog_binding=") && cookie.contains("Secure"),
        "{cookie}"
    );
    let back = b.consent(&crate::support::location(&start), "allow").await;
    let done = b.get(&back).await;
    assert_eq!(done.status(), 200);
    assert!(done.headers().contains_key("strict-transport-security"));
    assert_eq!(h.stand_in.token_requests(), 1);
}

#[tokio::test]
async fn plain_http_on_loopback_sends_no_hsts() {
    let h = Harness::start(Options::default()).await;
    let r = h.browser().get(&h.url("/healthz")).await;
    assert_eq!(r.status(), 200);
    assert!(!r.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let first = ca.leaf(dir.path(), "gw", Leaf::Valid("first"));
    let first_der = pem_der(&first.cert);
    let h = Harness::start(Options {
        gateway_tls: Some(files(first)),
        ..Options::default()
    })
    .await;
    let port = port_of(&h.gateway_url);
    assert_eq!(served_certificate(&ca, port).await, Ok(first_der.clone()));

    // A broken renewal (half-written certificate) is refused; the old one stays.
    write_private(
        &dir.path().join("gw.crt"),
        b"-----BEGIN CERTIFICATE-----\nMIIB",
    );
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(served_certificate(&ca, port).await, Ok(first_der.clone()));

    // A real renewal, written the way renewers do (key and certificate renamed in).
    let renewed = ca.leaf(dir.path(), "next", Leaf::Valid("second"));
    let renewed_der = pem_der(&renewed.cert);
    write_private(
        &dir.path().join("gw.key"),
        &std::fs::read(&renewed.key).expect("key"),
    );
    write_private(
        &dir.path().join("gw.crt"),
        &std::fs::read(&renewed.cert).expect("cert"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let served = served_certificate(&ca, port).await;
        if served.as_ref() == Ok(&renewed_der) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not picked up: {served:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = h.browser().get(&h.url("/healthz")).await;
    assert_eq!(r.status(), 200);
}

/// A gateway whose stand-in serves `leaf` over TLS, trusting `ca` as an extra CA.
async fn notion_behind(ca: &TestCa, dir: &Path, leaf: Leaf) -> Harness {
    let ca_file = ca.write_ca(&dir.join("ca.pem"));
    let other = TestCa::new();
    let issuer = match leaf {
        Leaf::Valid("untrusted") => &other,
        _ => ca,
    };
    Harness::start(
        Options {
            stand_in_tls: Some(files(issuer.leaf(dir, "notion", leaf))),
            ..Options::default()
        }
        .set("notion.extra_ca_file", ca_file.display().to_string()),
    )
    .await
}

#[tokio::test]
async fn row08_tls_to_notion_with_a_trusted_certificate_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = notion_behind(&TestCa::new(), dir.path(), Leaf::Valid("notion")).await;
    assert!(h.stand_in_url.starts_with("https://"));
    let r = h.browser().connect("").await;
    assert_eq!(r.status(), 200);
    assert_eq!(h.stand_in.token_requests(), 1);
}

#[tokio::test]
async fn row08_tls_to_notion_fails_closed_on_untrusted_expired_or_wrong_host_certificates() {
    for (what, leaf) in [
        ("untrusted", Leaf::Valid("untrusted")),
        ("expired", Leaf::Expired),
        ("wrong host", Leaf::OtherHost),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = notion_behind(&TestCa::new(), dir.path(), leaf).await;
        let r = h.browser().connect("").await;
        assert_eq!(r.status(), 502, "{what}");
        let body = r.text().await.expect("body");
        assert!(!body.contains("CANARY_"), "{what}: {body}");
        assert_eq!(
            h.stand_in.token_requests(),
            0,
            "{what}: nothing may reach a Notion the gateway cannot verify"
        );
    }
}

#[tokio::test]
async fn row08_tls_to_notion_refuses_a_tls_1_0_only_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let leaf = ca.leaf(dir.path(), "old", Leaf::Valid("old"));
    let ca_file = ca.write_ca(&dir.path().join("ca.pem"));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let mut server = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-tls1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        ])
        .arg("-accept")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&leaf.cert)
        .arg("-key")
        .arg(&leaf.key)
        .arg("-www")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server (Debian package openssl)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Control: the server is up and speaks TLS 1.0 to a client that asks for it.
    let control = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-tls1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
            "-connect",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    assert!(
        String::from_utf8_lossy(&control.stdout).contains("TLSv1.0"),
        "the control handshake did not speak TLS 1.0"
    );
    let h = Harness::start(
        Options {
            api_base_url: Some(format!("https://localhost:{port}")),
            ..Options::default()
        }
        .set("notion.extra_ca_file", ca_file.display().to_string()),
    )
    .await;
    let r = h.browser().connect("").await;
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(r.status(), 502);
}
