//! PostgreSQL as a real deployment reaches it: over TLS (`sslmode` require
//! and verify-full with a CA file, through rustls), with the pool size and
//! statement timeout of `[store]`, and a start-up error that says what the
//! server refused and never shows the URL's password.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notion_oauth_gateway::config::{DatabaseTls, PostgresConfig};
use notion_oauth_gateway::database::postgres::connect;
use notion_oauth_gateway::secret::Secret;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::certs::{Leaf, TestCa};

/// PostgreSQL's SSLRequest code (protocol 1234.5679).
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A stand-in for a TLS-enabled PostgreSQL in front of the machine's own:
/// it answers the client's SSLRequest, does the TLS handshake with `leaf`
/// (or refuses TLS with `N` when `leaf` is `None`), and passes the
/// decrypted protocol on to 127.0.0.1:5432.
async fn tls_front(leaf: Option<(PathBuf, PathBuf)>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = leaf.map(|(cert, key)| {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
            .expect("cert")
            .map(|c| c.expect("cert"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(&key).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut first = [0u8; 8];
                if client.read_exact(&mut first).await.is_err() || first != SSL_REQUEST {
                    return;
                }
                let Some(acceptor) = acceptor else {
                    let _ = client.write_all(b"N").await;
                    // A client that goes on without TLS is passed through.
                    if let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                    return;
                };
                if client.write_all(b"S").await.is_err() {
                    return;
                }
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
            });
        }
    });
    addr
}

fn postgres(url: String, tls: Option<DatabaseTls>) -> PostgresConfig {
    PostgresConfig {
        url: Secret::new(url),
        schema: crate::support::fresh_schema(),
        pool_size: 3,
        statement_timeout: Duration::from_millis(1500),
        tls,
    }
}

async fn setting(pool: &sqlx::PgPool, name: &str) -> String {
    sqlx::query_scalar(&format!("SHOW {name}"))
        .fetch_one(pool)
        .await
        .expect("show")
}

fn leaf_in(ca: &TestCa, dir: &Path, kind: Leaf) -> (PathBuf, PathBuf) {
    let files = ca.leaf(dir, "db", kind);
    (files.cert, files.key)
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_with_a_ca_file_connects_over_tls_and_applies_the_pool_and_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new();
    let ca_file = ca.write_ca(&dir.path().join("ca.pem"));
    let front = tls_front(Some(leaf_in(&ca, dir.path(), Leaf::Valid("db")))).await;
    let pg = postgres(
        format!("postgres://postgres:pw@localhost:{}/test", front.port()),
        Some(DatabaseTls::VerifyFull {
            ca_file: Some(ca_file),
        }),
    );
    let pool = connect(&pg, pg.pool_size)
        .await
        .expect("verify-full connects");
    // The front passes nothing on before its TLS handshake is done.
    assert_eq!(setting(&pool, "statement_timeout").await, "1500ms");
    assert_eq!(setting(&pool, "search_path").await, pg.schema);
    assert_eq!(pool.options().get_max_connections(), 3);
    let slow = sqlx::query("SELECT pg_sleep(5)").execute(&pool).await;
    let text = slow
        .expect_err("cancelled by the statement timeout")
        .to_string();
    assert!(text.contains("statement timeout"), "{text}");

    let require = postgres(
        format!("postgres://postgres@127.0.0.1:{}/test", front.port()),
        Some(DatabaseTls::Require),
    );
    connect(&require, 2)
        .await
        .expect("require takes any certificate");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_refuses_says_what_and_never_shows_the_password() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new();
    let other_ca = TestCa::new().write_ca(&dir.path().join("other-ca.pem"));
    let front = tls_front(Some(leaf_in(&ca, dir.path(), Leaf::Valid("db")))).await;
    let plain = tls_front(None).await;
    let refuses = |url: String, tls| async move {
        let pg = postgres(url, tls);
        connect(&pg, 2).await.expect_err("refused").to_string()
    };

    let wrong_ca = refuses(
        format!(
            "postgres://postgres:hunter2@localhost:{}/test",
            front.port()
        ),
        Some(DatabaseTls::VerifyFull {
            ca_file: Some(other_ca),
        }),
    )
    .await;
    assert!(
        wrong_ca.starts_with("TLS to PostgreSQL at localhost:"),
        "{wrong_ca}"
    );
    assert!(
        wrong_ca.contains("ssl_root_cert"),
        "says what to check: {wrong_ca}"
    );

    let no_tls = refuses(
        format!(
            "postgres://postgres:hunter2@127.0.0.1:{}/test",
            plain.port()
        ),
        Some(DatabaseTls::Require),
    )
    .await;
    assert!(no_tls.contains("TLS"), "{no_tls}");
    assert!(no_tls.contains("sslmode"), "{no_tls}");

    let missing = refuses(
        "postgres://postgres:hunter2@127.0.0.1:5432/no_such_database_here".into(),
        None,
    )
    .await;
    assert!(
        missing.contains("the database does not exist")
            && missing.contains("no_such_database_here"),
        "{missing}"
    );

    let closed = crate::support::gateway_process::free_port();
    let unreachable = refuses(
        format!(
            "postgres://postgres:hunter2@127.0.0.1:{}/test",
            closed.port()
        ),
        None,
    )
    .await;
    assert!(
        unreachable.starts_with("cannot reach PostgreSQL at 127.0.0.1:"),
        "{unreachable}"
    );

    for text in [&wrong_ca, &no_tls, &missing, &unreachable] {
        assert!(
            !text.contains("hunter2") && !text.contains("postgres://"),
            "{text}"
        );
    }
}

#[test]
fn the_gateway_refuses_to_start_on_a_missing_database_with_a_clear_line() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("gateway.toml");
    let o = crate::support::Options::default()
        .set(
            "store.url",
            "postgres://postgres@127.0.0.1:5432/no_such_database_here",
        )
        .set("store.schema", crate::support::fresh_schema());
    let text = crate::support::config_text(&o, dir.path(), "127.0.0.1:9", "127.0.0.1:9");
    crate::support::gateway_process::write_private(&config, &text);
    let out = std::process::Command::new(crate::support::gateway_process::BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env("TEST_SECRET", "s")
        .env("TEST_APP_KEY", crate::support::config::APP_KEY)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("error: ") && l.contains("the database does not exist")),
        "{stderr}"
    );
}
