//! Shared test infrastructure: the gateway and the Notion stand-in, both on
//! 127.0.0.1 ports of their own, and a "browser" with a cookie jar that walks
//! the flow over real HTTP.

pub(crate) mod certs;
pub(crate) mod config;
pub(crate) mod gateway_process;
pub(crate) mod offline;
pub(crate) mod process;
pub(crate) mod receiver;
pub(crate) mod tcp_proxy;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notion_oauth_gateway::Gateway;
use notion_oauth_gateway::clock::ShiftedClock;
use notion_oauth_gateway::config::TlsFiles;
use notion_oauth_gateway::secret::ClientSecret;
use notion_oauth_gateway::standin::{self, StandIn, StandInConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use config::scheme;
pub(crate) use config::{config_text, load_config};

/// The repository's root.
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A built component: `plugins/<name>.wasm` or `tests/plugins/<name>.wasm`.
pub(crate) fn component(name: &str) -> PathBuf {
    for dir in ["plugins", "tests/plugins"] {
        let path = repo().join(dir).join(format!("{name}.wasm"));
        if path.is_file() {
            return path;
        }
    }
    panic!("component {name}.wasm is not built; run `make test` (it builds plugins first)");
}

/// What a test gateway runs with.
#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) consumer: String,
    pub(crate) view: String,
    /// The test's own settings, merged over the harness's config (see [`Options::set`]).
    pub(crate) config: toml::Table,
    /// The client secret (a canary by default).
    pub(crate) client_secret: String,
    /// Where the gateway sends token requests, instead of the stand-in.
    pub(crate) api_base_url: Option<String>,
    /// The secret the stand-in expects, when it should differ from the gateway's.
    pub(crate) stand_in_secret: Option<String>,
    /// `[server] base_path`.
    pub(crate) base_path: String,
    /// `[plugins] watch`: off unless a test is about reloading.
    pub(crate) watch: bool,
    /// Compile components into one cache shared by every test (and kept
    /// between runs under target/), so a Python or JavaScript component is
    /// compiled once, not once per test.
    pub(crate) shared_cache: bool,
    /// Serve the gateway over HTTPS with these files (at `https://localhost:PORT`).
    pub(crate) gateway_tls: Option<TlsFiles>,
    /// Serve the stand-in over HTTPS with these files (at `https://localhost:PORT`).
    pub(crate) stand_in_tls: Option<TlsFiles>,
    /// Turn the token API on with this key (as `TEST_API_KEY`).
    pub(crate) api_key: Option<String>,
    /// Serve metrics and the token API on an admin listener of their own
    /// (`[server] admin_listen`, at [`Harness::admin_url`]).
    pub(crate) admin_listener: bool,
}

/// The vault's two backends, for tests that must pass on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    Sqlite,
    Postgres,
}

/// The machine's PostgreSQL (trust auth, database `test`).
pub(crate) const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

impl Store {
    pub(crate) const BOTH: [Store; 2] = [Store::Sqlite, Store::Postgres];

    /// `[store]` settings for this backend; PostgreSQL gets a fresh schema,
    /// so tests running at once never see each other's rows.
    pub(crate) fn settings(self) -> Vec<(&'static str, String)> {
        match self {
            Store::Sqlite => Vec::new(),
            Store::Postgres => vec![
                ("store.url", POSTGRES_URL.to_string()),
                ("store.schema", fresh_schema()),
            ],
        }
    }
}

/// A schema name no other test uses.
pub(crate) fn fresh_schema() -> String {
    format!("t_{}", hex_id())
}

