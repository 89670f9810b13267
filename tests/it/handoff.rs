//! The hand-off across processes: the gateway killed (SIGKILL) at each stage
//! of a token's way from Notion to the consumer and started again; a
//! consumer webhook that is down and comes back; a PostgreSQL that goes away
//! while a token arrives; two gateway processes refreshing one token on one
//! PostgreSQL. Each asserts zero tokens lost and zero duplicates.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::process::Running;
use crate::support::receiver::Receiver;
use crate::support::{API_KEY, Browser, Options, Store};
use notion_oauth_gateway::secret::ClientSecret;
use notion_oauth_gateway::standin::{self, Fault, StandIn, StandInConfig};

const BIN: &str = env!("CARGO_BIN_EXE_notion-oauth-gateway");
const SECRET: &str = "handoff-secret";

/// A free loopback port (bound, then let go).
fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// Writes a config owner-only (it names plugin secrets inline).
fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("config");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// One gateway setup on disk: its port, and its config, data and plugins
/// in a folder of its own.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    addr: SocketAddr,
}

impl Setup {
    /// A port and a folder; the config is written by [`Setup::write`].
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self {
            config: dir.path().join("gateway.toml"),
            dir,
            addr: free_port(),
        }
    }

    /// Writes the config for `o`, with Notion at `stand_in`.
    fn write(&self, o: &Options, stand_in: SocketAddr) {
        let text = crate::support::config_text(
            o,
            self.dir.path(),
            &self.addr.to_string(),
            &stand_in.to_string(),
        );
        write_private(&self.config, &text);
    }

    /// A setup for `o` with a stand-in of its own.
    async fn with_stand_in(o: &Options) -> (Self, Arc<StandIn>) {
        let setup = Self::new();
        let (stand_in, addr) = stand_in_for(vec![setup.redirect_uri()]).await;
        setup.write(o, addr);
        (setup, stand_in)
    }

    fn redirect_uri(&self) -> String {
        format!("http://{}/auth/notion/redirect", self.addr)
    }
}

/// A gateway process whose log lines (stderr) can be waited for.
struct Process {
    _child: Running,
    lines: Arc<Mutex<Vec<String>>>,
    pid: u32,
}

