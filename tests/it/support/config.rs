//! A test gateway's config, built as data: the harness's own keys as a TOML
//! table, a test's settings merged over them, and the text written by the
//! `toml` serializer, so no test quotes or escapes a value by hand.

use std::path::Path;

use notion_oauth_gateway::config::{Config, TlsFiles};
use toml::{Table, Value};

use super::{Options, plugins_dir_with, shared_cache_dir};

/// The app key test gateways check signed start links with.
pub(crate) const APP_KEY: &str = "test-app-key-0123456789abcdefghijklmnopq";

/// The admin console's key in tests (as `TEST_ADMIN_KEY`).
pub(crate) const ADMIN_KEY: &str = "test-admin-key-0123456789abcdefghijklmno";

/// Sets `path` (dotted table names, then the key: `"server.rate_limit.per_ip_burst"`)
/// in `table` to `value`, creating the tables on the way.
///
/// Panics when a name on the way is already a value rather than a table: that
/// is a mistake in the test, not in the gateway.
pub(crate) fn set(table: &mut Table, path: &str, value: Value) {
    let mut names = path.split('.').peekable();
    let mut here = table;
    while let Some(name) = names.next() {
        if names.peek().is_none() {
            here.insert(name.to_string(), value);
            return;
        }
        here = match here
            .entry(name.to_string())
            .or_insert_with(|| Value::Table(Table::new()))
        {
            Value::Table(t) => t,
            other => panic!("test config: {path}: {name} is {other}, not a table"),
        };
    }
}

/// `over` merged into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut Table, over: &Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Puts the shared compile cache's key in the data folder `data`: gateways
/// that share a cache share the key its artifacts are authenticated with.
fn give_shared_cache_key(data: &Path) {
    let shared = shared_cache_dir().with_extension("key");
    if !shared.is_file() {
        let key: [u8; 32] = rand::random();
        let text = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key);
        let tmp = shared.with_extension(format!("key.{}", super::hex_id()));
        std::fs::create_dir_all(shared.parent().expect("parent")).expect("target dir");
        std::fs::write(&tmp, text).expect("write the shared cache key");
        // Another test may have won the race; either key is fine once it is in place.
        let _ = std::fs::hard_link(&tmp, &shared);
        let _ = std::fs::remove_file(&tmp);
    }
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder.create(data).expect("data dir");
    let target = data.join("cache.key");
    std::fs::copy(&shared, &target).expect("copy the shared cache key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// `https` for a server given TLS files, else `http`.
pub(crate) fn scheme(tls: &Option<TlsFiles>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

fn path_value(path: &Path) -> Value {
    Value::String(path.display().to_string())
}

/// The config a harness runs with: the gateway listening at `gateway`, Notion
/// played by the stand-in at `stand_in`, the plugins copied into `dir`, and
/// the test's own settings over all of it.
pub(crate) fn config_table(o: &Options, dir: &Path, gateway: &str, stand_in: &str) -> Table {
    let (gw_scheme, si_scheme) = (scheme(&o.gateway_tls), scheme(&o.stand_in_tls));
    let mut names = vec![o.consumer.as_str(), o.view.as_str()];
    names.dedup();
    let plugins = plugins_dir_with(dir, &names);
    let mut t = Table::new();
    let mut put = |path: &str, value: Value| set(&mut t, path, value);

    put(
        "server.listen",
        gateway.replace("localhost", "127.0.0.1").into(),
    );
    put("server.data_dir", path_value(&dir.join("data")));
    put("server.base_path", o.base_path.clone().into());
    // A stopping test gateway stops accepting at once; the drain tests set
    // their own `drain_seconds`.
    put("server.drain_seconds", 0.into());
    if let Some(files) = &o.gateway_tls {
        put("server.tls_cert", path_value(&files.cert));
        put("server.tls_key", path_value(&files.key));
    }

    put("notion.client_id", "test-client".into());
    put("notion.client_secret_env", "TEST_SECRET".into());
    put(
        "notion.redirect_uri",
        format!(
            "{gw_scheme}://{gateway}{}/auth/notion/redirect",
            o.base_path
        )
        .into(),
    );
    put(
        "notion.api_base_url",
        o.api_base_url
            .clone()
            .unwrap_or_else(|| format!("{si_scheme}://{stand_in}"))
            .into(),
    );
    put(
        "notion.authorize_url",
        format!("{si_scheme}://{stand_in}/v1/oauth/authorize").into(),
    );

    put("plugins.dir", path_value(&plugins));
    put("plugins.consumer", o.consumer.clone().into());
    put("plugins.view", o.view.clone().into());
    put("plugins.watch", o.watch.into());
    put("plugins.max_concurrent", 16.into());
    if o.shared_cache {
        put("plugins.cache_dir", path_value(&shared_cache_dir()));
        give_shared_cache_key(&dir.join("data"));
    }

    // Tests of other things start flows with unsigned `data`; the app-data
    // tests set `app_data.unsigned = "refuse"`, the gateway's default.
    put("app_data.key_env", "TEST_APP_KEY".into());
    put("app_data.unsigned", "allow".into());

    if o.api_key.is_some() {
        put("token_api.enabled", true.into());
        put("token_api.api_key_env", "TEST_API_KEY".into());
    }
    merge(&mut t, &o.config);
    t
}

/// [`config_table`] as the text of a config file.
pub(crate) fn config_text(o: &Options, dir: &Path, gateway: &str, stand_in: &str) -> String {
    toml::to_string(&config_table(o, dir, gateway, stand_in)).expect("a table serializes")
}

/// Checks a test config `text` with its secrets in the (stand-in)
/// environment: `TEST_SECRET` is `secret`, `TEST_API_KEY` is `api_key`,
/// `TEST_APP_KEY` is [`APP_KEY`].
pub(crate) fn load_config(
    text: &str,
    secret: &str,
    api_key: Option<&str>,
) -> Result<Config, String> {
    let (secret, api_key) = (secret.to_string(), api_key.map(str::to_string));
    let env = move |name: &str| match name {
        "TEST_SECRET" => Some(secret.clone()),
        "TEST_API_KEY" => api_key.clone(),
        "TEST_APP_KEY" => Some(APP_KEY.to_string()),
        "TEST_ADMIN_KEY" => Some(ADMIN_KEY.to_string()),
        _ => None,
    };
    Config::from_toml(text, "gateway.toml", &env).map_err(|e| e.to_string())
}
