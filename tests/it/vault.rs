//! The token vault, on SQLite and on PostgreSQL: tokens sealed at rest (the
//! canary never appears in the raw file or table), delivered at least once
//! with retries and dead-lettering, refreshed once however many ask, revoked
//! and introspected through Notion, and served by the token API.

use std::time::{Duration, Instant};

use crate::support::{API_KEY, Harness, Options, Store};
use notion_oauth_gateway::standin::Fault;
use notion_oauth_gateway::vault::Vault;
use notion_oauth_gateway::vault::store::{Commit, Committed, Reason, Table, now_ms};

/// Waits until `check` holds, polling every 50 ms, for at most `limit`.
async fn eventually<F: AsyncFn() -> bool>(limit: Duration, what: &str, check: F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The outbox's counts as `status=n` text, e.g. `delivered=1`.
async fn outbox(vault: &Vault) -> String {
    let counts = vault.store().outbox_counts().await.expect("outbox counts");
    counts
        .iter()
        .map(|(s, n)| format!("{s}={n}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The gateway's `/metrics` text.
async fn metrics(h: &Harness) -> String {
    h.browser()
        .get(&h.url("/metrics"))
        .await
        .text()
        .await
        .unwrap_or_default()
}

fn api(h: &Harness, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, h.url(&format!("/api/v1{path}")))
        .bearer_auth(API_KEY)
        .timeout(Duration::from_secs(30))
}

async fn json(r: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let r = r.send().await.expect("api call");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// Every byte the store holds for the vault, as text: the SQLite files, or
/// every row of the PostgreSQL schema's vault tables.
async fn raw_store(h: &Harness, store: Store) -> String {
    match store {
        Store::Sqlite => {
            let mut all = Vec::new();
            for name in ["gateway.db", "gateway.db-wal"] {
                if let Ok(bytes) = std::fs::read(h.dir.path().join("data").join(name)) {
                    all.extend(bytes);
                }
            }
            String::from_utf8_lossy(&all).into_owned()
        }
        Store::Postgres => {
            let pool = sqlx::PgPool::connect(crate::support::POSTGRES_URL)
                .await
                .expect("pg");
            let schema = h.gateway.config().store.backend.clone();
            let schema = match schema {
                notion_oauth_gateway::config::StoreBackend::Postgres(pg) => pg.schema,
                _ => unreachable!(),
            };
            let mut all = String::new();
            for table in ["vault_exchange", "vault_outbox", "vault_connection"] {
                let rows: Vec<(String,)> =
                    sqlx::query_as(&format!("SELECT t::text FROM \"{schema}\".{table} t"))
                        .fetch_all(&pool)
                        .await
                        .expect("scan");
                for (row,) in rows {
                    all.push_str(&row);
                    all.push('\n');
                }
            }
            all
        }
    }
}

#[tokio::test]
async fn row12_tokens_are_sealed_at_rest_and_delivered_once_on_both_stores() {
    for store in Store::BOTH {
        let h = Harness::start(Options::default().on(store)).await;
        let r = h.browser().connect("?data=acct-1").await;
        assert_eq!(
            r.status(),
            200,
            "{store:?}: {}",
            r.text().await.unwrap_or_default()
        );
        let vault = h.gateway.vault();
        assert_eq!(outbox(vault).await, "delivered=1", "{store:?}");
        let connections = vault.store().connections().await.expect("connections");
        assert_eq!(connections.len(), 1, "{store:?}");
        let counts = vault.store().exchange_counts().await.expect("exchanges");
        assert_eq!(counts, vec![("committed".to_string(), 1)], "{store:?}");

        // The token API hands out the stored token: it was kept, sealed.
        let bot = &connections[0].bot_id;
        let (status, token) = json(api(
            &h,
            reqwest::Method::GET,
            &format!("/connections/{bot}/token"),
        ))
        .await;
        assert_eq!(status, 200, "{store:?}: {token}");
        let access = token["access_token"]
            .as_str()
            .expect("access token")
            .to_string();
        assert!(access.starts_with("CANARY_TOKEN_"), "{store:?}");

        let raw = raw_store(&h, store).await;
        assert!(
            raw.contains(bot.as_str()),
            "{store:?}: the scan must see the rows"
        );
        for canary in ["CANARY_TOKEN_", "CANARY_REFRESH_", "CANARY_CODE_"] {
            assert!(
                !raw.contains(canary),
                "{store:?}: {canary} is stored in the clear"
            );
            assert!(
                !raw.contains(&hex::encode(canary)),
                "{store:?}: {canary} is stored hex-encoded"
            );
        }
        // Delivered rows keep no sealed copy.
        assert!(
            vault
                .store()
                .deliveries(10)
                .await
                .expect("deliveries")
                .iter()
                .all(|d| d.status == "delivered" && d.attempts == 1),
            "{store:?}"
        );
    }
}

#[tokio::test]
async fn a_consumer_that_traps_k_times_gets_the_token_on_attempt_k_plus_1() {
    for store in Store::BOTH {
        let mut o = Options::faulty("consumer", "trap-before-4")
            .on(store)
            .set("store.delivery_initial_backoff_ms", 50)
            .set("store.delivery_max_backoff_ms", 200);
        o.api_key = None;
        let h = Harness::start(o).await;
        let r = h.browser().connect("").await;
        assert_eq!(r.status(), 202, "{store:?}: the browser is told the truth");
        let body = r.text().await.unwrap_or_default();
        assert!(body.contains("being completed"), "{body}");
        let vault = h.gateway.vault().clone();
        eventually(Duration::from_secs(20), "delivered", async || {
            outbox(&vault).await == "delivered=1"
        })
        .await;
        let d = vault.store().deliveries(10).await.expect("deliveries");
        assert_eq!(d.len(), 1, "{store:?}: one token, stored once");
        assert_eq!(d[0].attempts, 4, "{store:?}: 3 traps, then accepted");
        let metrics = metrics(&h).await;
        assert!(
            metrics.contains("notion_gateway_deliveries_total{outcome=\"retry\"} 3"),
            "{metrics}"
        );
    }
}

#[tokio::test]
async fn a_consumer_that_never_accepts_is_dead_lettered_after_n_attempts() {
    let o = Options::faulty("consumer", "trap")
        .on(Store::Sqlite)
        .set("store.delivery_max_attempts", 3)
        .set("store.delivery_initial_backoff_ms", 20)
        .set("store.delivery_max_backoff_ms", 40);
    let h = Harness::start(o).await;
    assert_eq!(h.browser().connect("").await.status(), 202);
    let vault = h.gateway.vault().clone();
    eventually(Duration::from_secs(20), "dead", async || {
        outbox(&vault).await == "dead=1"
    })
    .await;
    let d = vault.store().deliveries(10).await.expect("deliveries");
    assert_eq!(d[0].attempts, 3);
    assert!(
        d[0].last_error.as_deref().unwrap_or("").contains("trap"),
        "{d:?}"
    );
    let metrics = metrics(&h).await;
    assert!(
        metrics.contains("notion_gateway_deliveries_total{outcome=\"dead\"} 1"),
        "{metrics}"
    );
    // Parked, not lost: the sealed token is still there for an operator.
    assert!(
        vault
            .store()
            .connections()
            .await
            .expect("connections")
            .len()
            == 1
    );
}

#[tokio::test]
async fn a_consumer_that_refuses_for_good_shows_the_error_page_and_parks_the_token() {
    let h = Harness::start(Options::faulty("consumer", "fatal").on(Store::Sqlite)).await;
    let r = h.browser().connect("").await;
    assert_eq!(r.status(), 500);
    assert_eq!(outbox(h.gateway.vault()).await, "dead=1");
}

#[tokio::test]
async fn result_page_and_secrets_a_consumer_quoting_its_token_has_it_scrubbed_before_it_is_stored()
{
    let h = Harness::start(Options::faulty("consumer", "quote-token").on(Store::Sqlite)).await;
    assert_eq!(h.browser().connect("").await.status(), 500);
    let d = h.deliveries(1).await;
    let error = d[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("cannot store [redacted]"), "{error}");
    assert!(
        !error.contains("CANARY_TOKEN"),
        "the access token was stored: {error}"
    );
    assert!(
        !error.contains("CANARY_REFRESH"),
        "the refresh token was stored: {error}"
    );
}

#[tokio::test]
async fn fifty_concurrent_refreshes_make_one_call_to_notion_on_both_stores() {
    for store in Store::BOTH {
        let h = Harness::start(Options::default().on(store)).await;
        assert_eq!(h.browser().connect("").await.status(), 200);
        let vault = h.gateway.vault();
        let bot = vault.store().connections().await.expect("connections")[0]
            .bot_id
            .clone();
        let (_, before) = json(api(
            &h,
            reqwest::Method::GET,
            &format!("/connections/{bot}/token"),
        ))
        .await;
        // A slow Notion, so every request arrives while the refresh runs.
        h.stand_in
            .push_fault(Fault::Delay(Duration::from_millis(600)));
        let calls = (0..50).map(|_| {
            let r = api(
                &h,
                reqwest::Method::POST,
                &format!("/connections/{bot}/refresh"),
            );
            async move { json(r).await }
        });
        let answers = futures_join_all(calls).await;
        assert_eq!(
            h.stand_in.refresh_requests(),
            1,
            "{store:?}: exactly one refresh reached Notion"
        );
        let first = answers[0].1["access_token"].clone();
        for (status, body) in &answers {
            assert_eq!(*status, 200, "{store:?}: {body}");
            assert_eq!(
                body["access_token"], first,
                "{store:?}: all 50 get the new token"
            );
            assert_eq!(body["version"], 2);
        }
        assert_ne!(
            first, before["access_token"],
            "{store:?}: it is a new token"
        );
        // The consumer hears about the refreshed token through the outbox.
        let v = vault.clone();
        eventually(Duration::from_secs(10), "refreshed delivered", async || {
            outbox(&v).await == "delivered=2"
        })
        .await;
        let reasons: Vec<String> = vault
            .store()
            .deliveries(10)
            .await
            .expect("d")
            .into_iter()
            .map(|d| d.reason)
            .collect();
        assert!(reasons.contains(&"refreshed".to_string()), "{reasons:?}");
    }
}

/// `join_all` without a futures dependency: spawns each and awaits in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn revoke_and_introspect_go_through_notion_and_tell_the_consumer() {
    for store in Store::BOTH {
        let h = Harness::start(Options::default().on(store)).await;
        assert_eq!(h.browser().connect("").await.status(), 200);
        let bot = h.gateway.vault().store().connections().await.expect("c")[0]
            .bot_id
            .clone();
        let (status, info) = json(api(
            &h,
            reqwest::Method::GET,
            &format!("/connections/{bot}/introspect"),
        ))
        .await;
        assert_eq!(
            (status, info["active"].as_bool()),
            (200, Some(true)),
            "{store:?}: {info}"
        );
        let (status, body) = json(api(
            &h,
            reqwest::Method::POST,
            &format!("/connections/{bot}/revoke"),
        ))
        .await;
        assert_eq!(status, 200, "{store:?}: {body}");
        let (status, body) = json(api(
            &h,
            reqwest::Method::GET,
            &format!("/connections/{bot}/token"),
        ))
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (410, Some("revoked")),
            "{store:?}"
        );
        let vault = h.gateway.vault().clone();
        eventually(Duration::from_secs(10), "revoked delivered", async || {
            outbox(&vault).await == "delivered=2"
        })
        .await;
        let c = vault
            .store()
            .connection(&bot)
            .await
            .expect("c")
            .expect("kept");
        assert!(c.revoked_at.is_some());
        // The stand-in no longer accepts the old token either.
        let raw = raw_store(&h, store).await;
        assert!(!raw.contains("CANARY_TOKEN_"));
    }
}

#[tokio::test]
async fn the_token_api_needs_its_key_and_is_off_by_default() {
    let h = Harness::start(Options::default().on(Store::Sqlite)).await;
    let url = h.url("/api/v1/connections");
    let client = reqwest::Client::new();
    assert_eq!(client.get(&url).send().await.expect("r").status(), 401);
    assert_eq!(
        client
            .get(&url)
            .bearer_auth("wrong-key")
            .send()
            .await
            .expect("r")
            .status(),
        401
    );
    let r = client
        .get(&url)
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let (status, body) = json(api(&h, reqwest::Method::GET, "/connections/nope/token")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_connection"))
    );

    let off = Harness::start(Options::default()).await;
    let r = client
        .get(off.url("/api/v1/connections"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), 404, "off unless [token_api] enabled");
}

#[tokio::test]
async fn pass_through_mode_keeps_no_token_after_delivery() {
    let mut o = Options::default()
        .on(Store::Sqlite)
        .set("store.keep_tokens", false);
    o.api_key = None;
    let h = Harness::start(o).await;
    assert_eq!(h.browser().connect("").await.status(), 200);
    let vault = h.gateway.vault();
    assert_eq!(outbox(vault).await, "delivered=1");
    assert!(vault.store().connections().await.expect("c").is_empty());
    assert!(!raw_store(&h, Store::Sqlite).await.contains("CANARY"));
}

#[tokio::test]
async fn two_hundred_concurrent_flows_store_and_deliver_each_token_once() {
    let o = Options::default()
        .without_rate_limits()
        .on(Store::Postgres)
        .set("plugins.max_concurrent", 32);
    let h = Harness::start(o).await;
    let flows = (0..200).map(|i| {
        let b = h.browser();
        async move {
            b.connect(&format!("?data=user-{i}"))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_join_all(flows).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let vault = h.gateway.vault();
    assert_eq!(outbox(vault).await, "delivered=200", "0 lost, 0 duplicates");
    assert_eq!(vault.store().connections().await.expect("c").len(), 200);
    assert_eq!(h.stand_in.token_requests(), 200, "one exchange per state");
}

#[tokio::test]
async fn notion_faults_store_nothing_and_count_what_may_be_lost() {
    let o = Options::default()
        .on(Store::Sqlite)
        .set("notion.timeout_ms", 500);
    let h = Harness::start(o).await;
    // Answers that rule a token out: recorded as failed.
    let refused = [
        Fault::notion_error(500, "internal_server_error", "boom"),
        Fault::Respond {
            status: 429,
            body: b"{}".to_vec(),
            headers: vec![("retry-after".into(), "2".into())],
        },
        Fault::notion_error(400, "invalid_grant", "Invalid code."),
    ];
    // Answers after which Notion may hold a token we never saw: counted as
    // possibly lost, never silent.
    let unknown = [
        Fault::Respond {
            status: 200,
            body: b"{\"access_token\": \"CANARY_TOKEN_x\"".to_vec(),
            headers: vec![],
        },
        Fault::Delay(Duration::from_millis(1_500)),
    ];
    for fault in refused.into_iter().chain(unknown) {
        h.stand_in.push_fault(fault);
        let r = h.browser().connect("").await;
        assert!(r.status().as_u16() >= 400, "{}", r.status());
    }
    let vault = h.gateway.vault();
    assert_eq!(outbox(vault).await, "", "no token was issued to store");
    assert_eq!(
        vault.store().exchange_counts().await.expect("e"),
        vec![("failed".to_string(), 3), ("lost".to_string(), 2)],
    );
    let metrics = metrics(&h).await;
    assert!(
        metrics.contains("notion_gateway_tokens_possibly_lost_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_callback_replayed_to_another_instance_on_the_same_store_is_refused_before_notion() {
    let o = Options::default().on(Store::Postgres);
    let secret = o.client_secret.clone();
    let h = Harness::start(o).await;
    let browser = h.browser();
    let back = browser.approved("").await;
    assert_eq!(browser.get(&back).await.status(), 200);

    // A second instance: the same config (state key, redirect URI, schema).
    let text = std::fs::read_to_string(&h.config_path).expect("config");
    let config = crate::support::load_config(&text, &secret, Some(API_KEY)).expect("config");
    let b = notion_oauth_gateway::Gateway::build(config)
        .await
        .expect("second instance");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let b_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { b.serve(listener, std::future::pending()).await });

    // The same browser (its binding cookie) replays the callback there.
    let replay = back.replace(&h.gateway_url, &format!("http://{b_addr}"));
    let r = browser.get_once(&replay).await;
    let page = crate::support::result_location(&r).expect("a 303 to the result page");
    let r = browser.get_once(&format!("http://{b_addr}{page}")).await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text().await.unwrap_or_default().contains("already used"),
        "refused as a replay, not for another reason"
    );
    assert_eq!(
        h.stand_in.token_requests(),
        1,
        "the code was not sent twice"
    );
}

#[tokio::test]
async fn a_request_cut_off_mid_exchange_still_stores_and_delivers_the_token() {
    // The request's own deadline passes while Notion is still answering (as
    // when the browser gives up): the hand-off runs on and the token lands.
    let o = Options::default()
        .on(Store::Sqlite)
        .set("server.request_timeout_ms", 300);
    let h = Harness::start(o).await;
    let browser = h.browser();
    let back = browser.approved("").await;
    h.stand_in
        .push_fault(Fault::Delay(Duration::from_millis(900)));
    let r = browser.get_once(&back).await;
    assert_eq!(r.status(), 503, "the browser was told to try again");
    let vault = h.gateway.vault().clone();
    eventually(
        Duration::from_secs(10),
        "delivered after the cut",
        async || outbox(&vault).await == "delivered=1",
    )
    .await;
    assert_eq!(
        vault.store().exchange_counts().await.expect("e"),
        vec![("committed".to_string(), 1)]
    );
}

#[tokio::test]
async fn a_refresh_survives_its_client_hanging_up_after_notion_rotated_the_pair() {
    for store in Store::BOTH {
        // The request's deadline passes while Notion is still answering the
        // refresh: the caller is gone, but Notion has rotated the pair.
        let mut o = Options::default().on(store);
        o.put("server.request_timeout_ms", 300);
        let h = Harness::start(o).await;
        assert_eq!(h.browser().connect("").await.status(), 200);
        let bot = h.gateway.vault().store().connections().await.expect("c")[0]
            .bot_id
            .clone();
        let token = format!("/connections/{bot}/token");
        let refresh = format!("/connections/{bot}/refresh");
        let (_, before) = json(api(&h, reqwest::Method::GET, &token)).await;
        h.stand_in
            .push_fault(Fault::Delay(Duration::from_millis(900)));
        let cut = api(&h, reqwest::Method::POST, &refresh)
            .send()
            .await
            .map(|r| r.status().as_u16());
        assert!(
            !matches!(cut, Ok(200)),
            "{store:?}: the caller was cut off ({cut:?})"
        );

        // The rotated pair was kept: the next read has it...
        let vault = h.gateway.vault().clone();
        let b = bot.clone();
        eventually(
            Duration::from_secs(10),
            "the refreshed pair stored",
            async || {
                vault
                    .store()
                    .connection(&b)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|c| c.version == 2)
            },
        )
        .await;
        assert_eq!(h.stand_in.refresh_requests(), 1, "{store:?}");
        let (status, after) = json(api(&h, reqwest::Method::GET, &token)).await;
        assert_eq!(
            (status, after["version"].as_i64()),
            (200, Some(2)),
            "{store:?}: {after}"
        );
        assert_ne!(after["access_token"], before["access_token"], "{store:?}");
        // ...and refreshing again works: the stored refresh token is the
        // rotated one (the stand-in refuses the old one).
        let (status, again) = json(api(&h, reqwest::Method::POST, &refresh)).await;
        assert_eq!(
            (status, again["version"].as_i64()),
            (200, Some(3)),
            "{store:?}: {again}"
        );
        assert_eq!(
            vault
                .store()
                .counts(Table::Refresh)
                .await
                .expect("refreshes"),
            vec![("committed".to_string(), 2)],
            "{store:?}: each refresh was recorded before Notion and ended committed"
        );
    }
}

/// Two instances' vaults on one store (no gateway, so no worker claims rows
/// behind the test's back), in a data folder that lives as long as `.0`.
/// The default config on `store`, in a folder of its own.
fn store_config(store: Store) -> (tempfile::TempDir, notion_oauth_gateway::config::Config) {
    let dir = tempfile::tempdir().expect("dir");
    let o = Options::default().on(store);
    let text = crate::support::config_text(&o, dir.path(), "127.0.0.1:9", "127.0.0.1:9");
    let config =
        crate::support::load_config(&text, &o.client_secret, o.api_key.as_deref()).expect("config");
    (dir, config)
}

async fn two_instances(store: Store) -> (tempfile::TempDir, Vault, Vault) {
    let (dir, config) = store_config(store);
    let a = Vault::open(&config.store).await.expect("instance a");
    let b = Vault::open(&config.store).await.expect("instance b");
    (dir, a, b)
}

#[tokio::test]
async fn a_late_failure_cannot_undo_another_instances_delivery() {
    for store in Store::BOTH {
        let (_dir, a, b) = two_instances(store).await;
        let now = now_ms();
        let commit = Commit {
            lease_until: now - 1,
            ..new_token("bot-1:exchange-1", "bot-1", "nobody", false)
        };
        assert_eq!(
            a.store().commit(commit).await.expect("commit"),
            Committed::Written
        );

        // Instance a claims the delivery, and its consumer is slow: its
        // lease lapses, and instance b claims the delivery and makes it.
        let claimed = a.store().claim_due("a", Duration::from_millis(1), 10).await;
        assert_eq!(claimed.expect("claim").len(), 1, "{store:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let claimed = b.store().claim_due("b", Duration::from_secs(60), 10).await;
        assert_eq!(
            claimed.expect("claim").len(),
            1,
            "{store:?}: a's lease lapsed"
        );
        // While b works, a's late failure changes nothing.
        let late = a
            .store()
            .reschedule("bot-1:exchange-1", "a", "trap", None)
            .await;
        assert!(
            !late.expect("reschedule"),
            "{store:?}: fenced while b holds it"
        );
        assert!(
            b.store()
                .acknowledge("bot-1:exchange-1", "b")
                .await
                .expect("ack")
        );

        // Nor after b delivered: not back to pending, not dead.
        let late = a
            .store()
            .reschedule("bot-1:exchange-1", "a", "trap", Some(now_ms()))
            .await;
        assert!(!late.expect("reschedule"), "{store:?}");
        assert!(
            !a.store()
                .acknowledge("bot-1:exchange-1", "a")
                .await
                .expect("ack")
        );
        assert!(
            !a.store()
                .renew_delivery("bot-1:exchange-1", "a", Duration::from_secs(60))
                .await
                .expect("renew"),
            "{store:?}: a cannot take the lease back either"
        );
        let d = b.store().deliveries(10).await.expect("deliveries");
        assert_eq!(
            (
                d[0].status.as_str(),
                d[0].attempts,
                d[0].last_error.as_deref()
            ),
            ("delivered", 1, None),
            "{store:?}: {d:?}"
        );
    }
}

#[tokio::test]
async fn concurrent_writes_share_batches_and_each_state_is_claimed_once() {
    for store in Store::BOTH {
        let (_dir, a, _b) = two_instances(store).await;
        let a = std::sync::Arc::new(a);
        // Fifty callers at once: they land in few batches, yet each gets its
        // own answer; the same exchange twice, even in one batch, is first once.
        let calls = (0..50).map(|i| {
            let a = a.clone();
            async move {
                let id = if i % 2 == 0 {
                    "same".to_string()
                } else {
                    format!("x-{i}")
                };
                a.store().begin_exchange(&id).await.expect("begin")
            }
        });
        let firsts = futures_join_all(calls).await;
        let same = firsts.iter().step_by(2).filter(|f| **f).count();
        assert_eq!(same, 1, "{store:?}: one of 25 claims of one exchange wins");
        assert!(firsts.iter().skip(1).step_by(2).all(|f| *f), "{store:?}");
        assert_eq!(
            a.store().exchange_counts().await.expect("counts"),
            vec![("pending".to_string(), 26)],
            "{store:?}"
        );
    }
}

#[tokio::test]
async fn concurrent_result_pages_are_kept_and_taken_once_by_their_owner() {
    for store in Store::BOTH {
        let (_dir, a, _b) = two_instances(store).await;
        let a = std::sync::Arc::new(a);
        let now = 1_000_000;
        // Thirty pages kept at once (they share batches), one already expired.
        let puts = (0..30).map(|i| {
            let a = a.clone();
            async move {
                let expires = if i == 0 { now - 1 } else { now + 60_000 };
                let page = format!("page {i}").into_bytes();
                let id = format!("p-{i}");
                let put = a.store().put_page(&id, "owner", page, expires, now);
                put.await.expect("put")
            }
        });
        futures_join_all(puts).await;
        // A stranger's takes (all at once) get nothing and take nothing.
        let strangers = (0..30).map(|i| {
            let a = a.clone();
            async move {
                let id = format!("p-{i}");
                a.store()
                    .take_page(&id, "stranger", now)
                    .await
                    .expect("take")
            }
        });
        let stolen = futures_join_all(strangers).await;
        assert!(stolen.iter().all(Option::is_none), "{store:?}: {stolen:?}");
        // Then the owner takes each twice, all at once: given once.
        let takes = (0..60).map(|n| {
            let a = a.clone();
            async move {
                let id = format!("p-{}", n % 30);
                (
                    n % 30,
                    a.store().take_page(&id, "owner", now).await.expect("take"),
                )
            }
        });
        let taken = futures_join_all(takes).await;
        for i in 0..30 {
            let got: Vec<_> = taken
                .iter()
                .filter_map(|(j, page)| page.as_ref().filter(|_| *j == i))
                .collect();
            if i == 0 {
                assert!(got.is_empty(), "{store:?}: an expired page is not given");
                continue;
            }
            let want = format!("page {i}").into_bytes();
            assert_eq!(got, vec![&want], "{store:?}: page {i}, once");
        }
    }
}

/// A write of each kind, as one `Store` call's future answers it.
enum Write {
    Began(bool),
    Committed(Committed),
    Acked(bool),
    Rescheduled(bool),
    Put,
    Taken(Option<Vec<u8>>),
}

/// A write under way and the key it is about.
type KeyedWrite = std::pin::Pin<Box<dyn Future<Output = (String, Write)> + Send>>;

/// A commit of a new token for `bot`, leased to `owner`.
fn new_token(id: &str, bot: &str, owner: &str, connection: bool) -> Commit {
    let now = now_ms();
    Commit {
        id: id.into(),
        bot_id: bot.into(),
        reason: Reason::New,
        sealed: vec![1, 2, 3],
        state: "{}".into(),
        lease_owner: owner.into(),
        lease_until: now + 60_000,
        connection: connection.then(|| notion_oauth_gateway::vault::store::ConnectionWrite {
            workspace_id: format!("ws-{bot}"),
            workspace_name: None,
            owner_user_id: None,
            owner_email: None,
            sealed: vec![4, 5, 6],
            expect_version: None,
        }),
        exchange_id: None,
        refresh_id: None,
        now,
    }
}

#[tokio::test]
async fn a_batch_of_every_kind_of_write_answers_each_as_if_it_ran_alone() {
    for store in Store::BOTH {
        let (_dir, a, _b) = two_instances(store).await;
        let a = std::sync::Arc::new(a);
        let now = now_ms();
        for i in 0..10 {
            let commit = new_token(&format!("old-{i}"), &format!("old-{i}"), "a", false);
            assert_eq!(
                a.store().commit(commit).await.expect("commit"),
                Committed::Written
            );
            let expires = if i == 0 { now - 1 } else { now + 60_000 };
            let page = format!("page {i}").into_bytes();
            let id = format!("p-{i}");
            let put = a.store().put_page(&id, "o", page, expires, now);
            put.await.expect("put");
        }
        assert!(a.store().begin_exchange("used").await.expect("begin"));
        // Then every kind at once, so that they share batches: exchanges (one
        // used before), new tokens, acknowledgements by the
        // lease's owner and by a stranger, reschedules (which the grouped
        // statement does not cover), and pages put and taken.
        let mut writes: Vec<KeyedWrite> = Vec::new();
        for i in 0..10 {
            let (s, id) = (a.clone(), format!("fresh-{i}"));
            writes.push(Box::pin(async move {
                (
                    id.clone(),
                    Write::Began(s.store().begin_exchange(&id).await.expect("begin")),
                )
            }));
            let s = a.clone();
            writes.push(Box::pin(async move {
                let c = new_token(&format!("new-{i}"), &format!("new-{i}"), "a", true);
                (
                    format!("new-{i}"),
                    Write::Committed(s.store().commit(c).await.expect("commit")),
                )
            }));
            let (s, id) = (a.clone(), format!("old-{i}"));
            writes.push(Box::pin(async move {
                let w = match i {
                    0..5 => Write::Acked(s.store().acknowledge(&id, "a").await.expect("ack")),
                    5..7 => Write::Acked(s.store().acknowledge(&id, "b").await.expect("ack")),
                    _ => Write::Rescheduled(
                        s.store()
                            .reschedule(&id, "a", "later", Some(now + 60_000))
                            .await
                            .expect("reschedule"),
                    ),
                };
                (id, w)
            }));
            let (s, id) = (a.clone(), format!("p-{i}"));
            writes.push(Box::pin(async move {
                (
                    id.clone(),
                    Write::Taken(s.store().take_page(&id, "o", now).await.expect("take")),
                )
            }));
            let (s, id) = (a.clone(), format!("q-{i}"));
            writes.push(Box::pin(async move {
                let page = format!("next {i}").into_bytes();
                s.store()
                    .put_page(&id, "o", page, now + 60_000, now)
                    .await
                    .expect("put");
                (id, Write::Put)
            }));
        }
        writes.push(Box::pin({
            let s = a.clone();
            async move {
                (
                    "used".into(),
                    Write::Began(s.store().begin_exchange("used").await.expect("begin")),
                )
            }
        }));
        for (key, write) in futures_join_all(writes.into_iter()).await {
            let i: usize = key
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(99);
            match write {
                Write::Began(first) => assert_eq!(first, key != "used", "{store:?}: {key}"),
                Write::Committed(c) => assert_eq!(c, Committed::Written, "{store:?}: {key}"),
                Write::Acked(acked) => assert_eq!(acked, i < 5, "{store:?}: {key}"),
                Write::Rescheduled(done) => assert!(done, "{store:?}: {key}"),
                Write::Put => {}
                Write::Taken(page) => {
                    let want = (i > 0).then(|| format!("page {i}").into_bytes());
                    assert_eq!(page, want, "{store:?}: {key}");
                }
            }
        }
        assert_eq!(outbox(&a).await, "delivered=5,pending=15", "{store:?}");
        // Two new tokens for one bot at once: in one batch, the one statement
        // cannot replace a row it inserts, so the batch runs op by op.
        let twice = (0..2).map(|i| {
            let s = a.clone();
            async move {
                let c = new_token(&format!("twice-{i}"), "twice", "a", true);
                s.store().commit(c).await.expect("commit")
            }
        });
        let committed = futures_join_all(twice).await;
        assert_eq!(committed, vec![Committed::Written; 2], "{store:?}");
        let connections = a.store().connections().await.expect("connections");
        assert_eq!(
            connections.len(),
            11,
            "{store:?}: ten new bots and one twice"
        );
        let twice = connections
            .iter()
            .find(|c| c.bot_id == "twice")
            .expect("twice");
        assert_eq!(
            twice.version, 2,
            "{store:?}: the second commit replaced the first"
        );
        for i in 0..10 {
            let page = a
                .store()
                .take_page(&format!("q-{i}"), "o", now)
                .await
                .expect("take");
            assert_eq!(
                page,
                Some(format!("next {i}").into_bytes()),
                "{store:?}: q-{i}"
            );
        }
    }
}

#[tokio::test]
async fn a_failing_write_in_a_batch_fails_alone() {
    for store in Store::BOTH {
        let (_dir, a, _b) = two_instances(store).await;
        let a = std::sync::Arc::new(a);
        let now = now_ms();
        // Two pages under one key at once (the second breaks the key), among
        // exchange records: they share a batch, and only one write fails.
        let pages: Vec<_> = (0..2)
            .map(|i| {
                let s = a.clone();
                tokio::spawn(async move {
                    let page = format!("page {i}").into_bytes();
                    s.store()
                        .put_page("dup", "o", page, now + 60_000, now)
                        .await
                })
            })
            .collect();
        let began = (0..20).map(|i| {
            let s = a.clone();
            async move { s.store().begin_exchange(&format!("e-{i}")).await }
        });
        let began = futures_join_all(began).await;
        let mut kept = Vec::new();
        for page in pages {
            kept.push(page.await.expect("put"));
        }
        let pages = kept;
        assert!(
            began.iter().all(|b| matches!(b, Ok(true))),
            "{store:?}: {began:?}"
        );
        assert_eq!(
            pages.iter().filter(|p| p.is_ok()).count(),
            1,
            "{store:?}: one of two pages under one key is kept: {pages:?}"
        );
        assert_eq!(
            a.store().exchange_counts().await.expect("counts"),
            vec![("pending".to_string(), 20)],
            "{store:?}"
        );
        let kept = a.store().take_page("dup", "o", now).await.expect("take");
        assert!(kept.is_some(), "{store:?}: the kept page is there");
    }
}

/// `notion-oauth-gateway vault status --config <h's config> [args]`: stdout.
fn vault_status(h: &Harness, secret: &str, args: &[&str]) -> String {
    // The config names a database URL: the CLI, like `serve`, wants it private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&h.config_path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    let args: Vec<&str> = ["vault", "status"].iter().chain(args).copied().collect();
    let out = crate::support::process::run_binary(&h.config_path, &args, secret);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn vault_status_prints_the_stores_figures_and_exactly_the_json_shape_on_both_stores() {
    for store in Store::BOTH {
        let o = Options::default().on(store);
        let secret = o.client_secret.clone();
        let h = Harness::start(o).await;
        assert_eq!(h.browser().connect("").await.status(), 200, "{store:?}");
        h.stand_in
            .push_fault(Fault::notion_error(400, "invalid_grant", "Invalid code."));
        assert_eq!(h.browser().connect("").await.status(), 400, "{store:?}");
        let bot = h.gateway.vault().store().connections().await.expect("c")[0]
            .bot_id
            .clone();
        let (status, _) = json(api(
            &h,
            reqwest::Method::POST,
            &format!("/connections/{bot}/revoke"),
        ))
        .await;
        assert_eq!(status, 200, "{store:?}");
        // The revocation's own delivery runs on; the figures are read after it.
        let vault = h.gateway.vault().clone();
        eventually(Duration::from_secs(10), "no delivery pending", async || {
            !outbox(&vault).await.contains("pending")
        })
        .await;
        let raw = vault_status(&h, &secret, &["--json"]);
        // The output with every number written as `#`.
        let mut shape = String::new();
        for c in raw.trim().chars() {
            match c {
                '0'..='9' if shape.ends_with('#') => {}
                '0'..='9' => shape.push('#'),
                c => shape.push(c),
            }
        }
        assert_eq!(
            shape,
            r##"{"exchanges":{"pending":#,"committed":#,"failed":#,"lost":#},"deliveries":{"pending":#,"delivered":#,"dead":#},"connections":{"active":#,"revoked":#}}"##,
            "{store:?}: exactly the documented shape, in its order"
        );
        let figures: serde_json::Value = serde_json::from_str(&raw).expect("json");
        assert_eq!(
            figures["exchanges"],
            serde_json::json!({"pending": 0, "committed": 1, "failed": 1, "lost": 0}),
            "{store:?}: {figures}"
        );
        assert_eq!(
            figures["connections"],
            serde_json::json!({"active": 0, "revoked": 1}),
            "{store:?}: {figures}"
        );
        let d = &figures["deliveries"];
        assert_eq!(
            (d["pending"].as_i64(), d["dead"].as_i64()),
            (Some(0), Some(0))
        );
        assert!(d["delivered"].as_i64() >= Some(1), "{store:?}: {figures}");
        let text = vault_status(&h, &secret, &[]);
        assert!(
            text.contains("exchanges    pending 0  committed 1  failed 1  lost 0"),
            "{text}"
        );
        assert!(text.contains("connections  active 0  revoked 1"), "{text}");
    }
}

/// One round of `n` callbacks at once, each beginning its exchange and then
/// committing its token, so that they share the writer's batches.
async fn callbacks_at_once(vault: &std::sync::Arc<Vault>, round: usize, n: usize) {
    let flows = (0..n).map(|i| {
        let vault = vault.clone();
        async move {
            let exchange = format!("exchange-{round}-{i}");
            assert!(
                vault
                    .store()
                    .begin_exchange(&exchange)
                    .await
                    .expect("begin")
            );
            let bot = format!("bot-{round}-{i}");
            let commit = Commit {
                exchange_id: Some(exchange.clone()),
                ..new_token(&format!("{bot}:{exchange}"), &bot, "a", false)
            };
            let committed = vault.store().commit(commit).await.expect("commit");
            assert_eq!(committed, Committed::Written);
        }
    });
    futures_join_all(flows).await;
}

#[tokio::test]
async fn postgresql_batches_find_their_rows_by_key_as_the_tables_grow() {
    let (_dir, config) = store_config(Store::Postgres);
    let notion_oauth_gateway::config::StoreBackend::Postgres(pg) = &config.store.backend else {
        panic!("a PostgreSQL store");
    };
    let vault = std::sync::Arc::new(Vault::open(&config.store).await.expect("vault"));
    // While the tables are small the writer's statements are planned (and,
    // left to PostgreSQL, their generic plans cached) for small tables.
    let (rounds, per_round) = (10, 20);
    for round in 0..rounds {
        callbacks_at_once(&vault, round, per_round).await;
    }
    // Then the table grows past what a scan can afford.
    let pool = notion_oauth_gateway::database::postgres::connect(pg, 1)
        .await
        .expect("connect");
    let grown = 20_000;
    sqlx::query(
        "INSERT INTO vault_exchange (exchange_id, started_at, status) \
         SELECT 'old-' || i, 0, 'failed' FROM generate_series(1, $1) AS i",
    )
    .bind(grown)
    .execute(&pool)
    .await
    .expect("grow");
    let figures = "SELECT COALESCE(seq_tup_read, 0)::bigint, COALESCE(n_tup_upd, 0)::bigint \
                   FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'vault_exchange'";
    let read_figures = || async {
        sqlx::query_as::<_, (i64, i64)>(figures)
            .bind(&pg.schema)
            .fetch_one(&pool)
            .await
            .expect("figures")
    };
    let before = read_figures().await;
    let later_rounds = 5;
    for round in rounds..rounds + later_rounds {
        callbacks_at_once(&vault, round, per_round).await;
    }
    // Each backend reports its figures within seconds of going idle: wait
    // until the commits' updates are counted, then read what they scanned.
    let updated = i64::try_from(later_rounds * per_round).expect("small");
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let after = read_figures().await;
        if after.1 - before.1 >= updated || Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        after.1 - before.1 >= updated,
        "the commits' updates were never counted: {before:?} then {after:?}"
    );
    // By key, the later rounds read no row of the grown table in a scan; a
    // scan would read all of it for each batch.
    assert!(
        after.0 - before.0 < i64::from(grown),
        "the writer scanned the whole exchange table: {} rows read by scans for {updated} commits",
        after.0 - before.0
    );
}

/// The page count SQLite keeps in the database file's header (bytes 28..32):
/// it changes only when a checkpoint copies the log into the file.
fn pages_in_file(path: &std::path::Path) -> u32 {
    let bytes = std::fs::read(path).expect("database file");
    let header: [u8; 4] = bytes
        .get(28..32)
        .and_then(|b| b.try_into().ok())
        .expect("a header");
    u32::from_be_bytes(header)
}

#[tokio::test]
async fn sqlite_checkpoints_run_beside_the_writer_soon_after_writes() {
    let (_dir, config) = store_config(Store::Sqlite);
    let notion_oauth_gateway::config::StoreBackend::Sqlite(path) = config.store.backend.clone()
    else {
        panic!("the default store is SQLite");
    };
    let vault = std::sync::Arc::new(Vault::open(&config.store).await.expect("vault"));
    let before = pages_in_file(&path);
    // A few hundred exchange records: some tens of pages in the log, far
    // below the length at which the writer would checkpoint itself.
    let calls = (0..400).map(|i| {
        let vault = vault.clone();
        async move {
            let id = format!("exchange-{i:04}-{}", "x".repeat(60));
            vault.store().begin_exchange(&id).await.expect("begin")
        }
    });
    assert!(futures_join_all(calls).await.into_iter().all(|first| first));
    eventually(
        Duration::from_secs(10),
        "the log copied into the database file",
        async || pages_in_file(&path) > before,
    )
    .await;
}
