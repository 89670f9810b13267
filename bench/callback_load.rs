//! Callback load generator for `make bench` (see bench/run.sh, which starts
//! the servers): the redirect path alone, as Notion's redirect would hit it.
//!
//! First it pre-issues (state, binding cookie) pairs through the gateway's
//! start route, then replays each pair once against the callback with a
//! fresh code, over a fixed number of keep-alive connections, for a bounded
//! time; the stand-in (`stand-in --any-code`) redeems any code with its own
//! bot id and tokens. Pointed at the bare forwarder (bench/forwarder.rs) it
//! sends the same requests, which the forwarder turns into the same token
//! POST. Prints callbacks/s, p50/p99, and, given `--pid`, the CPU the
//! server used per callback (from /proc/PID/stat before and after). It
//! also prints what the whole machine spent per callback and how much of
//! it stood idle (from /proc/stat), and, given `--database NAME`, the CPU
//! of the local processes of that name (a database server's, its finished
//! connections included), so a line says where a callback's cost went:
//! the server, its database, or everything else (this generator, the
//! stand-in, the kernel).
//!
//! Run: cargo run --release --example callback-load -- --target URL --gateway URL --name NAME

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

struct Args {
    /// Where callbacks go (the gateway, or the forwarder).
    target: String,
    /// The gateway whose start route issues the pairs.
    gateway: String,
    name: String,
    seconds: u64,
    connections: usize,
    callbacks: usize,
    pid: Option<u32>,
    /// The process name of a local database server to account for.
    database: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        target: String::new(),
        gateway: String::new(),
        name: "callbacks".into(),
        seconds: 10,
        connections: 32,
        callbacks: 40_000,
        pid: None,
        database: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--target" => a.target = value,
            "--gateway" => a.gateway = value,
            "--name" => a.name = value,
            "--seconds" => a.seconds = value.parse()?,
            "--connections" => a.connections = value.parse()?,
            "--callbacks" => a.callbacks = value.parse()?,
            "--pid" => a.pid = Some(value.parse()?),
            "--database" => a.database = Some(value),
            _ => bail!("unknown flag {flag}"),
        }
    }
    if a.target.is_empty() || a.gateway.is_empty() {
        bail!(
            "usage: callback-load --target URL --gateway URL [--name N] [--seconds N] [--connections N] [--callbacks N] [--pid PID] [--database PROCESS-NAME]"
        );
    }
    Ok(a)
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    sender: http1::SendRequest<Empty<Bytes>>,
    host: String,
}

impl Conn {
    async fn open(base: &str) -> Result<Self> {
        let url = url::Url::parse(base)?;
        let host = format!(
            "{}:{}",
            url.host_str().context("no host")?,
            url.port_or_known_default().context("no port")?
        );
        let stream = tokio::net::TcpStream::connect(&host).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self { sender, host })
    }

    /// GET `path`; returns the status and the response's headers.
    async fn get(&mut self, path: &str, cookie: Option<&str>) -> Result<(u16, hyper::HeaderMap)> {
        self.sender.ready().await?;
        let mut req = hyper::Request::get(path).header(hyper::header::HOST, &self.host);
        if let Some(cookie) = cookie {
            req = req.header(hyper::header::COOKIE, cookie);
        }
        let response = self.sender.send_request(req.body(Empty::new())?).await?;
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        body.collect().await?;
        Ok((status, parts.headers))
    }
}

/// A pre-issued pair: the state for the query, the cookie to send.
struct Pair {
    state: String,
    cookie: String,
}

async fn issue(conn: &mut Conn) -> Result<Pair> {
    let (status, headers) = conn.get("/auth/notion/start", None).await?;
    if status != 302 {
        bail!("the start route answered {status}");
    }
    let location = headers
        .get(hyper::header::LOCATION)
        .context("no location")?
        .to_str()?;
    let state = url::Url::parse(location)?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .context("no state")?;
    let cookie = headers
        .get(hyper::header::SET_COOKIE)
        .context("no binding cookie")?
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(Pair { state, cookie })
}

/// Issues `n` pairs over `connections` connections.
async fn issue_pairs(a: &Args) -> Result<Vec<Pair>> {
    let per = a.callbacks.div_ceil(a.connections);
    let mut tasks = Vec::new();
    for _ in 0..a.connections {
        let gateway = a.gateway.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&gateway).await?;
            let mut pairs = Vec::with_capacity(per);
            for _ in 0..per {
                pairs.push(issue(&mut conn).await?);
            }
            anyhow::Ok(pairs)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.truncate(a.callbacks);
    Ok(all)
}

/// USER_HZ, the unit of /proc's CPU times (100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// A process's name (field 2 of stat(5)) and its /proc/PID/stat fields
/// from field 3 on.
fn stat_of(pid: &str) -> Result<(String, Vec<String>)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (head, after_name) = stat.rsplit_once(')').context("bad stat")?;
    let name = head.split_once('(').context("bad stat")?.1.to_string();
    Ok((
        name,
        after_name.split_whitespace().map(String::from).collect(),
    ))
}

