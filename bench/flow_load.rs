//! Load generator for `make bench` (see bench/run.sh, which starts the servers).
//!
//! Drives whole OAuth flows through a running gateway and its Notion stand-in
//! on loopback (start -> stand-in consent -> callback), then the stand-in's
//! token endpoint alone, each for a bounded time, and prints requests/s and
//! latency percentiles for both, so their ratio shows the gateway's overhead.
//!
//! Run: cargo run --release --example flow-load -- --gateway URL --stand-in URL --secret S

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine as _;

struct Args {
    gateway: String,
    stand_in: String,
    client_id: String,
    secret: String,
    seconds: u64,
    concurrency: usize,
    /// What the whole-flow lines are called (the plugins under test).
    label: String,
    /// Whether to measure the stand-in's token endpoint alone too.
    stand_in_alone: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        gateway: String::new(),
        stand_in: String::new(),
        client_id: "bench-client".into(),
        secret: String::new(),
        seconds: 10,
        concurrency: 16,
        label: "default plugins".into(),
        stand_in_alone: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--gateway" => a.gateway = value,
            "--stand-in" => a.stand_in = value,
            "--client-id" => a.client_id = value,
            "--secret" => a.secret = value,
            "--seconds" => a.seconds = value.parse()?,
            "--concurrency" => a.concurrency = value.parse()?,
            "--label" => a.label = value,
            "--stand-in-alone" => a.stand_in_alone = value.parse()?,
            _ => bail!("unknown flag {flag}"),
        }
    }
    if a.gateway.is_empty() || a.stand_in.is_empty() || a.secret.is_empty() {
        bail!(
            "usage: flow-load --gateway URL --stand-in URL --secret S [--seconds N] [--concurrency N]"
        );
    }
    Ok(a)
}

fn client(cookies: bool) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?)
}

fn location(r: &reqwest::Response) -> Result<String> {
    Ok(r.headers()
        .get("location")
        .context("no location")?
        .to_str()?
        .to_string())
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Asks the stand-in for a code as its "Allow" button does; returns the callback URL.
async fn approve(
    c: &reqwest::Client,
    stand_in: &str,
    client_id: &str,
    redirect_uri: &str,
    state: Option<&str>,
) -> Result<String> {
    let mut form = vec![
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("decision", "allow"),
    ];
    if let Some(s) = state {
        form.push(("state", s));
    }
    let r = c
        .post(format!("{stand_in}/v1/oauth/authorize"))
        .form(&form)
        .send()
        .await?;
    location(&r)
}

/// One whole flow; returns (flow latency, callback latency).
async fn one_flow(c: &reqwest::Client, a: &Args) -> Result<(Duration, Duration)> {
    let t0 = Instant::now();
    let r = c
        .get(format!("{}/auth/notion/start", a.gateway))
        .send()
        .await?;
    let authorize = location(&r)?;
    let redirect_uri = query_param(&authorize, "redirect_uri").context("redirect_uri")?;
    let state = query_param(&authorize, "state");
    let back = approve(
        c,
        &a.stand_in,
        &a.client_id,
        &redirect_uri,
        state.as_deref(),
    )
    .await?;
    let t1 = Instant::now();
    let r = c.get(&back).send().await?;
    // The callback answers 303 to a clean URL where its page is fetched once.
    let r = match r.status().as_u16() {
        303 => {
            let location = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .context("303 without a location")?
                .to_string();
            c.get(format!("{}{location}", a.gateway)).send().await?
        }
        _ => r,
    };
    if r.status() != 200 {
        bail!("callback answered {}", r.status());
    }
    r.bytes().await?;
    Ok((t0.elapsed(), t1.elapsed()))
}

/// One token exchange at the stand-in alone; returns its latency.
async fn one_exchange(
    c: &reqwest::Client,
    a: &Args,
    redirect_uri: &str,
    basic: &str,
) -> Result<Duration> {
    let back = approve(c, &a.stand_in, &a.client_id, redirect_uri, None).await?;
    let code = query_param(&back, "code").context("code")?;
    let body = serde_json::json!({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri});
    let t = Instant::now();
    let r = c
        .post(format!("{}/v1/oauth/token", a.stand_in))
        .header("authorization", basic)
        .header("notion-version", "2026-03-11")
        .json(&body)
        .send()
        .await?;
    if r.status() != 200 {
        bail!("token endpoint answered {}", r.status());
    }
    r.bytes().await?;
    Ok(t.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut lat: Vec<Duration>, errors: usize, elapsed: Duration) {
    lat.sort_unstable();
    println!(
        "{name:<28} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} ok, {} errors)",
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.len(),
        errors
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = std::sync::Arc::new(parse_args()?);
    let window = Duration::from_secs(a.seconds);

    // Whole flows through the gateway.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let c = client(true)?;
            let (mut flows, mut callbacks, mut errors) = (Vec::new(), Vec::new(), 0usize);
            while started.elapsed() < window {
                match one_flow(&c, &a).await {
                    Ok((f, cb)) => {
                        flows.push(f);
                        callbacks.push(cb);
                    }
                    Err(_) => errors += 1,
                }
            }
            anyhow::Ok((flows, callbacks, errors))
        }));
    }
    let (mut flows, mut callbacks, mut errors) = (Vec::new(), Vec::new(), 0);
    for t in tasks {
        let (f, c, e) = t.await??;
        flows.extend(f);
        callbacks.extend(c);
        errors += e;
    }
    let elapsed = started.elapsed();
    report(&format!("whole flow, {}", a.label), flows, errors, elapsed);
    report(
        &format!("  its callback, {}", a.label),
        callbacks,
        0,
        elapsed,
    );
    if !a.stand_in_alone {
        return Ok(());
    }

    // The stand-in's token endpoint alone, for comparison.
    let redirect_uri = format!("{}/auth/notion/redirect", a.gateway);
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", a.client_id, a.secret))
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let (a, redirect_uri, basic) = (a.clone(), redirect_uri.clone(), basic.clone());
        tasks.push(tokio::spawn(async move {
            let c = client(false)?;
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            while started.elapsed() < window {
                match one_exchange(&c, &a, &redirect_uri, &basic).await {
                    Ok(d) => lat.push(d),
                    Err(_) => errors += 1,
                }
            }
            anyhow::Ok((lat, errors))
        }));
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await??;
        lat.extend(l);
        errors += e;
    }
    report("stand-in: token endpoint", lat, errors, started.elapsed());
    Ok(())
}
