//! Config parsing and checking: every problem names file, line, key and a fix.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "SECRET" => Some("s3cret".into()),
        "STATE_KEY" => Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
        _ => None,
    }
}

const MINIMAL: &str = r#"
[notion]
client_id = "abc"
client_secret_env = "SECRET"
redirect_uri = "https://gw.example.com/auth/notion/redirect"
"#;

fn problems(src: &str) -> Vec<ConfigProblem> {
    Config::from_toml(src, "gw.toml", &env)
        .expect_err("should fail")
        .problems
}

#[test]
fn minimal_config_gets_documented_defaults() {
    let c = Config::from_toml(MINIMAL, "gw.toml", &env).expect("valid");
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8000");
    assert_eq!(c.server.data_dir, PathBuf::from("data"));
    assert_eq!(c.routes.start, "/auth/notion/start");
    assert_eq!(c.routes.redirect, "/auth/notion/redirect");
    assert_eq!(
        c.notion.token_url().as_str(),
        "https://api.notion.com/v1/oauth/token"
    );
    assert_eq!(
        c.notion.authorize_url.as_str(),
        "https://api.notion.com/v1/oauth/authorize"
    );
    assert_eq!(c.notion.state_mode, StateMode::Signed);
    assert_eq!(c.notion.state_ttl, Duration::from_secs(600));
    assert_eq!(c.notion.client_secret.expose(), "s3cret");
    assert_eq!(c.plugins.consumer, "default-consumer");
    assert_eq!(c.plugins.view, "default-view");
    assert_eq!(c.plugins.path_of("x"), PathBuf::from("plugins/x.wasm"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn unknown_keys_name_the_line_and_the_key() {
    let src = format!("{MINIMAL}\n[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n");
    let p = problems(&src);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].key, "server.listen_port");
    assert_eq!(p[0].position, Some((9, 1)));
    let line = p[0].to_string();
    assert!(
        line.starts_with("gw.toml:9:1: server.listen_port: unknown field `listen_port`"),
        "{line}"
    );
}

#[test]
fn syntax_errors_have_a_position() {
    let p = problems("[notion\nclient_id = 1");
    assert_eq!(p.len(), 1);
    assert!(p[0].position.is_some(), "{}", p[0]);
}

#[test]
fn every_problem_is_reported_at_once_with_its_key() {
    let src = r#"
[server]
listen = "nowhere"

[notion]
client_id = "abc"
client_secret_env = "MISSING_VAR"
redirect_uri = "http://gw.example.com/cb"
api_base_url = "not a url"
state = "sometimes"

[plugins]
consumer = "../evil"
"#;
    let p = problems(src);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    for key in [
        "server.listen",
        "notion.client_secret_env",
        "notion.redirect_uri",
        "notion.api_base_url",
        "notion.state",
        "plugins.consumer",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    let redirect = p
        .iter()
        .find(|p| p.key == "notion.redirect_uri")
        .expect("redirect problem");
    assert_eq!(redirect.position, Some((8, 1)));
    assert!(redirect.message.contains("https"), "{}", redirect.message);
    let secret = p
        .iter()
        .find(|p| p.key == "notion.client_secret_env")
        .expect("secret problem");
    assert!(secret.message.contains("MISSING_VAR"));
}

#[test]
fn row06_row08_http_is_allowed_only_for_loopback_hosts() {
    for host in ["127.0.0.1:9", "localhost:9", "[::1]:9", "127.2.3.4"] {
        let src = MINIMAL.replace("https://gw.example.com", &format!("http://{host}"));
        assert!(Config::from_toml(&src, "gw.toml", &env).is_ok(), "{host}");
    }
    let src = MINIMAL.replace("https://gw.example.com", "http://10.0.0.1");
    assert_eq!(problems(&src)[0].key, "notion.redirect_uri");
}

#[test]
fn inline_secret_is_a_warning_and_two_sources_an_error() {
    let src = MINIMAL.replace(
        "client_secret_env = \"SECRET\"",
        "client_secret = \"inline\"",
    );
    let c = Config::from_toml(&src, "gw.toml", &env).expect("valid");
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(c.warnings[0].key, "notion.client_secret");
    let src = MINIMAL.replace(
        "client_secret_env = \"SECRET\"",
        "client_secret = \"a\"\nclient_secret_env = \"SECRET\"",
    );
    assert!(
        problems(&src)
            .iter()
            .any(|p| p.message.contains("only one"))
    );
}

#[test]
fn secret_in_a_world_readable_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gw.toml");
    let src = MINIMAL.replace(
        "client_secret_env = \"SECRET\"",
        "client_secret = \"inline\"",
    );
    std::fs::write(&path, src).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = Config::load(&path, &env).expect_err("world-readable");
        assert!(err.problems[0].message.contains("chmod"), "{}", err);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    assert!(Config::load(&path, &env).is_ok());
}

#[test]
fn a_secret_plugin_setting_in_a_world_readable_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gw.toml");
    let src = format!(
        "{MINIMAL}\n[plugins.settings.hook]\nurl = \"https://app.example/hook\"\nsigning_secret = \"inline\"\napi_key = {{ env = \"SECRET\" }}\n"
    );
    std::fs::write(&path, src).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = Config::load(&path, &env).expect_err("world-readable");
    let keys: Vec<_> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["plugins.settings.hook.signing_secret"], "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(Config::load(&path, &env).is_ok());
}

