//! The `notion-oauth-gateway` binary as a user runs it: `check`, `plugins
//! list`, `serve`, `dev`, `stand-in`, `--help` and `--version`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::process::{Running, dev_demo, dev_demo_with, wait_for_line};
use crate::support::{Browser, repo};

const BIN: &str = env!("CARGO_BIN_EXE_notion-oauth-gateway");

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NOG_TEST_SECRET", "s3cret")
        .env_remove("NOG_CONFIG")
        .output()
        .expect("run binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A folder with a valid config and built plugins; returns its config path.
fn project(extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::plugins_dir_with(
        dir.path(),
        &["default-consumer", "default-view", "echo-view"],
    );
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[notion]\nclient_id = \"abc\"\nclient_secret_env = \"NOG_TEST_SECRET\"\n\
             redirect_uri = \"http://127.0.0.1:8000/auth/notion/redirect\"\n{extra}"
        ),
    )
    .expect("write config");
    (dir, config)
}

#[test]
fn version_and_help_on_every_command() {
    let out = run(&["--version"], &repo());
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("notion-oauth-gateway {}", env!("CARGO_PKG_VERSION"))
    );
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["check", "--help"],
        vec!["plugins", "list", "--help"],
        vec!["dev", "--help"],
        vec!["stand-in", "--help"],
    ] {
        let out = run(&args, &repo());
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn check_accepts_a_good_config_and_loads_its_plugins() {
    let (dir, config) = project("");
    let out = run(
        &["check", "--config", config.to_str().expect("path")],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("plugins.consumer = default-consumer"),
        "{stdout}"
    );
    assert!(stdout.contains("is valid"), "{stdout}");
}

#[test]
fn check_lists_every_problem_with_file_line_and_key() {
    let (dir, config) = project("timeout = 5\n\n[server]\nlisten = \"nowhere\"\n");
    let out = run(&["check", "--config", "gateway.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: gateway.toml:5:1: notion.timeout: unknown field `timeout`"),
        "{stderr}"
    );

    std::fs::write(
        &config,
        "[server]\nlisten = \"nowhere\"\n[notion]\nclient_id = \"\"\nclient_secret_env = \"UNSET_VAR_X\"\nredirect_uri = \"http://example.com/cb\"\n",
    )
    .expect("write");
    let out = run(&["check", "--config", "gateway.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    for expected in [
        "gateway.toml:2:1: server.listen:",
        "gateway.toml:4:1: notion.client_id:",
        "gateway.toml:5:1: notion.client_secret_env: the environment variable UNSET_VAR_X",
        "gateway.toml:6:1: notion.redirect_uri: must be an https URL",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "{expected} missing in {stderr}"
        );
    }
}

#[test]
fn check_catches_plugins_that_are_missing_broken_or_in_the_wrong_role() {
    let (dir, config) = project("[plugins]\nconsumer = \"echo-view\"\nview = \"absent\"\n");
    let out = run(&["check", "--config", "gateway.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("gateway.toml:6:1: plugins.consumer: plugin echo-view: is configured as plugins.consumer but does not export notion:oauth/consumer@0.1.x"), "{stderr}");
    assert!(
        stderr.contains("gateway.toml:7:1: plugins.view: plugin absent: cannot read"),
        "{stderr}"
    );

    std::fs::write(dir.path().join("plugins/garbage.wasm"), b"\0asm not really").expect("write");
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("read")
            .replace("\"absent\"", "\"garbage\"")
            .replace("\"echo-view\"", "\"default-consumer\""),
    )
    .expect("write");
    let out = run(&["check", "--config", "gateway.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("plugins.view: plugin garbage: plugins/garbage.wasm is not a valid WebAssembly component"), "{}", text(&out.stderr));

    // A core module, as a compiler leaves it before `wasm-tools component new`.
    let core = wat::parse_str("(module (func (export \"f\")))").expect("wat");
    std::fs::write(dir.path().join("plugins/core-module.wasm"), core).expect("write");
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("read")
            .replace("\"garbage\"", "\"core-module\""),
    )
    .expect("write");
    let out = run(&["check", "--config", "gateway.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("plugins.view: plugin core-module: plugins/core-module.wasm is a core WebAssembly module, not a component; make it one with `wasm-tools component new plugins/core-module.wasm -o plugins/core-module.wasm`"), "{}", text(&out.stderr));
}

#[test]
fn check_warns_of_an_ungranted_capability_and_refuses_a_missing_required_setting() {
    let (dir, config) =
        project("[plugins]\nconsumer = \"python-example\"\nview = \"python-example\"\n");
    crate::support::plugins_dir_with(dir.path(), &["python-example", "webhook-consumer"]);
    let out = run(&["check", "--config", "gateway.toml"], dir.path());
    assert!(
        out.status.success(),
        "a warning only: {}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("warning: plugins.consumer = python-example: its manifest plugins/python-example.toml asks for key-value storage, which the config does not grant; add `[plugins.grants.python-example] keyvalue = true`"),
        "{stdout}"
    );
    let out = run(&["plugins", "list", "--config", "gateway.toml"], dir.path());
    assert!(
        text(&out.stdout).contains("add `[plugins.grants.python-example] keyvalue = true`"),
        "{}",
        text(&out.stdout)
    );
    // Granted, the warning goes.
    let granted = format!(
        "{}\n[plugins.grants.python-example]\nkeyvalue = true\n",
        std::fs::read_to_string(&config).expect("read")
    );
    std::fs::write(&config, &granted).expect("write");
    let out = run(&["check", "--config", "gateway.toml"], dir.path());
    assert!(
        !text(&out.stdout).contains("warning"),
        "{}",
        text(&out.stdout)
    );

    // The webhook consumer's manifest requires `url` and `signing_secret`.
    std::fs::write(
        &config,
        granted.replace(
            "consumer = \"python-example\"",
            "consumer = \"webhook-consumer\"",
        ),
    )
    .expect("write");
    let out = run(&["check", "--config", "gateway.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("plugins.consumer: plugin webhook-consumer: needs the setting `signing_secret` (the HMAC-SHA256 key shared with your app), which the config does not set")
            && stderr.contains("add `[plugins.settings.webhook-consumer] signing_secret = { env = \"VAR\" }`")
            && stderr.contains("needs the setting `url`"),
        "{stderr}"
    );
}

#[test]
fn plugins_list_shows_each_components_worlds() {
    let (dir, _config) = project("");
    std::fs::write(dir.path().join("plugins/garbage.wasm"), b"nope").expect("write");
    std::fs::copy(
        crate::support::component("faulty"),
        dir.path().join("plugins/faulty.wasm"),
    )
    .expect("copy");
    let out = run(&["plugins", "list", "--config", "gateway.toml"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing: {stdout}"))
            .to_string()
    };
    assert!(
        line("default-consumer").contains(" consumer ")
            && line("default-consumer").contains("[configured consumer]")
    );
    assert!(line("default-view").contains(" view "));
    assert!(line("faulty").contains("consumer+view"));
    assert!(line("garbage").contains("invalid"));
    assert!(!line("garbage").contains("CANNOT SERVE"), "not configured");

    // A configured plugin that cannot load, or is missing, is marked, and
    // the command fails.
    let marked = |stdout: &str, name: &str, what: &str| {
        stdout
            .lines()
            .any(|l| l.starts_with(name) && l.contains(what) && l.contains("CANNOT SERVE"))
    };
    std::fs::write(dir.path().join("plugins/default-view.wasm"), b"nope").expect("write");
    let out = run(&["plugins", "list", "--config", "gateway.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        marked(&stdout, "default-view", "[configured view"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("a configured plugin cannot serve"));
    std::fs::remove_file(dir.path().join("plugins/default-consumer.wasm")).expect("rm");
    let out = run(&["plugins", "list", "--config", "gateway.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(marked(&stdout, "default-consumer", "missing"), "{stdout}");
}

#[test]
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    // One component as both consumer and view.
    let (dir, config) = project(&format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[plugins]\nconsumer = \"faulty\"\nview = \"faulty\"\n"
    ));
    std::fs::copy(
        crate::support::component("faulty"),
        dir.path().join("plugins/faulty.wasm"),
    )
    .expect("copy");
    let child = Command::new(BIN)
        .args(["serve", "--config", config.to_str().expect("path")])
        .current_dir(dir.path())
        .env("NOG_TEST_SECRET", "s3cret")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = format!("http://127.0.0.1:{port}/healthz");
    loop {
        if raw_http::get(&health).is_ok_and(|status| status == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not answer within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = running.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = running.0.try_wait().expect("wait") {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        dir.path().join("data/state.key").is_file(),
        "the state key is created in the data folder"
    );
    let mut log = String::new();
    std::io::Read::read_to_string(&mut running.0.stderr.take().expect("stderr"), &mut log)
        .expect("log");
    let loaded: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("plugin loaded"))
        .collect();
    assert_eq!(loaded.len(), 1, "one line for one component: {log}");
    assert!(loaded[0].contains("consumer+view"), "{}", loaded[0]);
}

/// A tiny blocking GET for the CLI tests (status code only).
mod raw_http {
    pub(crate) fn get(url: &str) -> Result<u16, std::io::Error> {
        use std::io::{Read, Write};
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| std::io::Error::other("http only"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut s = std::net::TcpStream::connect(host)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        buf.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other("no status"))
    }
}

#[tokio::test]
async fn dev_demo_runs_the_whole_flow_against_the_stand_in_on_another_origin() {
    let data = tempfile::tempdir().expect("tempdir");
    let (_running, url) = dev_demo(BIN, data.path());

    let browser = Browser::new(&url);
    let landing = browser
        .get(&format!("{url}/"))
        .await
        .text()
        .await
        .expect("landing");
    assert!(
        landing.contains("Connect Notion") && landing.contains("stand-in"),
        "{landing}"
    );
    let authorize = browser.start("").await;
    assert!(
        authorize.starts_with("http://localhost:"),
        "the stand-in is another origin: {authorize}"
    );
    let back = browser.consent(&authorize, "allow").await;
    let page = browser.get(&back).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("page")
            .contains("Connected to Stand-in Workspace")
    );

    let authorize = browser.start("").await;
    let back = browser.consent(&authorize, "cancel").await;
    assert_eq!(browser.get(&back).await.status(), 403);
    assert_eq!(browser.get(&format!("{url}/terms")).await.status(), 200);
}

#[tokio::test]
async fn dev_gives_the_shipped_examples_what_their_manifests_ask_so_each_completes_a_flow() {
    for example in ["python-example", "js-example"] {
        let data = tempfile::tempdir().expect("tempdir");
        let ((_running, url), printed) = dev_demo_with(
            BIN,
            data.path(),
            &["--consumer", example, "--view", example],
        );
        assert!(
            printed.contains(&format!("granted {example} key-value storage, in the demo's data folder (its manifest plugins/{example}.toml asks)")),
            "{printed}"
        );
        let page = Browser::new(&url).connect("").await;
        assert_eq!(
            page.status(),
            200,
            "{example}: the success page, not 'being completed'"
        );
    }
    // The webhook consumer posts to the demo's own app receiver, which
    // takes it only when its signature checks out: the success page says
    // the consumer's POST was accepted.
    let data = tempfile::tempdir().expect("tempdir");
    let ((_running, url), printed) =
        dev_demo_with(BIN, data.path(), &["--consumer", "webhook-consumer"]);
    for said in [
        "set webhook-consumer's url to the demo's app receiver http://127.0.0.1:",
        "set webhook-consumer's signing_secret to the secret the demo's app receiver checks",
        "granted webhook-consumer HTTP to 127.0.0.1:",
    ] {
        assert!(printed.contains(said), "{said}: {printed}");
    }
    let page = Browser::new(&url).connect("").await;
    assert_eq!(
        page.status(),
        200,
        "webhook-consumer completes a flow in dev"
    );
}

#[test]
fn stand_in_runs_alone_and_says_it_is_not_notion() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(BIN)
        .args([
            "stand-in",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
        ])
        .env("NOG_STAND_IN_CLIENT_SECRET", "x")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut running = Running(child);
    let line = wait_for_line(&mut running.0, "STAND-IN");
    assert!(line.contains("not Notion"), "{line}");
    assert_eq!(
        raw_http::get(&format!("http://127.0.0.1:{port}/")).expect("get"),
        200
    );
}