/// The sum of stat(5) fields `first..=last` (CPU times, in ticks).
fn ticks(fields: &[String], first: usize, last: usize) -> Result<u64> {
    (first..=last)
        .map(|n| {
            let field = fields
                .get(n - 3)
                .with_context(|| format!("no stat field {n}"))?;
            field
                .parse::<u64>()
                .with_context(|| format!("stat field {n} is {field:?}"))
        })
        .sum()
}

/// utime + stime (fields 14 and 15) of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let (_, fields) = stat_of(&pid.to_string())?;
    Ok(ticks(&fields, 14, 15)? as f64 / TICKS_PER_SECOND)
}

/// The CPU, in seconds, of every process named `name`, with what their
/// finished children used (a database server's closed connections), or
/// `None` if no such process is visible.
fn named_cpu_seconds(name: &str) -> Result<Option<f64>> {
    let mut total = 0;
    let mut seen = false;
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let pid = entry.file_name();
        let Some(pid) = pid
            .to_str()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        // A process may end between the listing and the read.
        let Ok((comm, fields)) = stat_of(pid) else {
            continue;
        };
        if comm == name {
            seen = true;
            // utime, stime, cutime, cstime: fields 14 to 17.
            total += ticks(&fields, 14, 17)?;
        }
    }
    Ok(seen.then_some(total as f64 / TICKS_PER_SECOND))
}

/// The whole machine's busy and idle CPU so far, in seconds (/proc/stat).
fn machine_seconds() -> Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let cpu = stat.lines().next().context("empty /proc/stat")?;
    let t: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("bad /proc/stat")?;
    // user nice system idle iowait irq softirq (steal is not ours)
    let [user, nice, system, idle, iowait, irq, softirq, ..] = t[..] else {
        bail!("/proc/stat has fewer than 7 cpu fields");
    };
    let seconds = |ticks: u64| ticks as f64 / TICKS_PER_SECOND;
    Ok((
        seconds(user + nice + system + irq + softirq),
        seconds(idle + iowait),
    ))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = parse_args()?;
    let pairs = Arc::new(issue_pairs(&a).await?);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = a.pid.map(cpu_seconds).transpose()?;
    let database_before = a
        .database
        .as_deref()
        .map(named_cpu_seconds)
        .transpose()?
        .flatten();
    let machine_before = machine_seconds()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.seconds);
    let mut tasks = Vec::new();
    for _ in 0..a.connections {
        let (pairs, next, target) = (pairs.clone(), next.clone(), a.target.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target).await?;
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(pair) = pairs.get(i) else { break };
                let path = format!(
                    "/auth/notion/redirect?code=bench-{i}-{}&state={}",
                    std::process::id(),
                    pair.state
                );
                let t = Instant::now();
                match conn.get(&path, Some(&pair.cookie)).await {
                    Ok((status, _)) if (200..400).contains(&status) && status != 202 => {
                        latencies.push(t.elapsed());
                    }
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = Conn::open(&target).await?;
                    }
                }
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await??;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    let cpu = match (a.pid, cpu_before) {
        (Some(pid), Some(before)) => Some(cpu_seconds(pid)? - before),
        _ => None,
    };
    let database = match (a.database.as_deref(), database_before) {
        (Some(name), Some(before)) => named_cpu_seconds(name)?.map(|after| (name, after - before)),
        _ => None,
    };
    let machine_after = machine_seconds()?;
    let (busy, idle) = (
        machine_after.0 - machine_before.0,
        machine_after.1 - machine_before.1,
    );
    latencies.sort();
    let n = latencies.len();
    let rate = n as f64 / elapsed.as_secs_f64();
    let per_callback = |seconds: f64| seconds * 1e3 / (n + errors).max(1) as f64;
    let mut cpu_text = cpu.map_or(String::new(), |c| {
        format!("  cpu {:.3} ms/callback", per_callback(c))
    });
    if let Some((name, seconds)) = database {
        cpu_text += &format!("  {name} {:.3} ms/callback", per_callback(seconds));
    }
    cpu_text += &format!(
        "  machine {:.3} ms/callback, {:.0}% idle",
        per_callback(busy),
        100.0 * idle / (busy + idle).max(f64::MIN_POSITIVE)
    );
    // One line, read by bench/run.sh: name, then key=value pairs.
    println!(
        "{:<28} {:>7.0} callbacks/s  p50 {:>6.2} ms  p99 {:>6.2} ms{cpu_text}  ({n} ok, {errors} failed, {} connections)",
        a.name,
        rate,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        a.connections,
    );
    if errors > 0 && n == 0 {
        bail!("every callback failed");
    }
    Ok(())
}