/// 12 random hex digits.
pub(crate) fn hex_id() -> String {
    let n: u64 = rand_u64();
    format!("{:012x}", n & 0xffff_ffff_ffff)
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// The token API key tests use.
pub(crate) const API_KEY: &str = "test-api-key-0123456789abcdefghijklmnop";

impl Default for Options {
    fn default() -> Self {
        Self {
            consumer: "default-consumer".into(),
            view: "default-view".into(),
            config: toml::Table::new(),
            client_secret: format!("CANARY_SECRET_{}:%x", std::process::id()),
            api_base_url: None,
            stand_in_secret: None,
            base_path: String::new(),
            watch: false,
            shared_cache: true,
            gateway_tls: None,
            stand_in_tls: None,
            api_key: None,
            admin_listener: false,
        }
    }
}

/// The compile cache shared by tests.
pub(crate) fn shared_cache_dir() -> PathBuf {
    repo().join("target/test-plugin-cache")
}

impl Options {
    pub(crate) fn with_plugins(consumer: &str, view: &str) -> Self {
        Self {
            consumer: consumer.into(),
            view: view.into(),
            ..Self::default()
        }
    }

    /// These options with the config key at `path` (tables, then the key:
    /// `"server.rate_limit.per_ip_burst"`) set to `value`.
    pub(crate) fn set(mut self, path: &str, value: impl Into<toml::Value>) -> Self {
        self.put(path, value);
        self
    }

    /// Sets the config key at `path` to `value` (see [`Options::set`]).
    pub(crate) fn put(&mut self, path: &str, value: impl Into<toml::Value>) {
        config::set(&mut self.config, path, value.into());
    }

    /// The `webhook-consumer` (with the default view) posting to
    /// `http://{addr}/hook`, granted that host, signing with `whsec_x`.
    pub(crate) fn webhook_to(addr: std::net::SocketAddr) -> Self {
        Self::with_plugins("webhook-consumer", "default-view")
            .set(
                "plugins.grants.webhook-consumer.http_hosts",
                vec![addr.to_string()],
            )
            .set(
                "plugins.settings.webhook-consumer.url",
                format!("http://{addr}/hook"),
            )
            .set(
                "plugins.settings.webhook-consumer.signing_secret",
                "whsec_x",
            )
    }

    /// These options on `store`, with the token API on.
    pub(crate) fn on(mut self, store: Store) -> Self {
        for (path, value) in store.settings() {
            self.put(path, value);
        }
        self.api_key = Some(API_KEY.to_string());
        self
    }

    /// These options with the flow routes' rate limits off, for tests that
    /// make many requests from one address on purpose.
    pub(crate) fn without_rate_limits(self) -> Self {
        self.set("server.rate_limit.per_ip_per_minute", 0)
            .set("server.rate_limit.global_per_second", 0)
    }

    /// The `faulty` test component in `role` ("consumer" or "view"),
    /// misbehaving as `mode` says; the other role is the default plugin.
    pub(crate) fn faulty(role: &str, mode: &str) -> Self {
        let (consumer, view) = match role {
            "consumer" => ("faulty", "default-view"),
            "view" => ("default-consumer", "faulty"),
            other => panic!("no role {other:?}"),
        };
        Self::with_plugins(consumer, view).set(&format!("plugins.settings.faulty.{role}"), mode)
    }
}

/// A running gateway and stand-in.
pub(crate) struct Harness {
    pub(crate) stand_in: Arc<StandIn>,
    pub(crate) gateway_url: String,
    pub(crate) stand_in_url: String,
    pub(crate) redirect_uri: String,
    pub(crate) clock: ShiftedClock,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config_path: PathBuf,
    pub(crate) gateway: Gateway,
    /// The admin listener's URL, when [`Options::admin_listener`] is on.
    pub(crate) admin_url: Option<String>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Copies the named components into `dir`.
pub(crate) fn plugins_dir_with(dir: &Path, names: &[&str]) -> PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins dir");
    for name in names {
        let source = component(name);
        std::fs::copy(&source, plugins.join(format!("{name}.wasm"))).expect("copy component");
        // Its manifest, when the build put one beside it.
        let manifest = source.with_extension("toml");
        if manifest.is_file() {
            std::fs::copy(&manifest, plugins.join(format!("{name}.toml"))).expect("copy manifest");
        }
    }
    plugins
}

impl Harness {
    pub(crate) async fn start(o: Options) -> Harness {
        Self::try_start(o)
            .await
            .unwrap_or_else(|e| panic!("gateway did not start: {e}"))
    }

    pub(crate) async fn try_start(o: Options) -> Result<Harness, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let gateway_addr = listener.local_addr().expect("addr");
        let host = |tls: &Option<TlsFiles>, addr: std::net::SocketAddr| match tls {
            Some(_) => format!("localhost:{}", addr.port()),
            None => addr.to_string(),
        };
        let gateway = host(&o.gateway_tls, gateway_addr);
        let gateway_url = format!("{}://{gateway}", scheme(&o.gateway_tls));
        let redirect_uri = format!("{gateway_url}{}/auth/notion/redirect", o.base_path);
        let stand_in_config = StandInConfig {
            client_id: "test-client".into(),
            client_secret: ClientSecret::new(
                o.stand_in_secret
                    .clone()
                    .unwrap_or_else(|| o.client_secret.clone()),
            ),
            redirect_uris: vec![redirect_uri.clone()],
            canaries: true,
            any_code: false,
        };
        let any_addr = "127.0.0.1:0".parse().expect("addr");
        let (stand_in, stand_in_addr) = match &o.stand_in_tls {
            None => standin::spawn(stand_in_config, any_addr).await,
            Some(files) => standin::spawn_tls(stand_in_config, any_addr, files).await,
        }
        .expect("stand-in");
        let stand_in_host = host(&o.stand_in_tls, stand_in_addr);
        let stand_in_url = format!("{}://{stand_in_host}", scheme(&o.stand_in_tls));
        let admin = match o.admin_listener {
            true => Some(TcpListener::bind("127.0.0.1:0").await.expect("bind admin")),
            false => None,
        };
        let admin_addr = admin.as_ref().map(|l| l.local_addr().expect("admin addr"));
        let mut o = o;
        if let Some(addr) = admin_addr {
            o.put("server.admin_listen", addr.to_string());
        }
        let text = config_text(&o, dir.path(), &gateway, &stand_in_host);
        let config_path = dir.path().join("gateway.toml");
        std::fs::write(&config_path, &text).expect("write config");
        let config = load_config(&text, &o.client_secret, o.api_key.as_deref())?;
        let clock = ShiftedClock::default();
        let gw = Gateway::build_with_clock(config, Arc::new(clock.clone()))
            .await
            .map_err(|e| e.to_string())?;
        let (stop, stopped) = oneshot::channel::<()>();
        let gateway = gw.clone();
        tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            match admin {
                Some(admin) => {
                    let (public, admin_stop) = tokio::sync::oneshot::channel::<()>();
                    let admin_gw = gw.clone();
                    tokio::spawn(async move {
                        let _ = admin_gw
                            .serve_admin(admin, async {
                                let _ = admin_stop.await;
                            })
                            .await;
                    });
                    let _ = gw.serve(listener, stopped).await;
                    drop(public);
                }
                None => {
                    let _ = gw.serve(listener, stopped).await;
                }
            }
        });
        Ok(Harness {
            stand_in,
            gateway_url,
            stand_in_url,
            redirect_uri,
            clock,
            dir,
            config_path,
            gateway,
            admin_url: admin_addr.map(|a| format!("http://{a}")),
            stop: Some(stop),
        })
    }

    pub(crate) fn browser(&self) -> Browser {
        Browser::new(&self.gateway_url)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway_url)
    }

    /// The latest deliveries the vault recorded, newest first.
    pub(crate) async fn deliveries(
        &self,
        limit: i64,
    ) -> Vec<notion_oauth_gateway::vault::DeliveryRecord> {
        self.gateway
            .vault()
            .store()
            .deliveries(limit)
            .await
            .expect("deliveries")
    }
}