impl Process {
    fn start(setup: &Setup, failpoints: Option<&str>) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--config"])
            .arg(&setup.config)
            .env("TEST_SECRET", SECRET)
            .env("TEST_API_KEY", API_KEY)
            .env("TEST_APP_KEY", crate::support::config::APP_KEY)
            .env("NOG_LOG", "info,notion_oauth_gateway::delivery=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match failpoints {
            Some(f) => cmd.env("FAILPOINTS", f),
            None => cmd.env_remove("FAILPOINTS"),
        };
        let mut child = cmd.spawn().expect("spawn gateway");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        let pid = child.id();
        let p = Self {
            _child: Running(child),
            lines,
            pid,
        };
        p.wait_for("serving");
        p
    }

    fn wait_for(&self, marker: &str) {
        let start = Instant::now();
        loop {
            if self
                .lines
                .lock()
                .expect("lines")
                .iter()
                .any(|l| l.contains(marker))
            {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no log line with {marker:?}; got:\n{}",
                self.lines.lock().expect("lines").join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// SIGTERM, then waits up to `limit` for the process to exit; its exit
    /// status, or `None` if it is still running.
    fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self._child.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGKILL: no destructor, no flush, no goodbye.
    fn kill(self) {
        let _ = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status();
        drop(self);
    }
}

async fn stand_in_for(redirect_uris: Vec<String>) -> (Arc<StandIn>, SocketAddr) {
    standin::spawn(
        StandInConfig {
            client_id: "test-client".into(),
            client_secret: ClientSecret::new(SECRET),
            redirect_uris,
            canaries: true,
            any_code: false,
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("stand-in")
}

/// `tokens list` of a config, as text.
fn tokens_list(config: &Path) -> String {
    cli(config, &["tokens", "list"])
}

fn webhook_options(receiver: SocketAddr, store: Store) -> Options {
    let mut o = Options::with_plugins("webhook-consumer", "default-view")
        .set(
            "plugins.grants.webhook-consumer.http_hosts",
            vec![receiver.to_string()],
        )
        .set(
            "plugins.settings.webhook-consumer.url",
            format!("http://{receiver}/hook"),
        )
        .set(
            "plugins.settings.webhook-consumer.signing_secret",
            "whsec_x",
        )
        .set("notion.timeout_ms", 1000)
        .on(store)
        .set("store.lease_seconds", 1)
        .set("store.delivery_initial_backoff_ms", 100)
        .set("store.delivery_max_backoff_ms", 400);
    o.client_secret = SECRET.into();
    o
}

/// The distinct idempotency keys a receiver saw, and how many requests.
fn keys_seen(r: &Receiver) -> (usize, usize) {
    let got = r.requests();
    let mut keys: Vec<String> = got
        .iter()
        .filter_map(|q| q.header("idempotency-key").map(str::to_string))
        .collect();
    let total = keys.len();
    keys.sort();
    keys.dedup();
    (keys.len(), total)
}

/// Waits until `receiver` got the token and the outbox says delivered.
async fn wait_delivered(receiver: &Receiver, setup: &Setup, p: &Process, what: &str) {
    let start = Instant::now();
    while keys_seen(receiver).0 == 0
        || !tokens_list(&setup.config).contains("deliveries: delivered 1")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: not delivered:\n{}",
            p.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the browser's part of one flow against `setup` in the background
/// (its callback may hang at a failpoint).
async fn run_flow(stand_in: &StandIn, setup: &Setup) -> tokio::task::JoinHandle<u16> {
    let browser = Browser::new(&format!("http://{}", setup.addr));
    let authorize = browser.start("").await;
    let state = url::Url::parse(&authorize)
        .expect("authorize url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned());
    let back = stand_in
        .approve(&setup.redirect_uri(), state.as_deref())
        .expect("approve");
    // A killed gateway drops the connection: that is an answer of 0 here.
    tokio::spawn(async move {
        let Ok(r) = browser.client.get(&back).send().await else {
            return 0;
        };
        match crate::support::result_location(&r) {
            Some(page) => browser
                .client
                .get(format!("{}{page}", browser.gateway_url))
                .send()
                .await
                .map_or(0, |r| r.status().as_u16()),
            None => r.status().as_u16(),
        }
    })
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_at_each_stage_of_the_hand_off_loses_no_token_silently() {
    let stages = [
        ("after_token_response", "Notion issued a token"),
        ("after_outbox_commit", "token committed to the outbox"),
        ("in_consumer_call", "delivering to the consumer"),
        ("after_consumer_before_ack", "the consumer answered"),
    ];
    let mut report = Vec::new();
    for (stage, marker) in stages {
        let receiver = Receiver::start(200, Duration::ZERO).await;
        let o = webhook_options(receiver.addr, Store::Sqlite);
        let (setup, stand_in) = Setup::with_stand_in(&o).await;

        let first = Process::start(&setup, Some(&format!("{stage}=pause")));
        let _browser = run_flow(&stand_in, &setup).await;
        first.wait_for(marker);
        first.kill();

        if stage == "after_token_response" {
            // The token never reached the outbox: the one window where it
            // can be lost. It must be counted, never silent.
            tokio::time::sleep(Duration::from_millis(3_500)).await;
            let second = Process::start(&setup, None);
            second.wait_for("TOKEN POSSIBLY LOST");
            let list = tokens_list(&setup.config);
            assert!(list.contains("exchanges: lost 1"), "{stage}: {list}");
            assert!(list.contains("deliveries: none"), "{stage}: {list}");
            report.push(format!("{stage}: counted as possibly lost (1)"));
            continue;
        }
        let second = Process::start(&setup, None);
        wait_delivered(&receiver, &setup, &second, stage).await;
        let (distinct, total) = keys_seen(&receiver);
        assert_eq!(distinct, 1, "{stage}: one token, one idempotency key");
        let list = tokens_list(&setup.config);
        assert!(list.contains("1 connection(s)"), "{stage}: {list}");
        assert!(list.contains("exchanges: committed 1"), "{stage}: {list}");
        report.push(format!(
            "{stage}: delivered after restart ({total} request(s), 1 key)"
        ));
    }
    println!("{}", report.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_that_is_down_then_back_gets_the_token_once() {
    let down = free_port();
    let o = webhook_options(down, Store::Sqlite);
    let h = crate::support::Harness::start(o).await;
    let r = h.browser().connect("").await;
    assert_eq!(r.status(), 202, "received, not yet delivered");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let receiver = Receiver::start_at(down, 200, Duration::ZERO).await;
    let vault = h.gateway.vault().clone();
    let start = Instant::now();
    while vault.store().outbox_counts().await.expect("o") != vec![("delivered".to_string(), 1)] {
        assert!(start.elapsed() < Duration::from_secs(20), "not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        keys_seen(&receiver),
        (1, 1),
        "delivered once the webhook is back"
    );
    let d = vault.store().deliveries(5).await.expect("d");
    assert!(d[0].attempts >= 2, "{d:?}");
}

/// A TCP proxy to PostgreSQL that a test can take down (every connection
/// cut, new ones refused) and bring back.
struct Proxy {
    addr: SocketAddr,
    down: Arc<std::sync::atomic::AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (d, g) = (down.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    continue;
                }
                let born = g.load(Ordering::SeqCst);
                let g = g.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                    let cut = async {
                        while g.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        _ = copy => {}
                        () = cut => {}
                    }
                });
            }
        });
        Self {
            addr,
            down,
            generation,
        }
    }

    fn set_down(&self, down: bool) {
        use std::sync::atomic::Ordering;
        self.down.store(down, Ordering::SeqCst);
        if down {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_going_away_while_a_token_arrives_loses_nothing() {
    let proxy = Proxy::start("127.0.0.1:5432".parse().expect("pg")).await;
    let o = Options::default()
        .set(
            "store.url",
            format!("postgres://postgres@{}/test", proxy.addr),
        )
        .set("store.schema", crate::support::fresh_schema());
    let h = crate::support::Harness::start(o).await;
    // Notion answers slowly; the database goes away while it does.
    h.stand_in
        .push_fault(Fault::Delay(Duration::from_millis(800)));
    let browser = h.browser();
    let flow = tokio::spawn(async move { browser.connect("").await.status().as_u16() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.set_down(true);
    let status = flow.await.expect("flow");
    assert_eq!(status, 202, "the token is held, and the browser told so");
    let vault = h.gateway.vault().clone();
    assert_eq!(
        h.gateway.keeper().held_count(),
        1,
        "held in memory while the store is away"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.set_down(false);
    let start = Instant::now();
    loop {
        if let Ok(counts) = vault.store().outbox_counts().await
            && counts == vec![("delivered".to_string(), 1)]
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not delivered after the store came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.gateway.keeper().held_count(), 0);
    assert_eq!(
        vault.store().connections().await.expect("c").len(),
        1,
        "0 lost, 0 duplicates"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_gateway_processes_on_one_postgres_refresh_a_token_once() {
    let schema = crate::support::fresh_schema();
    let key_dir = tempfile::tempdir().expect("keys");
    let key_file = key_dir.path().join("vault.key");
    notion_oauth_gateway::vault::keys::add_key_to_file(&key_file).expect("key");
    let o = Options {
        client_secret: SECRET.into(),
        api_key: Some(API_KEY.into()),
        ..Options::default()
    }
    .set("store.url", crate::support::POSTGRES_URL)
    .set("store.schema", schema.clone())
    .set("store.key_file", key_file.display().to_string());
    let (a, b) = (Setup::new(), Setup::new());
    let (stand_in, si) = stand_in_for(vec![a.redirect_uri(), b.redirect_uri()]).await;
    a.write(&o, si);
    b.write(&o, si);
    let pa = Process::start(&a, None);
    let pb = Process::start(&b, None);
    let status = run_flow(&stand_in, &a).await.await.expect("flow");
    assert_eq!(status, 200, "{}", pa.log());
    let client = reqwest::Client::new();
    let (_, list) = {
        let r = client
            .get(format!("http://{}/api/v1/connections", b.addr))
            .bearer_auth(API_KEY)
            .send()
            .await
            .expect("list");
        (
            r.status(),
            r.json::<serde_json::Value>().await.expect("json"),
        )
    };
    let bot = list["connections"][0]["bot_id"]
        .as_str()
        .expect("bot seen by B")
        .to_string();
    stand_in.push_fault(Fault::Delay(Duration::from_millis(800)));
    let mut calls = Vec::new();
    for i in 0..50 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        let r = client
            .post(format!("http://{addr}/api/v1/connections/{bot}/refresh"))
            .bearer_auth(API_KEY)
            .timeout(Duration::from_secs(30));
        calls.push(tokio::spawn(async move {
            let r = r.send().await.expect("refresh");
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }));
    }
    let mut tokens = Vec::new();
    for c in calls {
        let (status, body) = c.await.expect("task");
        assert_eq!(status, 200, "{body}\nA:\n{}\nB:\n{}", pa.log(), pb.log());
        tokens.push(body["access_token"].as_str().unwrap_or("").to_string());
    }
    assert_eq!(
        stand_in.refresh_requests(),
        1,
        "one refresh across two processes"
    );
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "all 50 got the same new token");
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sqlite_commit_keeps_the_token_in_memory_until_it_lands() {
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let o = webhook_options(receiver.addr, Store::Sqlite);
    let (setup, stand_in) = Setup::with_stand_in(&o).await;
    // The first commit fails (as a full or read-only disk would), the next succeed.
    let p = Process::start(&setup, Some("outbox_commit=1*return->off"));
    let status = run_flow(&stand_in, &setup).await.await.expect("flow");
    assert_eq!(
        status,
        202,
        "received, finishing in the background:\n{}",
        p.log()
    );
    p.wait_for("OUTBOX COMMIT FAILED");
    wait_delivered(&receiver, &setup, &p, "after a failed commit").await;
    assert_eq!(keys_seen(&receiver), (1, 1), "0 lost, 0 duplicates");
    assert!(tokens_list(&setup.config).contains("exchanges: committed 1"));
}

/// Runs the binary with `args` and the config; stdout and stderr together.
fn cli(config: &Path, args: &[&str]) -> String {
    let out = crate::support::process::run_binary(config, args, SECRET);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tokens_and_keys_commands_work_beside_a_running_gateway_and_print_no_token() {
    let o = Options {
        client_secret: SECRET.into(),
        api_key: Some(API_KEY.into()),
        ..Options::default()
    };
    let (setup, stand_in) = Setup::with_stand_in(&o).await;
    let p = Process::start(&setup, None);
    assert_eq!(run_flow(&stand_in, &setup).await.await.expect("flow"), 200);
    assert!(
        p.log().contains("created a token encryption key"),
        "the generated key is announced"
    );

    let list = cli(&setup.config, &["tokens", "list"]);
    assert!(
        list.contains("1 connection(s)") && list.contains("version 1"),
        "{list}"
    );
    let bot = list.split_whitespace().next().expect("bot id").to_string();
    let show = cli(&setup.config, &["tokens", "show", &bot, "--introspect"]);
    assert!(show.contains("notion_active:  true"), "{show}");
    let refreshed = cli(&setup.config, &["tokens", "refresh", &bot]);
    assert!(refreshed.contains("now version 2"), "{refreshed}");
    assert_eq!(stand_in.refresh_requests(), 1);

    let rotated = cli(&setup.config, &["keys", "rotate"]);
    assert!(rotated.contains("re-sealed"), "{rotated}");
    let keys = std::fs::read_to_string(setup.dir.path().join("data/vault.key")).expect("keys");
    assert_eq!(
        keys.lines().filter(|l| !l.starts_with('#')).count(),
        2,
        "the new key first, the old kept"
    );
    // The running gateway opens what the rotation re-sealed (it reads the keys again).
    let r = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/connections/{bot}/token",
            setup.addr
        ))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200, "{}", p.log());
    let revoked = cli(&setup.config, &["tokens", "revoke", &bot]);
    assert!(revoked.contains("revoked"), "{revoked}");
    let after = cli(&setup.config, &["tokens", "show", &bot]);
    assert!(after.contains("status:         revoked"), "{after}");
    for text in [&list, &show, &refreshed, &rotated, &revoked, &after] {
        assert!(
            !text.contains("CANARY"),
            "a token value was printed: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_waits_for_a_hand_off_in_flight_then_exits_0() {
    // The callback's request is cut by its deadline while Notion is still
    // answering, so no request is open when SIGTERM arrives: only the
    // hand-off's own task holds the token's fate.
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let o = webhook_options(receiver.addr, Store::Sqlite).set("server.request_timeout_ms", 300);
    let (setup, stand_in) = Setup::with_stand_in(&o).await;
    let mut gateway = Process::start(&setup, None);
    stand_in.push_fault(Fault::Delay(Duration::from_millis(800)));
    let _browser = run_flow(&stand_in, &setup).await;
    let start = Instant::now();
    while stand_in.token_requests() == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "no exchange");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The browser has had its 503; Notion answers at 800 ms.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let status = gateway.terminate(Duration::from_secs(20));
    let log = gateway.log();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "exits 0 once the hand-off is done:\n{log}"
    );
    assert!(log.contains("the consumer accepted the token"), "{log}");
    assert_eq!(
        keys_seen(&receiver),
        (1, 1),
        "delivered once, before the exit"
    );
    let list = tokens_list(&setup.config);
    assert!(list.contains("exchanges: committed 1"), "{list}");
}