#[test]
fn documents_must_exist_and_have_a_known_type() {
    let src = format!(
        "{MINIMAL}\n[documents]\n\"/terms\" = \"no/such/file.md\"\n\"/x\" = \"Cargo.toml\"\n"
    );
    let p = problems(&src);
    assert!(
        p.iter()
            .any(|p| p.key == "documents.\"/terms\"" && p.message.contains("does not exist"))
    );
    assert!(
        p.iter()
            .any(|p| p.key == "documents.\"/x\"" && p.message.contains(".md"))
    );
}

#[test]
fn base_path_prefixes_routes_and_limits_apply_per_plugin() {
    let src = format!(
        "{MINIMAL}\n[server]\nbase_path = \"/oauth/\"\n[plugins]\ndeadline_ms = 500\n[plugins.limits.default-view]\nmemory_limit_mib = 8\n\
         [plugins.settings.default-view]\napp_name = \"Acme\"\nretries = 3\n"
    );
    let c = Config::from_toml(&src, "gw.toml", &env).expect("valid");
    assert_eq!(c.routes.start, "/oauth/auth/notion/start");
    assert_eq!(
        c.plugins.limits_for("default-view").memory_bytes,
        8 * 1024 * 1024
    );
    assert_eq!(
        c.plugins.limits_for("default-view").deadline,
        Duration::from_millis(500)
    );
    assert_eq!(
        c.plugins.limits_for("other").deadline,
        Duration::from_millis(500)
    );
    let settings = c.plugins.settings_for("default-view");
    assert_eq!(settings.get("app_name").map(String::as_str), Some("Acme"));
    assert_eq!(settings.get("retries").map(String::as_str), Some("3"));
}

#[test]
fn state_key_from_env_and_passthrough_mode() {
    let src = MINIMAL.replace(
        "[notion]",
        "[notion]\nstate = \"passthrough\"\nstate_key_env = \"STATE_KEY\"",
    );
    let c = Config::from_toml(&src, "gw.toml", &env).expect("valid");
    assert_eq!(c.notion.state_mode, StateMode::Passthrough);
    assert!(matches!(c.notion.state_key, KeySource::Given(_)));
}