/// A browser: a cookie jar, no automatic redirects, short timeouts.
#[derive(Clone)]
pub(crate) struct Browser {
    pub(crate) client: reqwest::Client,
    pub(crate) gateway_url: String,
}

impl Browser {
    pub(crate) fn new(gateway_url: &str) -> Self {
        // Certificates are checked by the gateway, not by this test browser:
        // the TLS tests give the stand-in certificates the gateway must refuse.
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Self {
            client,
            gateway_url: gateway_url.to_string(),
        }
    }

    /// `GET url`; a callback's `303` to its clean result URL is followed, as
    /// a browser would (other redirects are returned as they are).
    pub(crate) async fn get(&self, url: &str) -> reqwest::Response {
        let r = self.get_once(url).await;
        match result_location(&r) {
            Some(path) => self.get_once(&format!("{}{path}", self.gateway_url)).await,
            None => r,
        }
    }

    /// `GET url`, following nothing.
    pub(crate) async fn get_once(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.expect("request")
    }

    /// `GET start`: returns Notion's (the stand-in's) authorize URL.
    pub(crate) async fn start(&self, query: &str) -> String {
        self.start_at("/auth/notion/start", query).await
    }

    /// `GET start` at a given path.
    pub(crate) async fn start_at(&self, path: &str, query: &str) -> String {
        let url = format!("{}{path}{query}", self.gateway_url);
        let r = self.get(&url).await;
        assert_eq!(r.status(), 302, "start should redirect");
        location(&r)
    }

    /// Opens the consent page and presses a button: the URL Notion sends the browser back to.
    pub(crate) async fn consent(&self, authorize_url: &str, decision: &str) -> String {
        let page = self.get(authorize_url).await;
        assert_eq!(page.status(), 200, "consent page");
        let html = page.text().await.expect("consent html");
        assert!(
            html.contains("STAND-IN for Notion"),
            "the consent page must be the marked stand-in"
        );
        let url = url::Url::parse(authorize_url).expect("authorize url");
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        let mut form = vec![
            ("client_id", q["client_id"].clone()),
            ("redirect_uri", q["redirect_uri"].clone()),
            ("decision", decision.to_string()),
        ];
        if let Some(state) = q.get("state") {
            form.push(("state", state.clone()));
        }
        let action = format!("{}://{}/v1/oauth/authorize", url.scheme(), url.authority());
        let r = self
            .client
            .post(action)
            .form(&form)
            .send()
            .await
            .expect("decision");
        assert_eq!(r.status(), 302, "the stand-in redirects back");
        location(&r)
    }

    /// Starts a flow and presses "Allow": the URL Notion sends the browser back to.
    pub(crate) async fn approved(&self, query: &str) -> String {
        let authorize = self.start(query).await;
        self.consent(&authorize, "allow").await
    }

    /// The whole flow: start, allow, callback. Returns the callback's response.
    pub(crate) async fn connect(&self, query: &str) -> reqwest::Response {
        let back = self.approved(query).await;
        self.get(&back).await
    }
}

/// The clean result URL a callback answered `303` with, if it did.
pub(crate) fn result_location(r: &reqwest::Response) -> Option<String> {
    if r.status() != 303 {
        return None;
    }
    let location = r.headers().get("location")?.to_str().ok()?;
    location
        .contains("/auth/notion/redirect/")
        .then(|| location.to_string())
}

pub(crate) fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location header")
        .to_string()
}

/// The query parameter `name` of `url`.
pub(crate) fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `url` with the query parameter `name` set to `value`.
pub(crate) fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut u = url::Url::parse(url).expect("url");
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != name)
        .chain([(name.to_string(), value.to_string())])
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}
