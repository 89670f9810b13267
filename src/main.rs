//! The `notion-oauth-gateway` command: parses flags, loads and checks the
//! config before binding anything, and hands over to the library.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use notion_oauth_gateway::Gateway;
use notion_oauth_gateway::config::{Config, ConfigProblem, LogFormat, process_env};
use notion_oauth_gateway::demo::{self, Demo, DemoOptions, DevGrant};
use notion_oauth_gateway::log_sink::LogSink;
use notion_oauth_gateway::plugins::{PluginFailure, Plugins, list_components};
use notion_oauth_gateway::scaffold::{Language, World, new_plugin};
use notion_oauth_gateway::secret::ClientSecret;
use notion_oauth_gateway::standin::{self, StandInConfig};
use notion_oauth_gateway::trial::{self, Inputs, TrialOptions};
use tokio::net::TcpListener;

mod allocator;
mod cli;

/// Runs the OAuth flow of a Notion public integration, with the app's logic as
/// WebAssembly component plugins.
#[derive(Parser)]
#[command(name = "notion-oauth-gateway", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// The config file.
        #[arg(long, short, env = "NOG_CONFIG", default_value = "config/gateway.toml")]
        config: PathBuf,
    },
    /// Check the config and load every plugin it names; exit 1 listing each problem.
    Check {
        /// The config file.
        #[arg(long, short, env = "NOG_CONFIG", default_value = "config/gateway.toml")]
        config: PathBuf,
    },
    /// Inspect the plugins folder, or scaffold a new plugin (`plugin new`).
    #[command(visible_alias = "plugin")]
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Run the local demo: the gateway plus a stand-in for Notion, on loopback.
    Dev {
        /// The gateway's address.
        #[arg(long, default_value = "127.0.0.1:8000")]
        listen: SocketAddr,
        /// The Notion stand-in's address.
        #[arg(long, default_value = "127.0.0.1:8001")]
        stand_in_listen: SocketAddr,
        /// The plugins folder.
        #[arg(long, default_value = "plugins")]
        plugins_dir: PathBuf,
        /// The demo's data folder.
        #[arg(long, default_value = "data/dev")]
        data_dir: PathBuf,
        /// The consumer plugin.
        #[arg(long, default_value = "default-consumer")]
        consumer: String,
        /// The view plugin (try `echo-view`).
        #[arg(long, default_value = "default-view")]
        view: String,
        /// Grant a plugin more than its manifest asks for, within the demo:
        /// `NAME:keyvalue` or `NAME:http=HOST[:PORT]` (loopback hosts only).
        #[arg(long = "grant", value_name = "NAME:WHAT")]
        grants: Vec<DevGrant>,
        /// Rebuild the consumer and the view (`make` in plugins/<NAME>/) when
        /// their sources change; the demo swaps each new build in.
        #[arg(long)]
        watch: bool,
    },
    /// The vault's tokens: list, show, refresh, revoke (values are never printed).
    Tokens {
        #[command(flatten)]
        config: ConfigFile,
        #[command(subcommand)]
        command: cli::tokens::TokensCommand,
    },
    /// The vault's figures across every instance: `vault status [--json]`.
    Vault {
        #[command(flatten)]
        config: ConfigFile,
        #[command(subcommand)]
        command: cli::vault::VaultCommand,
    },
    /// The vault's encryption keys.
    Keys {
        #[command(flatten)]
        config: ConfigFile,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Ask a probe (e.g. http://127.0.0.1:8000/readyz) and exit 0 only on a
    /// 2xx answer: a container health check that needs no curl.
    Probe {
        /// The probe's URL.
        url: String,
        /// How long to wait for the answer, in seconds.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Run only the local stand-in for Notion's OAuth endpoints.
    StandIn {
        /// Where to listen (loopback recommended).
        #[arg(long, default_value = "127.0.0.1:8001")]
        listen: SocketAddr,
        /// The OAuth client id to accept.
        #[arg(long, default_value = "stand-in-client")]
        client_id: String,
        /// The environment variable holding the client secret to accept.
        #[arg(long, default_value = "NOG_STAND_IN_CLIENT_SECRET")]
        client_secret_env: String,
        /// A redirect URI to accept (repeat for several).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Redeem any code once, issued or not (for load tests that replay
        /// callbacks without the consent page).
        #[arg(long)]
        any_code: bool,
    },
}

/// `--config FILE`, accepted before or after a subcommand.
#[derive(clap::Args)]
struct ConfigFile {
    /// The config file.
    #[arg(
        long = "config",
        short = 'c',
        env = "NOG_CONFIG",
        default_value = "config/gateway.toml",
        global = true
    )]
    path: PathBuf,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Put a new key first (in a key file) and re-seal every stored token with it.
    Rotate,
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// List the components in the plugins folder and the world(s) each implements.
    List {
        /// The config file.
        #[arg(long, short, env = "NOG_CONFIG", default_value = "config/gateway.toml")]
        config: PathBuf,
    },
    /// Write a new plugin from a template into <dir>/<NAME>/, ready for
    /// `make -C <dir>/<NAME>`.
    New {
        /// The plugin's name (its component becomes <dir>/<NAME>.wasm).
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: Language,
        /// What it exports.
        #[arg(long, value_enum, default_value = "both")]
        world: World,
        /// The plugins folder.
        #[arg(long, default_value = "plugins")]
        dir: PathBuf,
    },
    /// Run a plugin's exports against sample inputs, with no browser and no
    /// Notion: print each call's outcome, time and log lines, write the
    /// view's pages as .html files, and exit 1 if any call fails as the
    /// gateway would fail it.
    Try {
        /// The plugin (its component is <dir>/<NAME>.wasm).
        name: String,
        /// The plugins folder.
        #[arg(long, default_value = "plugins")]
        dir: PathBuf,
        /// A JSON file replacing parts of the sample inputs (docs/plugins.md).
        #[arg(long, value_name = "FILE")]
        inputs: Option<PathBuf>,
        /// Where the pages are written [default: data/try/<NAME>].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Where its key-value data and compiled code go.
        #[arg(long, default_value = "data/try")]
        data_dir: PathBuf,
        /// Grant it more than its manifest asks for, as `dev --grant` does.
        #[arg(long = "grant", value_name = "NAME:WHAT")]
        grants: Vec<DevGrant>,
    },
}

