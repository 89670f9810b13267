//! Child processes in tests: killed when dropped, and read line by line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Kills a child process when dropped, so a failing test leaves nothing behind.
pub(crate) struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a child's stdout lines until one contains `marker`, within 30 s.
pub(crate) fn wait_for_line(child: &mut Child, marker: &'static str) -> String {
    let lines = read_until(child, marker);
    lines.lines().last().unwrap_or_default().to_string()
}

/// A child's stdout, line by line, read on a thread that keeps reading
/// to the end (as a terminal would) whether or not anyone asks.
pub(crate) struct StdoutLines(mpsc::Receiver<String>);

impl StdoutLines {
    /// Starts reading `child`'s stdout.
    pub(crate) fn of(child: &mut Child) -> Self {
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self(rx)
    }

    /// The lines not yet taken, up to and including the first that
    /// contains `marker`, within `within`.
    pub(crate) fn until(&self, marker: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        let mut seen = String::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if line.contains(marker) {
                        return seen;
                    }
                }
                Err(_) => panic!("no line with {marker:?} within {within:?}; saw:\n{seen}"),
            }
        }
    }
}

/// A child's stdout up to and including the first line that contains
/// `marker`, within 30 s.
pub(crate) fn read_until(child: &mut Child, marker: &'static str) -> String {
    StdoutLines::of(child).until(marker, Duration::from_secs(30))
}

/// Starts `notion-oauth-gateway dev` (binary `bin`) with its data in `data`;
/// the running demo and its landing page URL.
pub(crate) fn dev_demo(bin: &str, data: &Path) -> (Running, String) {
    dev_demo_with(bin, data, &[]).0
}

/// [`dev_demo`] with more arguments (`--consumer X`, say); also the lines
/// `dev` printed before its URL.
pub(crate) fn dev_demo_with(bin: &str, data: &Path, args: &[&str]) -> ((Running, String), String) {
    let (running, url, printed, _lines) = dev_demo_streaming(bin, data, args, &[]);
    ((running, url), printed)
}

/// [`dev_demo_with`] with `envs` set, waiting up to a minute for its URL
/// (`--watch` builds first); also the rest of its stdout, to read on.
pub(crate) fn dev_demo_streaming(
    bin: &str,
    data: &Path,
    args: &[&str],
    envs: &[(&str, &Path)],
) -> (Running, String, String, StdoutLines) {
    let mut child = Running(
        Command::new(bin)
            .args([
                "dev",
                "--listen",
                "127.0.0.1:0",
                "--stand-in-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data)
            .args(args)
            .envs(envs.iter().copied())
            .current_dir(super::repo())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dev"),
    );
    let lines = StdoutLines::of(&mut child.0);
    let printed = lines.until("Open http://", Duration::from_secs(60));
    let line = printed
        .lines()
        .find(|l| l.contains("Open http://"))
        .expect("the URL line")
        .to_string();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url")
        .trim_end_matches('/')
        .to_string();
    (child, url, printed, lines)
}

/// Runs the gateway's binary with `args` and `--config config`, the test
/// secrets in its environment (`TEST_SECRET` is `secret`); its output, once
/// it has exited 0.
pub(crate) fn run_binary(config: &Path, args: &[&str], secret: &str) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_notion-oauth-gateway"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("TEST_SECRET", secret)
        .env("TEST_API_KEY", super::API_KEY)
        .env("TEST_APP_KEY", super::config::APP_KEY)
        .output()
        .expect("run the gateway's binary");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
