//! The hand-off across processes: the gateway killed (SIGKILL) at each stage
//! of a token's way from Notion to the consumer and started again; a
//! consumer webhook that is down and comes back; a PostgreSQL that goes away
//! while a token arrives; two gateway processes refreshing one token on one
//! PostgreSQL. Each asserts zero tokens lost and zero duplicates.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::gateway_process::{Process, SECRET, Setup, cli, free_port, stand_in_for};
use crate::support::receiver::Receiver;
use crate::support::tcp_proxy::Proxy;
use crate::support::{API_KEY, Browser, Options, Store};
use notion_oauth_gateway::standin::{Fault, StandIn};

/// `tokens list` of a config, as text.
fn tokens_list(config: &Path) -> String {
    cli(config, &["tokens", "list"])
}

fn webhook_options(receiver: SocketAddr, store: Store) -> Options {
    let mut o = Options::webhook_to(receiver)
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
    // The first commit fails (as a full or read-only disk would), the next succeed.
    a_failed_commit_is_received_then_delivered_once("outbox_commit=1*return->off").await;
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sqlite_flush_is_a_failed_commit_and_the_browser_never_sees_success() {
    // The commit is written, but the first sync of the log fails (as a
    // failing disk would): the writer must not have called it durable.
    a_failed_commit_is_received_then_delivered_once("store_flush=1*return->off").await;
}

/// With `failpoints` making the first commit fail, the browser hears
/// "received" (202), never success, and the token held in memory is
/// delivered once when the store takes it.
#[cfg(feature = "failpoints")]
async fn a_failed_commit_is_received_then_delivered_once(failpoints: &str) {
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let o = webhook_options(receiver.addr, Store::Sqlite);
    let (setup, stand_in) = Setup::with_stand_in(&o).await;
    let p = Process::start(&setup, Some(failpoints));
    let status = run_flow(&stand_in, &setup).await.await.expect("flow");
    assert_eq!(
        status,
        202,
        "received, finishing in the background ({failpoints}):\n{}",
        p.log()
    );
    p.wait_for("OUTBOX COMMIT FAILED");
    wait_delivered(&receiver, &setup, &p, failpoints).await;
    assert_eq!(keys_seen(&receiver), (1, 1), "0 lost, 0 duplicates");
    assert!(tokens_list(&setup.config).contains("exchanges: committed 1"));
}

/// The acknowledgement is written while the success page is made and kept,
/// but the page is sent only once it is recorded: a slow acknowledgement
/// holds the page back, never the other way round.
#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn the_success_page_follows_the_recorded_acknowledgement() {
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let o = webhook_options(receiver.addr, Store::Sqlite);
    let (setup, stand_in) = Setup::with_stand_in(&o).await;
    let p = Process::start(&setup, Some("before_acknowledge=sleep(600)"));
    let status = run_flow(&stand_in, &setup).await.await.expect("flow");
    assert_eq!(status, 200, "{}", p.log());
    let listed = tokens_list(&setup.config);
    assert!(
        listed.contains("deliveries: delivered 1"),
        "delivered before the page was sent:\n{listed}"
    );
    assert_eq!(keys_seen(&receiver), (1, 1));
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
