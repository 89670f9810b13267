//! A gateway as its own process (the real binary, `serve`), with its config
//! and data in a folder of its own: for tests that kill, signal or run
//! several instances. Its log lines (stderr) can be waited for.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notion_oauth_gateway::secret::ClientSecret;
use notion_oauth_gateway::standin::{self, StandIn, StandInConfig};

use super::process::Running;
use super::{API_KEY, Options};

/// The gateway's binary.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_notion-oauth-gateway");
/// The client secret the processes and their stand-in share.
pub(crate) const SECRET: &str = "handoff-secret";

/// A free loopback port (bound, then let go).
pub(crate) fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// Writes a config owner-only (it names plugin secrets inline).
pub(crate) fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("config");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// One gateway setup on disk: its port, and its config, data and plugins
/// in a folder of its own.
pub(crate) struct Setup {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: PathBuf,
    pub(crate) addr: SocketAddr,
}

impl Setup {
    /// A port and a folder; the config is written by [`Setup::write`].
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self {
            config: dir.path().join("gateway.toml"),
            dir,
            addr: free_port(),
        }
    }

    /// Writes the config for `o`, with Notion at `stand_in`.
    pub(crate) fn write(&self, o: &Options, stand_in: SocketAddr) {
        let text = crate::support::config_text(
            o,
            self.dir.path(),
            &self.addr.to_string(),
            &stand_in.to_string(),
        );
        write_private(&self.config, &text);
    }

    /// A setup for `o` with a stand-in of its own.
    pub(crate) async fn with_stand_in(o: &Options) -> (Self, Arc<StandIn>) {
        let setup = Self::new();
        let (stand_in, addr) = stand_in_for(vec![setup.redirect_uri()]).await;
        setup.write(o, addr);
        (setup, stand_in)
    }

    pub(crate) fn redirect_uri(&self) -> String {
        format!("http://{}/auth/notion/redirect", self.addr)
    }
}

/// A gateway process whose log lines (stderr) can be waited for.
pub(crate) struct Process {
    child: Running,
    lines: Arc<Mutex<Vec<String>>>,
    /// Its process id.
    pub(crate) pid: u32,
}

impl Process {
    pub(crate) fn start(setup: &Setup, failpoints: Option<&str>) -> Self {
        Self::start_with(setup, failpoints, &[])
    }

    /// [`Process::start`] with more environment variables.
    pub(crate) fn start_with(
        setup: &Setup,
        failpoints: Option<&str>,
        env: &[(&str, &str)],
    ) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--config"])
            .arg(&setup.config)
            .env("TEST_SECRET", SECRET)
            .env("TEST_API_KEY", API_KEY)
            .env("TEST_APP_KEY", crate::support::config::APP_KEY)
            .env("TEST_ADMIN_KEY", crate::support::config::ADMIN_KEY)
            .env("NOG_LOG", "info,notion_oauth_gateway::delivery=debug")
            .envs(env.iter().copied())
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
            child: Running(child),
            lines,
            pid,
        };
        p.wait_for("serving");
        p
    }

    pub(crate) fn wait_for(&self, marker: &str) {
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

    pub(crate) fn log(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// SIGTERM, then waits up to `limit` for the process to exit; its exit
    /// status, or `None` if it is still running.
    pub(crate) fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.sigterm();
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends SIGTERM (the first drains, a second exits at once).
    pub(crate) fn sigterm(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
    }

    /// SIGKILL: no destructor, no flush, no goodbye.
    pub(crate) fn kill(self) {
        let _ = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status();
        drop(self);
    }
}

pub(crate) async fn stand_in_for(redirect_uris: Vec<String>) -> (Arc<StandIn>, SocketAddr) {
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

/// Runs the binary with `args` and the config; stdout and stderr together.
pub(crate) fn cli(config: &Path, args: &[&str]) -> String {
    let out = crate::support::process::run_binary(config, args, SECRET);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}
