//! The test that proves several instances work: three gateway processes on
//! one PostgreSQL behind nginx (the `deploy/` sample, round robin, no
//! stickiness), 1,000 flows from many browsers at once, and every 100 flows
//! one instance SIGKILLed at random and started again. No token may be lost
//! silently, no connection stored twice, and flows that crossed instances
//! succeed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::deploy::{nginx_command, render_nginx};
use crate::instances::Cluster;
use crate::support::certs::{Leaf, TestCa};
use crate::support::gateway_process::{Process, cli, free_port};
use crate::support::process::Running;
use crate::support::receiver::Receiver;
use crate::support::{Browser, Options};

const FLOWS: usize = 1000;
const BROWSERS: usize = 24;
const KILL_EVERY: usize = 100;

/// How one flow ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    /// The success page, fetched at its clean URL.
    Connected,
    /// Anything else, with where and what.
    Failed(String),
}

/// One browser's whole flow through the balancer at `public`.
async fn flow(
    public: &str,
    stand_in: &notion_oauth_gateway::standin::StandIn,
    redirect_uri: &str,
) -> Ended {
    let browser = Browser::new(public);
    let c = &browser.client;
    let start = match c.get(format!("{public}/auth/notion/start")).send().await {
        Ok(r) if r.status() == 302 => crate::support::location(&r),
        Ok(r) => return Ended::Failed(format!("start: {}", r.status())),
        Err(e) => return Ended::Failed(format!("start: {e}")),
    };
    let state = crate::support::param(&start, "state");
    let Some(back) = stand_in.approve(redirect_uri, state.as_deref()) else {
        return Ended::Failed("approve".into());
    };
    let page = match c.get(&back).send().await {
        Ok(r) => match crate::support::result_location(&r) {
            Some(page) => page,
            None => return Ended::Failed(format!("callback: {}", r.status())),
        },
        Err(e) => return Ended::Failed(format!("callback: {e}")),
    };
    match c.get(format!("{public}{page}")).send().await {
        Ok(r) if r.status() == 200 => {
            let text = r.text().await.unwrap_or_default();
            if text.contains("Stand-in Workspace") {
                Ended::Connected
            } else {
                Ended::Failed("result page: not the success page".into())
            }
        }
        Ok(r) => Ended::Failed(format!("result page: {}", r.status())),
        Err(e) => Ended::Failed(format!("result page: {e}")),
    }
}