/// A self-signed certificate and its key as PEM files in `dir`, the key owner-only.
fn cert_files(dir: &std::path::Path, stem: &str) -> (String, String) {
    use std::os::unix::fs::PermissionsExt;
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let cert_path = dir.join(format!("{stem}.crt"));
    let key_path = dir.join(format!("{stem}.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    )
}

fn with_server(lines: &str) -> String {
    format!("[server]\n{lines}\n{MINIMAL}")
}

#[test]
fn tls_needs_both_files_a_private_key_and_a_matching_pair() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = cert_files(dir.path(), "a");
    let ok = Config::from_toml(
        &with_server(&format!("tls_cert = {cert:?}\ntls_key = {key:?}")),
        "gw.toml",
        &env,
    )
    .expect("valid TLS files");
    assert_eq!(
        ok.server.tls.map(|t| t.cert.display().to_string()),
        Some(cert.clone())
    );

    let p = problems(&with_server(&format!("tls_cert = {cert:?}")));
    assert!(
        p.iter()
            .any(|p| p.key == "server.tls_cert" && p.message.contains("tls_key"))
    );

    let (_, other_key) = cert_files(dir.path(), "b");
    let p = problems(&with_server(&format!(
        "tls_cert = {cert:?}\ntls_key = {other_key:?}"
    )));
    assert!(
        p.iter()
            .any(|p| p.key == "server.tls_key" && p.message.contains("does not go with")),
        "{p:?}"
    );

    let p = problems(&with_server(&format!(
        "tls_cert = {key:?}\ntls_key = {key:?}"
    )));
    assert!(p.iter().any(|p| p.key == "server.tls_cert"), "{p:?}");

    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let p = problems(&with_server(&format!(
        "tls_cert = {cert:?}\ntls_key = {key:?}"
    )));
    assert!(
        p.iter()
            .any(|p| p.key == "server.tls_key" && p.message.contains("chmod")),
        "{p:?}"
    );
}

#[test]
fn trusted_proxies_and_rate_limits_are_checked() {
    let c = Config::from_toml(
        &with_server(
            "trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]\n[server.rate_limit]\nper_ip_per_minute = 30\nper_ip_burst = 5\nglobal_per_second = 0",
        ),
        "gw.toml",
        &env,
    )
    .expect("valid");
    assert_eq!(c.server.trusted_proxies.len(), 2);
    assert_eq!(c.server.rate_limit.per_ip_burst, 5);
    assert_eq!(c.server.rate_limit.global_per_second, 0);
    let p = problems(&with_server(
        "trusted_proxies = [\"proxy.local\"]\n[server.rate_limit]\nper_ip_burst = 0",
    ));
    assert!(p.iter().any(|p| p.key == "server.trusted_proxies"));
    assert!(p.iter().any(|p| p.key == "server.rate_limit.per_ip_burst"));
}

#[test]
fn row04_state_lifetime_is_at_most_ten_minutes() {
    let p = problems(&format!("{MINIMAL}state_ttl_seconds = 3600\n"));
    assert!(p.iter().any(|p| p.key == "notion.state_ttl_seconds"));
}

#[test]
fn row09_debug_of_the_config_never_shows_secrets_or_setting_values() {
    let src = format!("{MINIMAL}\n[plugins.settings.hook]\nsigning_secret = \"CANARY_SETTING\"\n");
    let c = Config::from_toml(&src, "gw.toml", &env).expect("valid");
    let debug = format!("{c:?}");
    assert!(debug.contains("signing_secret"), "names are shown");
    assert!(!debug.contains("CANARY_SETTING"), "{debug}");
    assert!(!debug.contains("s3cret"), "{debug}");
}

#[test]
fn the_store_defaults_to_sqlite_in_the_data_folder_with_a_generated_key() {
    let c = Config::from_toml(MINIMAL, "gw.toml", &env).expect("valid");
    assert!(
        matches!(&c.store.backend, StoreBackend::Sqlite(p) if p == &PathBuf::from("data/gateway.db"))
    );
    assert!(
        matches!(&c.store.keys, VaultKeySource::Generated(p) if p == &PathBuf::from("data/vault.key"))
    );
    assert!(c.store.keep_tokens);
    assert_eq!(c.store.refresh_after, Some(Duration::from_secs(86_400)));
    assert_eq!(c.store.delivery.max_attempts, 10);
    assert!(
        c.token_api.api_key.is_none(),
        "the token API is off by default"
    );
}

#[test]
fn postgres_urls_are_secret_and_bad_store_settings_are_named() {
    let src =
        format!("{MINIMAL}[store]\nurl = \"postgres://gw:pw@db/gw\"\nschema = \"tenant_1\"\n");
    let c = Config::from_toml(&src, "gw.toml", &env).expect("valid");
    assert!(matches!(&c.store.backend, StoreBackend::Postgres(pg) if pg.schema == "tenant_1"));
    assert!(
        !format!("{c:?}").contains("pw@"),
        "the URL's password never shows"
    );

    let bad = format!(
        "{MINIMAL}[store]\nurl = \"mysql://db\"\nschema = \"Bad-Name\"\nkey_env = \"NOPE\"\nrefresh_after_seconds = 5\ndelivery_max_attempts = 0\n\n[token_api]\nenabled = true\n"
    );
    let keys: Vec<String> = problems(&bad).into_iter().map(|p| p.key).collect();
    for key in [
        "store.url",
        "store.schema",
        "store.key_env",
        "store.refresh_after_seconds",
        "store.delivery_max_attempts",
        "token_api.enabled",
    ] {
        assert!(
            keys.iter().any(|k| k == key),
            "{key} not reported in {keys:?}"
        );
    }
}

#[test]
fn the_token_api_needs_a_long_key_and_kept_tokens() {
    let lookup = |name: &str| match name {
        "SHORT" => Some("short".to_string()),
        "LONG" => Some("x".repeat(40)),
        other => env(other),
    };
    let short = format!("{MINIMAL}[token_api]\nenabled = true\napi_key_env = \"SHORT\"\n");
    assert!(Config::from_toml(&short, "gw.toml", &lookup).is_err());
    let passthrough = format!(
        "{MINIMAL}[store]\nkeep_tokens = false\n[token_api]\nenabled = true\napi_key_env = \"LONG\"\n"
    );
    let err = Config::from_toml(&passthrough, "gw.toml", &lookup).expect_err("needs kept tokens");
    assert!(err.to_string().contains("keep_tokens"), "{err}");
    let good = format!("{MINIMAL}[token_api]\nenabled = true\napi_key_env = \"LONG\"\n");
    let c = Config::from_toml(&good, "gw.toml", &lookup).expect("valid");
    assert!(c.token_api.api_key.is_some());
}

#[test]
fn config_edges_https_is_recognised_in_any_case() {
    let src = MINIMAL.replace("https://gw.example.com", "HTTPS://gw.example.com");
    let c = Config::from_toml(&src, "gw.toml", &env).expect("valid");
    assert!(c.notion.redirect_is_https());
    let c = Config::from_toml(MINIMAL, "gw.toml", &env).expect("valid");
    assert!(c.notion.redirect_is_https());
    let src = MINIMAL.replace("https://gw.example.com", "http://127.0.0.1:8080");
    let c = Config::from_toml(&src, "gw.toml", &env).expect("valid");
    assert!(!c.notion.redirect_is_https());
}

#[test]
fn config_edges_a_state_key_that_is_neither_hex_nor_base64_is_refused_by_check() {
    let lookup = |name: &str| match name {
        "HEX_KEY" => Some("ab".repeat(32)),
        "SHORT_HEX" => Some("ab".repeat(16)),
        other => env(other),
    };
    let with = |var: &str| format!("{MINIMAL}state_key_env = \"{var}\"\n");
    assert!(Config::from_toml(&with("HEX_KEY"), "gw.toml", &lookup).is_ok());
    let err = Config::from_toml(&with("SHORT_HEX"), "gw.toml", &lookup).expect_err("short");
    let text = err.to_string();
    assert!(text.contains("notion.state_key_env"), "{text}");
    assert!(
        text.contains("hex digits only") && text.contains("base64"),
        "{text}"
    );
}

#[test]
fn config_edges_limits_past_what_serve_can_take_are_refused_by_check() {
    let big = format!("{MINIMAL}\n[server]\nmax_connections = 9223372036854775807\n");
    let p = problems(&big);
    assert!(
        p.iter()
            .any(|p| p.key == "server.max_connections" && p.message.contains("1000000")),
        "{p:?}"
    );
    let big = format!("{MINIMAL}\n[plugins]\nmax_concurrent = 10000\n");
    let p = problems(&big);
    assert!(
        p.iter()
            .any(|p| p.key == "plugins.max_concurrent" && p.message.contains("2048")),
        "{p:?}"
    );
    let ok = format!("{MINIMAL}\n[plugins]\nmax_concurrent = 2048\n");
    assert!(Config::from_toml(&ok, "gw.toml", &env).is_ok());
}

#[test]
fn app_data_key_and_unsigned_are_checked() {
    let lookup = |name: &str| match name {
        "APP_KEY" => Some("k".repeat(32)),
        "SHORT_KEY" => Some("k".repeat(31)),
        other => env(other),
    };
    let with = |table: &str| format!("{MINIMAL}\n[app_data]\n{table}\n");
    let c = Config::from_toml(&with(""), "gw.toml", &lookup).expect("valid");
    assert_eq!(
        c.app_data.unsigned,
        UnsignedData::Refuse,
        "refused by default"
    );
    assert!(c.app_data.key.is_none());
    let c = Config::from_toml(
        &with("key_env = \"APP_KEY\"\nunsigned = \"allow\""),
        "gw.toml",
        &lookup,
    )
    .expect("valid");
    assert_eq!(c.app_data.unsigned, UnsignedData::Allow);
    assert!(c.app_data.key.is_some());
    let err =
        Config::from_toml(&with("key_env = \"SHORT_KEY\""), "gw.toml", &lookup).expect_err("short");
    assert!(err.to_string().contains("at least 32 bytes"), "{err}");
    let err = Config::from_toml(&with("unsigned = \"maybe\""), "gw.toml", &lookup)
        .expect_err("no such choice");
    assert!(err.to_string().contains("app_data.unsigned"), "{err}");
    let err =
        Config::from_toml(&with("key_env = \"UNSET\""), "gw.toml", &lookup).expect_err("unset");
    assert!(err.to_string().contains("UNSET"), "{err}");
}

#[test]
fn postgres_deployment_settings_are_checked_and_named() {
    let ok = format!(
        "{MINIMAL}[store]\nurl = \"postgres://gw@db/gw\"\npool_size = 20\nstatement_timeout_ms = 2500\nsslmode = \"require\"\n"
    );
    let c = Config::from_toml(&ok, "gw.toml", &env).expect("valid");
    let StoreBackend::Postgres(pg) = &c.store.backend else {
        panic!("postgres");
    };
    assert_eq!(pg.pool_size, 20);
    assert_eq!(pg.statement_timeout, Duration::from_millis(2500));
    assert_eq!(pg.tls, Some(DatabaseTls::Require));

    let defaults = format!("{MINIMAL}[store]\nurl = \"postgres://gw@db/gw\"\n");
    let c = Config::from_toml(&defaults, "gw.toml", &env).expect("valid");
    let StoreBackend::Postgres(pg) = &c.store.backend else {
        panic!("postgres");
    };
    assert_eq!(
        (pg.pool_size, pg.tls.clone()),
        (8, None),
        "the URL decides TLS"
    );
    assert_eq!(pg.statement_timeout, Duration::from_secs(10));

    let bad = format!(
        "{MINIMAL}[store]\nurl = \"postgres://gw@db/gw\"\npool_size = 1\nstatement_timeout_ms = 0\nsslmode = \"always\"\nssl_root_cert = \"/nonexistent/ca.pem\"\n"
    );
    let found = problems(&bad);
    for key in [
        "store.pool_size",
        "store.statement_timeout_ms",
        "store.sslmode",
        "store.ssl_root_cert",
    ] {
        assert!(found.iter().any(|p| p.key == key), "{key}: {found:?}");
    }
    let on_sqlite = format!("{MINIMAL}[store]\npool_size = 4\nsslmode = \"require\"\n");
    let found = problems(&on_sqlite);
    assert!(
        found
            .iter()
            .any(|p| p.key == "store.sslmode" && p.message.contains("PostgreSQL only")),
        "{found:?}"
    );
}

#[test]
fn drain_and_log_format_are_checked_and_the_environment_wins_for_the_format() {
    let c = Config::from_toml(MINIMAL, "gw.toml", &env).expect("valid");
    assert_eq!(c.server.drain, Duration::from_secs(5));
    assert_eq!(c.log.format, LogFormat::Text);

    let src = format!("{MINIMAL}[log]\nformat = \"json\"\n");
    let c = Config::from_toml(&src, "gw.toml", &env).expect("valid");
    assert_eq!(c.log.format, LogFormat::Json);
    let text_env = |name: &str| match name {
        LOG_FORMAT_ENV => Some("text".to_string()),
        other => env(other),
    };
    let c = Config::from_toml(&src, "gw.toml", &text_env).expect("valid");
    assert_eq!(c.log.format, LogFormat::Text, "NOG_LOG_FORMAT wins");

    let xml_env = |name: &str| match name {
        LOG_FORMAT_ENV => Some("xml".to_string()),
        other => env(other),
    };
    let found = Config::from_toml(MINIMAL, "gw.toml", &xml_env)
        .expect_err("xml")
        .problems;
    assert!(
        found
            .iter()
            .any(|p| p.key == "log.format" && p.message.contains("NOG_LOG_FORMAT")),
        "{found:?}"
    );
    let src = format!("[server]\ndrain_seconds = 301\n\n[log]\nformat = \"yaml\"\n{MINIMAL}");
    let keys: Vec<String> = problems(&src).into_iter().map(|p| p.key).collect();
    assert!(
        keys.contains(&"server.drain_seconds".to_string()),
        "{keys:?}"
    );
    assert!(keys.contains(&"log.format".to_string()), "{keys:?}");
}
