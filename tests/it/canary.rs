//! Checklist row 9 (nothing secret in logs, pages, headers or URLs) and row
//! 20 (no token in any response): every path through the gateway, the happy
//! one and every fault, runs with canary values for the client secret
//! (`CANARY_SECRET_…`), the codes (`CANARY_CODE_…`) and the tokens
//! (`CANARY_TOKEN_…`, `CANARY_REFRESH_…`). Every log line at every level,
//! every panic message, and every status line, header and body the gateway
//! sent is captured, and none may hold a canary.
//!
//! One test function, so the process-wide log capture sees only this run.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Browser, Harness, Options, param, with_param};
use notion_oauth_gateway::standin::Fault;

/// Everything the gateway wrote to its logs in this process.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the gateway answered, as text: status, every header, the body.
#[derive(Default)]
struct Answers(Vec<(String, String)>);

impl Answers {
    async fn record(&mut self, what: &str, r: reqwest::Response) -> (u16, String) {
        let status = r.status().as_u16();
        let mut text = format!("HTTP {status}\n");
        for (name, value) in r.headers() {
            text.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        let body = r.text().await.unwrap_or_default();
        text.push_str(&body);
        self.0.push((what.to_string(), text));
        (status, body)
    }

    /// The whole flow in `b`, recording the gateway's answers.
    async fn connect(&mut self, what: &str, b: &Browser, query: &str) -> (u16, String) {
        let start = b
            .get(&format!("{}/auth/notion/start{query}", b.gateway_url))
            .await;
        let authorize = crate::support::location(&start);
        self.record(&format!("{what}: start"), start).await;
        let back = b.consent(&authorize, "allow").await;
        let r = b.get(&back).await;
        self.record(&format!("{what}: callback"), r).await
    }
}

const CANARIES: [&str; 4] = [
    "CANARY_SECRET",
    "CANARY_CODE",
    "CANARY_TOKEN",
    "CANARY_REFRESH",
];

#[tokio::test]
async fn row09_row20_no_canary_reaches_a_log_line_page_header_or_url() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,notion_oauth_gateway=trace,plugin=trace,access=trace,cranelift=info,wasmtime=info,wasmtime_cranelift=info",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let panics = Captured::default();
    let panic_writer = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = writeln!(panic_writer.clone(), "{info}");
        default_hook(info);
    }));

    let mut answers = Answers::default();

    // The happy path, app data included, and a replay of it.
    let h = Harness::start(Options::default()).await;
    let b = h.browser();
    let (status, _) = answers.connect("success", &b, "?data=user-1").await;
    assert_eq!(status, 200);
    let back = b.approved("").await;
    let r = b.get(&back).await;
    answers.record("second success", r).await;
    let r = b.get(&back).await;
    let (status, _) = answers.record("replay", r).await;
    assert_eq!(status, 400);

    // Denial, forged and expired states, another browser, hostile values.
    let authorize = b.start("").await;
    let denied = b.consent(&authorize, "deny").await;
    let r = b.get(&denied).await;
    answers.record("denied", r).await;
    let back = b.approved("").await;
    let forged = with_param(&back, "state", "forged");
    let r = b.get(&forged).await;
    answers.record("forged state", r).await;
    let r = h.browser().get(&back).await;
    answers.record("other browser", r).await;
    let code = param(&back, "code").expect("code");
    let r = b
        .get(&format!(
            "{}?code={code}&error=%3Cscript%3E&state=x",
            h.redirect_uri
        ))
        .await;
    answers.record("code and script error", r).await;
    h.clock.advance(601);
    let r = b.get(&back).await;
    answers.record("expired", r).await;

    // Every way Notion's token endpoint can fail, with the token in the body
    // where a careless client would log it.
    let h = Harness::start(Options::default().set("notion.timeout_ms", 500)).await;
    let faults = [
        Fault::notion_error(400, "invalid_grant", "Invalid code: CANARY_CODE_in_message"),
        Fault::rfc_error(401, "invalid_client"),
        Fault::raw(500, "{\"access_token\": \"CANARY_TOKEN_in_500\"}"),
        Fault::raw(
            200,
            "{\"access_token\": \"CANARY_TOKEN_truncated\", \"bot_id\": ",
        ),
        Fault::raw(200, "<html>CANARY_TOKEN_in_html</html>"),
        Fault::raw(
            200,
            "{\"access_token\": \"CANARY_TOKEN_bad_owner\", \"bot_id\": \"b\", \"workspace_id\": \"w\", \"owner\": {\"type\": \"CANARY_TOKEN_bad_owner\"}}",
        ),
        Fault::Respond {
            status: 307,
            body: Vec::new(),
            headers: vec![(
                "location".into(),
                format!(
                    "{}/v1/oauth/token?code=CANARY_CODE_redirect",
                    h.stand_in_url
                ),
            )],
        },
        Fault::Respond {
            status: 429,
            body: b"{\"error\":\"rate_limited\",\"access_token\":\"CANARY_TOKEN_429\"}".to_vec(),
            headers: vec![("retry-after".into(), "3600".into())],
        },
        Fault::Delay(Duration::from_secs(2)),
    ];
    for (i, fault) in faults.into_iter().enumerate() {
        h.stand_in.push_fault(fault);
        let (status, _) = answers
            .connect(&format!("notion fault {i}"), &h.browser(), "")
            .await;
        assert!(status >= 400, "fault {i} answered {status}");
    }

    // Notion unreachable, and a wrong client secret.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let h = Harness::start(Options {
        api_base_url: Some(format!("http://127.0.0.1:{port}")),
        ..Options::default()
    })
    .await;
    answers.connect("unreachable", &h.browser(), "").await;
    let h = Harness::start(Options {
        stand_in_secret: Some("another-secret".into()),
        ..Options::default()
    })
    .await;
    answers.connect("wrong secret", &h.browser(), "").await;

    // Plugins that fail in every way, and a view that echoes what it gets.
    for (role, mode) in [
        ("consumer", "error"),
        ("consumer", "trap"),
        ("consumer", "log-token"),
        ("view", "trap"),
        ("view", "hostile-headers"),
    ] {
        let h = Harness::start(Options::faulty(role, mode)).await;
        answers
            .connect(&format!("{role} {mode}"), &h.browser(), "")
            .await;
    }
    let h = Harness::start(Options::with_plugins("default-consumer", "echo-view")).await;
    answers.connect("echo view", &h.browser(), "?data=d").await;

    // Give background tasks a moment to log, then look.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs =
        String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let panics =
        String::from_utf8_lossy(&panics.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(
        logs.lines().count() > 100,
        "the log capture saw too little to prove anything:\n{logs}"
    );
    assert!(
        logs.contains("Notion issued a token") && logs.contains("callback failed"),
        "the capture must hold the gateway's own lines"
    );
    for canary in CANARIES {
        for line in logs.lines() {
            assert!(!line.contains(canary), "{canary} in a log line: {line}");
        }
        assert!(!panics.contains(canary), "{canary} in a panic: {panics}");
        for (what, answer) in &answers.0 {
            assert!(
                !answer.contains(canary),
                "{canary} in the gateway's answer to {what}:\n{answer}"
            );
        }
    }
    assert!(answers.0.len() >= 30, "{} answers", answers.0.len());
    eprintln!(
        "checked {} log lines and {} answers for canaries",
        logs.lines().count(),
        answers.0.len()
    );
}
