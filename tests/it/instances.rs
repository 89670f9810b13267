//! Several instances and the operations around them: the probes, draining
//! on SIGTERM, JSON logs, and what a flow needs shared through PostgreSQL
//! (result pages, plugin key-value data) so its requests may land on any
//! instance.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::StatusCode;
use notion_oauth_gateway::config::{PostgresConfig, StoreBackend};
use notion_oauth_gateway::database::Database;
use notion_oauth_gateway::database::keyvalue::{Bucket, KeyValueError};
use notion_oauth_gateway::secret::Secret;
use notion_oauth_gateway::standin::{Fault, StandIn};

use crate::support::gateway_process::{Process, SECRET, Setup, stand_in_for};
use crate::support::offline::Offline;
use crate::support::tcp_proxy::Proxy;
use crate::support::{Browser, Options, POSTGRES_URL, Store};

#[tokio::test]
async fn the_probes_answer_and_draining_turns_readyz_503_at_once() {
    for store in Store::BOTH {
        let gw = Offline::start(Options::default().on(store)).await;
        let ready = gw.get("/readyz").await;
        assert_eq!(ready.status, StatusCode::OK, "{store:?}: {}", ready.text());
        assert_eq!(ready.text(), "ready\n");
        assert_eq!(gw.get("/livez").await.status, StatusCode::OK);
        assert_eq!(gw.get("/healthz").await.text(), "ok\n", "unchanged");
        assert_eq!(ready.header("connection"), "", "keep-alive while serving");

        gw.gateway().drain();
        let draining = gw.get("/readyz").await;
        assert_eq!(
            draining.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{store:?}"
        );
        assert_eq!(draining.text(), "draining: this instance is stopping\n");
        let live = gw.get("/livez").await;
        assert_eq!(live.status, StatusCode::OK, "still alive while draining");
        assert_eq!(
            live.header("connection"),
            "close",
            "kept-alive clients are moved off"
        );
        let start = gw.get("/auth/notion/start").await;
        assert_eq!(start.status, StatusCode::FOUND, "still serving the flow");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_503_naming_the_store_while_postgres_is_away() {
    let proxy = Proxy::start("127.0.0.1:5432".parse().expect("pg")).await;
    let o = Options::default()
        .set(
            "store.url",
            format!("postgres://postgres:pw@{}/test", proxy.addr),
        )
        .set("store.schema", crate::support::fresh_schema());
    let gw = Offline::start(o).await;
    assert_eq!(gw.get("/readyz").await.status, StatusCode::OK);
    proxy.set_down(true);
    // The proxy cuts its open connections within 20 ms.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let away = gw.get("/readyz").await;
    assert_eq!(away.status, StatusCode::SERVICE_UNAVAILABLE);
    let reason = away.text();
    assert!(reason.starts_with("store: "), "{reason}");
    assert_eq!(reason.lines().count(), 1, "one line: {reason}");
    assert!(
        !reason.contains("pw") && !reason.contains("postgres://"),
        "{reason}"
    );
    proxy.set_down(false);
    let start = Instant::now();
    while gw.get("/readyz").await.status != StatusCode::OK {
        assert!(start.elapsed() < Duration::from_secs(20), "ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET url` on a fresh connection; its status (0 when refused or cut).
async fn status_of(url: &str) -> u16 {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    client
        .get(url)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// The browser's part of one flow at `setup` with the callback sent in the
/// background; its answer's status (0 when the connection was cut).
async fn callback_in_background(
    stand_in: &StandIn,
    setup: &Setup,
) -> tokio::task::JoinHandle<(u16, String)> {
    let browser = Browser::new(&format!("http://{}", setup.addr));
    let authorize = browser.start("").await;
    let state = crate::support::param(&authorize, "state");
    let back = stand_in
        .approve(&setup.redirect_uri(), state.as_deref())
        .expect("approve");
    tokio::spawn(async move {
        match browser.client.get(&back).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_slow_callback_drains_finishes_it_and_exits_0() {
    let o = Options {
        client_secret: SECRET.into(),
        ..Options::default()
    }
    .set("server.drain_seconds", 2)
    // The page is answered in place: this instance stops accepting before
    // a clean URL could be fetched from it.
    .set("server.clean_callback_url", false);
    let (setup, stand_in) = Setup::with_stand_in(&o).await;
    let mut gateway = Process::start(&setup, None);
    let ready = format!("http://{}/readyz", setup.addr);
    assert_eq!(status_of(&ready).await, 200);
    stand_in.push_fault(Fault::Delay(Duration::from_millis(3500)));
    let callback = callback_in_background(&stand_in, &setup).await;
    let start = Instant::now();
    while stand_in.token_requests() == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "no exchange");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.sigterm();
    let signalled = Instant::now();
    // Within the drain: still serving, and not ready.
    let mut seen_503 = false;
    while signalled.elapsed() < Duration::from_millis(1500) {
        match status_of(&ready).await {
            503 => seen_503 = true,
            200 => panic!("/readyz answered 200 after SIGTERM"),
            other => panic!("not serving during the drain: {other}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen_503, "/readyz turned 503 at once");
    let (status, page) = callback.await.expect("callback task");
    assert_eq!(
        status,
        200,
        "the callback in flight completed:\n{page}\n{}",
        gateway.log()
    );
    let exited = gateway.terminate(Duration::from_secs(20));
    let log = gateway.log();
    assert_eq!(exited.and_then(|s| s.code()), Some(0), "{log}");
    assert!(log.contains("draining"), "{log}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "served on for drain_seconds"
    );
    assert_eq!(status_of(&ready).await, 0, "gone once stopped");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigterm_exits_at_once() {
    let o = Options {
        client_secret: SECRET.into(),
        ..Options::default()
    }
    .set("server.drain_seconds", 60);
    let (setup, _stand_in) = Setup::with_stand_in(&o).await;
    let mut gateway = Process::start(&setup, None);
    gateway.sigterm();
    gateway.wait_for("draining");
    let started = Instant::now();
    let exited = gateway.terminate(Duration::from_secs(10));
    assert!(exited.is_some(), "{}", gateway.log());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not the 60 s drain"
    );
    assert!(
        gateway.log().contains("stopped at once"),
        "{}",
        gateway.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line_with_the_fields_and_no_secret() {
    let o = Options {
        client_secret: SECRET.into(),
        ..Options::default()
    }
    .set("log.format", "json");
    let (setup, stand_in) = Setup::with_stand_in(&o).await;
    let gateway = Process::start(&setup, None);
    let callback = callback_in_background(&stand_in, &setup).await;
    let (status, _) = callback.await.expect("callback");
    assert_eq!(status, 303, "to the clean URL: {}", gateway.log());
    // The callback's access line is the flow's last; the log is read from
    // the process's stderr as it comes, so it may trail the response.
    gateway.wait_for(r#""route":"callback""#);
    let log = gateway.log();
    let code = stand_in
        .recorded_requests()
        .iter()
        .find_map(|r| {
            url::form_urlencoded::parse(&r.body)
                .chain(
                    serde_json::from_slice::<serde_json::Value>(&r.body)
                        .ok()
                        .and_then(|v| v["code"].as_str().map(str::to_string))
                        .map(|c| {
                            (
                                std::borrow::Cow::Borrowed("code"),
                                std::borrow::Cow::Owned(c),
                            )
                        }),
                )
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        })
        .expect("the code Notion was sent");
    let mut callback_line = None;
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(v.get(key).is_some(), "no {key}: {line}");
        }
        for secret in [SECRET, code.as_str(), "CANARY_"] {
            assert!(!line.contains(secret), "a secret in the log: {line}");
        }
        if v["route"] == "callback" {
            callback_line = Some(v);
        }
    }
    let access = callback_line.expect("an access line for the callback");
    assert_eq!(access["target"], "access");
    assert_eq!(access["status"], 303);
    assert_eq!(access["message"], "answered");
    assert!(
        access["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 16)
    );
    assert!(access["ms"].as_u64().is_some());
    assert_eq!(access["path"], "/auth/notion/redirect");
    assert!(
        log.lines().any(|l| l.contains("\"bot_id\":")),
        "a line names the bot:\n{log}"
    );
}

/// Instances that share one PostgreSQL schema and the keys, each with a
/// port, a folder and a process of its own, and the stand-in they share.
/// Every instance's redirect URI is the first's, as behind one public
/// address.
pub(crate) struct Cluster {
    pub(crate) setups: Vec<Setup>,
    pub(crate) stand_in: std::sync::Arc<StandIn>,
    pub(crate) redirect_uri: String,
    pub(crate) schema: String,
    _keys: tempfile::TempDir,
}

impl Cluster {
    /// `n` instances configured from `o` (the webhook consumer's settings,
    /// say), with `public` as the address the browser and Notion use.
    pub(crate) async fn new(n: usize, o: Options, public: Option<String>) -> Self {
        let keys = tempfile::tempdir().expect("keys");
        let vault_key = keys.path().join("vault.key");
        notion_oauth_gateway::vault::keys::add_key_to_file(&vault_key).expect("vault key");
        let state_key = keys.path().join("state.key");
        crate::support::gateway_process::write_private(
            &state_key,
            &hex::encode(rand::random::<[u8; 32]>()),
        );
        let schema = crate::support::fresh_schema();
        let setups: Vec<Setup> = (0..n).map(|_| Setup::new()).collect();
        let redirect_uri = match public {
            Some(origin) => format!("{origin}/auth/notion/redirect"),
            None => setups[0].redirect_uri(),
        };
        let (stand_in, si) = stand_in_for(vec![redirect_uri.clone()]).await;
        let mut o = o
            .set("store.url", POSTGRES_URL)
            .set("store.schema", schema.clone())
            .set("store.key_file", vault_key.display().to_string())
            .set("notion.state_key_file", state_key.display().to_string())
            .set("notion.redirect_uri", redirect_uri.clone());
        o.client_secret = SECRET.into();
        for setup in &setups {
            setup.write(&o, si);
        }
        Self {
            setups,
            stand_in,
            redirect_uri,
            schema,
            _keys: keys,
        }
    }
}

/// `url` with its origin replaced by `addr`'s.
fn at(url: &str, addr: SocketAddr) -> String {
    let mut u = url::Url::parse(url).expect("url");
    u.set_port(Some(addr.port())).expect("port");
    u.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_whose_start_callback_and_page_land_on_three_instances_works() {
    let cluster = Cluster::new(3, Options::default(), None).await;
    let processes: Vec<Process> = cluster
        .setups
        .iter()
        .map(|s| Process::start(s, None))
        .collect();
    let [a, b, c] = [0, 1, 2].map(|i| cluster.setups[i].addr);
    let browser = Browser::new(&format!("http://{a}"));
    let authorize = browser.start("").await;
    let state = crate::support::param(&authorize, "state");
    let back = cluster
        .stand_in
        .approve(&cluster.redirect_uri, state.as_deref())
        .expect("approve");
    let r = browser.get_once(&at(&back, b)).await;
    assert_eq!(r.status(), 303, "the clean URL, on PostgreSQL too");
    let page = crate::support::result_location(&r).expect("result page");
    let fetch = |addr: SocketAddr| format!("http://{addr}{page}");
    let other = Browser::new(&format!("http://{c}"));
    let stranger = other.get_once(&fetch(c)).await;
    let stranger_text = stranger.text().await.expect("text");
    assert!(
        !stranger_text.contains("Stand-in Workspace"),
        "another browser sees nothing: {stranger_text}"
    );
    let shown = browser.get_once(&fetch(c)).await;
    assert_eq!(shown.status(), 200);
    let text = shown.text().await.expect("text");
    assert!(
        text.contains("Stand-in Workspace"),
        "the success page, kept at B and shown at C:\n{text}\n{}",
        processes[1].log()
    );
    let again = browser
        .get_once(&fetch(a))
        .await
        .text()
        .await
        .expect("text");
    assert!(!again.contains("Stand-in Workspace"), "once: {again}");

    // Sealed at rest: the page's words are not in the table.
    let pool = sqlx::PgPool::connect(POSTGRES_URL).await.expect("pg");
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as(&format!(
        "SELECT page FROM \"{}\".vault_result_page",
        cluster.schema
    ))
    .fetch_all(&pool)
    .await
    .expect("pages");
    for (sealed,) in rows {
        assert!(!String::from_utf8_lossy(&sealed).contains("Stand-in"));
    }
}

fn postgres_backend(schema: &str) -> StoreBackend {
    StoreBackend::Postgres(PostgresConfig {
        url: Secret::new(POSTGRES_URL),
        schema: schema.to_string(),
        pool_size: 4,
        statement_timeout: Duration::from_secs(10),
        tls: None,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_keyvalue_data_on_postgres_is_one_namespace_per_plugin_for_every_instance() {
    let schema = crate::support::fresh_schema();
    let backend = postgres_backend(&schema);
    let unused = std::path::Path::new("/nonexistent");
    let one = Database::open_for(&backend, unused)
        .await
        .expect("instance 1");
    let two = Database::open_for(&backend, unused)
        .await
        .expect("instance 2");
    let bucket = |db: &Database, plugin: &str| {
        Bucket::open(db.clone(), plugin, "main", 16, 3).expect("bucket")
    };
    let (a1, a2, b2) = (bucket(&one, "a"), bucket(&two, "a"), bucket(&two, "b"));
    a1.set("k", b"one").await.expect("set at 1");
    assert_eq!(a2.get("k").await.expect("get at 2"), Some(b"one".to_vec()));
    assert_eq!(
        b2.get("k").await.expect("get"),
        None,
        "another plugin's namespace"
    );
    assert!(matches!(
        a2.set("big", &[0u8; 17]).await,
        Err(KeyValueError::TooLarge { size: 17, max: 16 })
    ));

    // Counters from both instances at once: no increment is lost.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let b = if i % 2 == 0 { a1.clone() } else { a2.clone() };
        tasks.push(tokio::spawn(async move { b.increment("n", 1).await }));
    }
    for t in tasks {
        t.await.expect("task").expect("increment");
    }
    assert_eq!(a1.get("n").await.expect("get"), Some(b"40".to_vec()));

    // The key cap is the plugin's across instances, even when racing.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let b = if i % 2 == 0 { a1.clone() } else { a2.clone() };
        tasks.push(tokio::spawn(
            async move { b.set(&format!("x{i}"), b"v").await },
        ));
    }
    let mut full = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(()) => {}
            Err(KeyValueError::Full { max: 3 }) => full += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(full, 9, "k and n hold two of three keys: one more fits");
    let (keys, _) = a2.list_keys(0).await.expect("list");
    assert_eq!(keys.len(), 3, "{keys:?}");
    a2.delete("k").await.expect("delete");
    assert!(!a1.exists("k").await.expect("exists"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_probe_command_exits_0_only_on_a_2xx_answer() {
    let o = Options {
        client_secret: SECRET.into(),
        ..Options::default()
    }
    .set("server.drain_seconds", 30);
    let (setup, _stand_in) = Setup::with_stand_in(&o).await;
    let gateway = Process::start(&setup, None);
    let probe = |url: String| {
        let out = std::process::Command::new(crate::support::gateway_process::BIN)
            .args(["probe", &url])
            .output()
            .expect("probe");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    let ready = format!("http://{}/readyz", setup.addr);
    assert_eq!(probe(ready.clone()), (Some(0), "200 ready".to_string()));
    gateway.sigterm();
    gateway.wait_for("draining");
    assert_eq!(
        probe(ready),
        (
            Some(1),
            "503 draining: this instance is stopping".to_string()
        )
    );
    let closed = crate::support::gateway_process::free_port();
    let (code, said) = probe(format!("http://{closed}/readyz"));
    assert_eq!(code, Some(1));
    assert!(said.starts_with("unreachable: "), "{said}");
}