fn main() -> ExitCode {
    allocator::tune();
    let cli = Cli::parse();
    // `serve` starts logging once its config says how (`[log] format`).
    if !matches!(cli.command, Command::Serve { .. }) {
        // `plugin try` prints each call's log lines itself.
        let quiet = matches!(
            cli.command,
            Command::Plugins {
                command: PluginsCommand::Try { .. }
            }
        );
        init_logging_with(
            LogFormat::from_env(&process_env).unwrap_or_default(),
            if quiet {
                "warn,plugin=off"
            } else {
                DEFAULT_LOG
            },
        );
    }
    // Fault tests pause or fail the hand-off at named points (FAILPOINTS=name=action).
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { config } => serve(&config).await,
            Command::Check { config } => check(&config).await,
            Command::Plugins {
                command: PluginsCommand::List { config },
            } => list(&config).await,
            Command::Plugins {
                command:
                    PluginsCommand::New {
                        name,
                        lang,
                        world,
                        dir,
                    },
            } => scaffold(&dir, &name, lang, world),
            Command::Plugins {
                command:
                    PluginsCommand::Try {
                        name,
                        dir,
                        inputs,
                        out,
                        data_dir,
                        grants,
                    },
            } => {
                let out = out.unwrap_or_else(|| data_dir.join(&name));
                try_plugin(name, dir, inputs, out, data_dir, grants).await
            }
            Command::Dev {
                listen,
                stand_in_listen,
                plugins_dir,
                data_dir,
                consumer,
                view,
                grants,
                watch,
            } => {
                let options = DemoOptions {
                    grants,
                    listen,
                    stand_in_listen,
                    plugins_dir,
                    data_dir,
                    consumer,
                    view,
                    ..DemoOptions::default()
                };
                dev(options, watch).await
            }
            Command::Tokens { config, command } => match load(&config.path) {
                Some(c) => cli::tokens::run(&c, command).await,
                None => Ok(ExitCode::FAILURE),
            },
            Command::Vault { config, command } => match load(&config.path) {
                Some(c) => cli::vault::run(&c, command).await,
                None => Ok(ExitCode::FAILURE),
            },
            Command::Keys {
                config,
                command: KeysCommand::Rotate,
            } => match load(&config.path) {
                Some(c) => cli::keys::rotate(&c).await,
                None => Ok(ExitCode::FAILURE),
            },
            Command::Probe { url, timeout } => probe(&url, timeout).await,
            Command::StandIn {
                listen,
                client_id,
                client_secret_env,
                redirect_uris,
                any_code,
            } => {
                stand_in(
                    listen,
                    client_id,
                    &client_secret_env,
                    redirect_uris,
                    any_code,
                )
                .await
            }
        }
    });
    finish_logging();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a line to stdout, ignoring a closed stdout: a long-running server