/// `vault status --json` of `config`.
fn status(config: &std::path::Path) -> serde_json::Value {
    let out = cli(config, &["vault", "status", "--json"]);
    let json = out.lines().find(|l| l.starts_with('{')).unwrap_or("{}");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_flows_over_three_instances_behind_nginx_with_sigkills_lose_no_token_silently() {
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new();
    let leaf = ca.leaf(dir.path(), "proxy", Leaf::Valid("proxy"));
    let (port, plain_port) = (free_port().port(), free_port().port());
    let public = format!("https://localhost:{port}");
    let o = Options::webhook_to(receiver.addr)
        .set("server.trusted_proxies", vec!["127.0.0.1/32"])
        .set("notion.timeout_ms", 1000)
        .set("store.lease_seconds", 1)
        .set("store.delivery_initial_backoff_ms", 100)
        .set("store.delivery_max_backoff_ms", 400)
        .without_rate_limits();
    let cluster = Cluster::new(3, o, Some(public.clone())).await;
    let processes: Arc<Mutex<Vec<Option<Process>>>> = Arc::new(Mutex::new(
        cluster
            .setups
            .iter()
            .map(|s| Some(Process::start(s, None)))
            .collect(),
    ));
    let upstreams: Vec<_> = cluster.setups.iter().map(|s| s.addr).collect();
    // An instance that failed is tried again after a second: these kills
    // come far faster than a real deployment's, and the sample's 5 s would
    // soon mark every instance down.
    let conf = render_nginx(
        dir.path(),
        &leaf.cert,
        &leaf.key,
        (port, plain_port),
        &upstreams,
        "max_fails=2 fail_timeout=1s",
    );
    let _nginx = Running(
        nginx_command(dir.path(), &conf, "daemon off;", &[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx"),
    );
    let health = Browser::new(&public);
    let begun = Instant::now();
    loop {
        if let Ok(r) = health.client.get(format!("{public}/readyz")).send().await
            && r.status() == 404
        {
            break; // nginx answers (the sample hides /readyz from the internet)
        }
        assert!(
            begun.elapsed() < Duration::from_secs(20),
            "nginx did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The killer: every 100 finished flows, one instance at random, SIGKILL,
    // then started again on its port.
    let done = Arc::new(AtomicUsize::new(0));
    let kills = Arc::new(Mutex::new(Vec::new()));
    let restarted_at = Arc::new(Mutex::new(Instant::now()));
    let killer = {
        let (done, kills, processes) = (done.clone(), kills.clone(), processes.clone());
        let restarted_at = restarted_at.clone();
        std::thread::spawn(move || {
            let mut next = KILL_EVERY;
            while next < FLOWS {
                if done.load(Ordering::SeqCst) < next {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                // One at a time: the last victim is serving again, and
                // nginx has tried it again, first.
                let mut all = processes.lock().expect("processes");
                let settled =
                    restarted_at.lock().expect("at").elapsed() > Duration::from_millis(1500);
                if all.iter().any(Option::is_none) || !settled {
                    drop(all);
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                let victim = rand::random_range(0..3usize);
                if let Some(p) = all[victim].take() {
                    p.kill();
                }
                drop(all);
                kills.lock().expect("kills").push(victim);
                next += KILL_EVERY;
            }
        })
    };
    let outcomes = Arc::new(Mutex::new(Vec::with_capacity(FLOWS)));
    let next_flow = Arc::new(AtomicUsize::new(0));
    let mut browsers = Vec::new();
    for _ in 0..BROWSERS {
        let (public, stand_in, redirect) = (
            public.clone(),
            cluster.stand_in.clone(),
            cluster.redirect_uri.clone(),
        );
        let (outcomes, next_flow, done) = (outcomes.clone(), next_flow.clone(), done.clone());
        browsers.push(tokio::spawn(async move {
            while next_flow.fetch_add(1, Ordering::SeqCst) < FLOWS {
                let ended = flow(&public, &stand_in, &redirect).await;
                outcomes.lock().expect("outcomes").push(ended);
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    // Whoever was killed is started again at once on its port, as a
    // supervisor would, while the browsers run.
    loop {
        let dead: Vec<usize> = {
            let p = processes.lock().expect("processes");
            (0..3).filter(|i| p[*i].is_none()).collect()
        };
        for i in dead {
            let setup = &cluster.setups[i];
            let started = tokio::task::block_in_place(|| Process::start(setup, None));
            processes.lock().expect("processes")[i] = Some(started);
            *restarted_at.lock().expect("at") = Instant::now();
        }
        if browsers.iter().all(|b| b.is_finished()) && killer.is_finished() {
            let p = processes.lock().expect("processes");
            if p.iter().all(Option::is_some) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for b in browsers {
        b.await.expect("browser");
    }
    killer.join().expect("killer");

    // Let the instances finish: deliveries retried, lost exchanges counted.
    let config = &cluster.setups[0].config;
    let settled = Instant::now();
    let figures = loop {
        let s = status(config);
        if s["exchanges"]["pending"] == 0 && s["deliveries"]["pending"] == 0 {
            break s;
        }
        assert!(
            settled.elapsed() < Duration::from_secs(90),
            "not settled: {s}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    let outcomes = outcomes.lock().expect("outcomes").clone();
    let connected = outcomes.iter().filter(|e| **e == Ended::Connected).count();
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for e in &outcomes {
        if let Ended::Failed(why) = e {
            *failures.entry(why.clone()).or_default() += 1;
        }
    }
    let issued: BTreeSet<String> = cluster.stand_in.issued_bot_ids().into_iter().collect();
    let mut keys_by_bot: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in receiver.requests() {
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("webhook body");
        let bot = body["bot_id"].as_str().expect("bot_id").to_string();
        let key = r
            .header("idempotency-key")
            .expect("idempotency-key")
            .to_string();
        keys_by_bot.entry(bot).or_default().insert(key);
    }
    let delivered: BTreeSet<String> = keys_by_bot.keys().cloned().collect();
    let lost = figures["exchanges"]["lost"].as_u64().expect("lost") as usize;
    let committed = figures["exchanges"]["committed"]
        .as_u64()
        .expect("committed") as usize;
    let active = figures["connections"]["active"].as_u64().expect("active") as usize;
    let report = format!(
        "flows {FLOWS}, connected {connected}, failed {:?}; kills {:?}; tokens issued {}, delivered {} ({} webhook requests), lost (counted) {lost}; exchanges {}, deliveries {}, connections {}",
        failures,
        kills.lock().expect("kills"),
        issued.len(),
        delivered.len(),
        receiver.requests().len(),
        figures["exchanges"],
        figures["deliveries"],
        figures["connections"],
    );
    eprintln!("{report}");
    if connected < FLOWS - 9 * BROWSERS {
        // nginx's own account of what failed, for the failure message.
        let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        let _ = std::fs::write(std::env::temp_dir().join("balanced-nginx-error.log"), &log);
    }
    assert_eq!(
        kills.lock().expect("kills").len(),
        FLOWS / KILL_EVERY - 1,
        "{report}"
    );
    assert!(
        delivered.is_subset(&issued),
        "delivered only what Notion issued: {report}"
    );
    let silent: Vec<&String> = issued.difference(&delivered).collect();
    assert!(
        silent.len() <= lost,
        "every issued token delivered or counted lost ({} neither): {report}",
        silent.len() - lost.min(silent.len())
    );
    for (bot, keys) in &keys_by_bot {
        assert_eq!(
            keys.len(),
            1,
            "{bot} stored under one idempotency key: {report}"
        );
    }
    assert_eq!(
        committed, active,
        "one connection per committed exchange: {report}"
    );
    assert_eq!(
        active,
        delivered.len(),
        "each connection delivered: {report}"
    );
    assert_eq!(figures["deliveries"]["dead"], 0, "{report}");
    // A flow in flight at a killed instance may fail; every other flow
    // crossed instances (round robin) and must succeed.
    assert!(connected >= FLOWS - 9 * BROWSERS, "{report}");
}