/// must not die because whoever started it stopped reading.
macro_rules! say {
    () => {
        say!("")
    };
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Logs to stderr: readable lines, or one JSON object per line with the
/// event's fields at the top level.
fn init_logging(format: LogFormat) {
    init_logging_with(format, DEFAULT_LOG)
}

/// What is logged unless `NOG_LOG` says otherwise. Plugin lines pass here;
/// each plugin's own level (plugins.log_level, plugins.log_levels) filters
/// them in the host.
const DEFAULT_LOG: &str = "info,plugin=trace";

/// Where log lines go once logging has started (standard error, in batches).
static LOG_SINK: OnceLock<LogSink> = OnceLock::new();

/// Writes the log lines still waiting; later ones are written at once.
fn finish_logging() {
    if let Some(sink) = LOG_SINK.get() {
        sink.finish();
    }
}

/// Logs as [`init_logging`], with `default` as the filter unless `NOG_LOG` is set.
fn init_logging_with(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NOG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let sink = LOG_SINK.get_or_init(LogSink::start).clone();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sink);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// Loads the config, printing its problems and warnings; `None` if it is invalid.
fn load(path: &Path) -> Option<Config> {
    match Config::load(path, &process_env) {
        Ok(config) => {
            for w in &config.warnings {
                eprintln!("warning: {w}");
            }
            Some(config)
        }
        Err(e) => {
            for p in &e.problems {
                eprintln!("error: {p}");
            }
            None
        }
    }
}

async fn serve(path: &Path) -> anyhow::Result<ExitCode> {
    let Some(config) = load(path) else {
        return Ok(ExitCode::FAILURE);
    };
    init_logging(config.log.format);
    let (listen, admin_listen) = (config.server.listen, config.server.admin_listen);
    let drain = config.server.drain;
    let gateway = match Gateway::build(config).await {
        Ok(g) => g,
        Err(e) => {
            for line in e.to_string().lines() {
                eprintln!("error: {line}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (server.listen)"))?;
    tracing::info!(address = %listener.local_addr()?, "serving");
    let admin = match admin_listen {
        Some(addr) => {
            let admin = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (server.admin_listen)"))?;
            tracing::info!(address = %admin.local_addr()?, "serving metrics and the token API");
            Some(admin)
        }
        None => None,
    };
    // The first signal drains: `/readyz` turns 503 at once, every route
    // keeps serving for `drain_seconds`, then both listeners stop accepting
    // and requests in flight finish. A second signal exits at once: the
    // vault's recovery covers whatever was in flight.
    let mut signals = Signals::new()?;
    let stop = tokio_util::sync::CancellationToken::new();
    let signalled = stop.clone();
    let draining = gateway.clone();
    tokio::spawn(async move {
        signals.next().await;
        draining.drain();
        tracing::info!(
            seconds = drain.as_secs(),
            "draining: /readyz answers 503; serving on until the balancer has noticed"
        );
        tokio::select! {
            () = tokio::time::sleep(drain) => {}
            () = signals.next() => stop_at_once(),
        }
        tracing::info!(
            "stopping: no new connections; finishing requests, hand-offs, refreshes and deliveries in flight"
        );
        signalled.cancel();
        signals.next().await;
        stop_at_once();
    });
    let public = gateway.serve(listener, stop.clone().cancelled_owned());
    match admin {
        Some(admin) => {
            let admin = gateway.serve_admin(admin, stop.clone().cancelled_owned());
            tokio::try_join!(public, admin)?;
        }
        None => public.await?,
    }
    // Work that must finish once started (a token from Notion, a refresh,
    // a delivery) is awaited.
    gateway.shutdown().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let Some(config) = load(path) else {
        return Ok(ExitCode::FAILURE);
    };
    match Plugins::load(&config).await {
        Ok(plugins) => {
            for (key, plugin) in [("consumer", plugins.consumer()), ("view", plugins.view())] {
                println!(
                    "ok: plugins.{key} = {} ({}, sha256 {}, {}; grants: {})",
                    plugin.name(),
                    plugin.path().display(),
                    &plugin.sha256()[..16],
                    if plugin.from_cache() {
                        "compiled code from cache"
                    } else {
                        "compiled now"
                    },
                    plugin.grants_summary(),
                );
                for warning in plugin.warnings() {
                    println!("warning: plugins.{key} = {}: {warning}", plugin.name());
                }
            }
            println!("ok: {} is valid", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            let src = std::fs::read_to_string(path).unwrap_or_default();
            for e in errors {
                let name = match e.failure() {
                    Some(PluginFailure::Missing { .. } | PluginFailure::Invalid { .. }) => {
                        e.plugin().map(str::to_string)
                    }
                    _ => None,
                };
                let key = if name.as_deref() == Some(config.plugins.consumer.as_str()) {
                    "plugins.consumer"
                } else {
                    "plugins.view"
                };
                let problem = ConfigProblem::at(&config.origin, &src, key, e.to_string());
                eprintln!("error: {problem}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn list(path: &Path) -> anyhow::Result<ExitCode> {
    let Some(config) = load(path) else {
        return Ok(ExitCode::FAILURE);
    };
    let reports = list_components(&config).await?;
    if reports.is_empty() {
        println!(
            "no components (*.wasm) in {}; run `make build`",
            config.plugins.dir.display()
        );
    }
    let p = &config.plugins;
    let configured = |name: &str| -> Vec<&'static str> {
        let mut used = Vec::new();
        if name == p.consumer {
            used.push("configured consumer");
        }
        if name == p.view {
            used.push("configured view");
        }
        used
    };
    let mut healthy = true;
    let mut names = vec![&p.consumer];
    if p.view != p.consumer {
        names.push(&p.view);
    }
    for name in names {
        if !reports.iter().any(|r| &r.name == name) {
            healthy = false;
            println!(
                "{name:<24} {:<16} {} does not exist  [{}: CANNOT SERVE]",
                "missing",
                p.path_of(name).display(),
                configured(name).join(", ")
            );
        }
    }
    for r in reports {
        let used = configured(&r.name);
        match r.loaded {
            Ok(plugin) => {
                let worlds: Vec<_> = plugin.roles().iter().map(|r| r.name()).collect();
                let used = if used.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", used.join(", "))
                };
                println!(
                    "{:<24} {:<16} {}  sha256 {}  grants: {}{used}",
                    r.name,
                    worlds.join("+"),
                    r.path.display(),
                    &plugin.sha256()[..12],
                    plugin.grants_summary(),
                );
                for warning in plugin.warnings() {
                    println!("{:<24} warning: {warning}", "");
                }
            }
            Err(e) if used.is_empty() => println!("{:<24} {:<16} {e}", r.name, "invalid"),
            Err(e) => {
                healthy = false;
                println!(
                    "{:<24} {:<16} {e}  [{}: CANNOT SERVE]",
                    r.name,
                    "invalid",
                    used.join(", ")
                );
            }
        }
    }
    if healthy {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("a configured plugin cannot serve: fix it, or name another in [plugins]");
        Ok(ExitCode::FAILURE)
    }
}

fn scaffold(dir: &Path, name: &str, lang: Language, world: World) -> anyhow::Result<ExitCode> {
    let files = new_plugin(dir, name, lang, world)?;
    let folder = dir.join(name);
    say!("wrote {} files into {}", files.len(), folder.display());
    say!("build it:   make -C {}", folder.display());
    say!("use it:     set plugins.consumer and/or plugins.view to \"{name}\" in the config");
    match lang {
        Language::Rust => {}
        Language::C => say!(
            "(C needs Debian's clang-19, lld-19, wasi-libc and libclang-rt-19-dev-wasm32; the first \
             build installs wit-bindgen, wasm-tools and the WASI adapter under {}/toolchains/c)",
            dir.display()
        ),
        Language::Python | Language::Js => say!(
            "(the first build installs the {lang:?} toolchain under {}/toolchains)",
            dir.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn try_plugin(
    name: String,
    plugins_dir: PathBuf,
    inputs: Option<PathBuf>,
    out_dir: PathBuf,
    data_dir: PathBuf,
    grants: Vec<DevGrant>,
) -> anyhow::Result<ExitCode> {
    let now = notion_oauth_gateway::clock::unix_ms() / 1000;
    let now = u64::try_from(now).unwrap_or_default();
    let inputs = match inputs {
        Some(path) => match Inputs::from_file(&path, now) {
            Ok(inputs) => inputs,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        },
        None => Inputs::sample(now),
    };
    let options = TrialOptions {
        name,
        plugins_dir,
        data_dir,
        out_dir,
        inputs,
        grants,
    };
    match trial::run(&options).await {
        Ok(report) => {
            say!("{report}");
            Ok(if report.failed().next().is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Err(e) => {
            eprintln!("error: cannot try {}: {e}", options.name);
            if e.to_string().contains("needs the setting") {
                eprintln!(
                    "`plugin try` takes settings from its inputs file: --inputs FILE with {{\"settings\": {{\"KEY\": \"VALUE\"}}}}"
                );
            }
            Ok(ExitCode::from(2))
        }
    }
}

async fn dev(options: DemoOptions, watch: bool) -> anyhow::Result<ExitCode> {
    let plugins = [options.consumer.as_str(), options.view.as_str()];
    if watch {
        // Build first, so a fresh scaffold or an edit made while the demo
        // was down is what it starts with.
        for name in plugins.iter().collect::<std::collections::BTreeSet<_>>() {
            if let Some(folder) = demo::source_folder(&options.plugins_dir, name) {
                show_build(&demo::build(name, &folder).await);
            }
        }
    }
    let demo = Demo::start(&options).await?;
    let (_sources, watch_notes) = if watch {
        let (sources, notes) = demo::watch_sources(&options.plugins_dir, &plugins, |b| {
            show_build(&b);
        });
        (Some(sources), notes)
    } else {
        (None, Vec::new())
    };
    say!();
    say!("  notion-oauth-gateway demo");
    for note in demo.grant_notes.iter().chain(&watch_notes) {
        say!("  {note}");
    }
    say!("  Open {}  and click \"Connect Notion\".", demo.url());
    say!(
        "  Notion is replaced by a local STAND-IN at http://localhost:{} (not the real Notion).",
        demo.stand_in_addr.port()
    );
    say!(
        "  Plugins: consumer {}, view {}. Stop with Ctrl-C.",
        options.consumer,
        options.view
    );
    say!();
    demo.serve(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a `dev --watch` build: make's output, indented, then its outcome.
fn show_build(b: &demo::Build) {
    for line in b.output.lines() {
        say!("  | {line}");
    }
    let command = format!("make -C {}", b.folder.display());
    if b.succeeded {
        say!(
            "  built {} in {:.1} s ({command}); the demo swaps it in once it loads",
            b.plugin,
            b.took.as_secs_f64()
        );
    } else {
        say!(
            "  BUILD FAILED for {} after {:.1} s ({command}); the build already loaded keeps serving",
            b.plugin,
            b.took.as_secs_f64()
        );
    }
}

async fn probe(url: &str, timeout: u64) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(timeout))
        .build()
        .context("cannot make an HTTP client")?;
    let answer = match client.get(url).send().await {
        Ok(answer) => answer,
        Err(e) => {
            say!("unreachable: {}", e.without_url());
            return Ok(ExitCode::FAILURE);
        }
    };
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    say!("{} {}", status.as_u16(), body.trim());
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn stand_in(
    listen: SocketAddr,
    client_id: String,
    secret_env: &str,
    redirect_uris: Vec<String>,
    any_code: bool,
) -> anyhow::Result<ExitCode> {
    let secret = std::env::var(secret_env).with_context(|| {
        format!("set {secret_env} to the client secret the stand-in should accept")
    })?;
    let config = StandInConfig {
        client_id,
        client_secret: ClientSecret::new(secret),
        redirect_uris,
        canaries: false,
        any_code,
    };
    let (_stand_in, addr) = standin::spawn(config, listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    say!(
        "Notion STAND-IN (not Notion) on http://{addr}: GET /v1/oauth/authorize, POST /v1/oauth/token"
    );
    shutdown_signal().await;
    Ok(ExitCode::SUCCESS)
}

/// The stop signals (SIGINT, SIGTERM), listened to from creation on, so
/// none is missed between two waits.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Completes on the next SIGINT or SIGTERM (Ctrl-C elsewhere).
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The second stop signal: exit now, without waiting for work in flight.
fn stop_at_once() -> ! {
    tracing::warn!(
        "stopped at once on a second signal; the vault's recovery covers what was in flight"
    );
    std::process::exit(0)
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    match Signals::new() {
        Ok(mut signals) => signals.next().await,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("stopping");
}
