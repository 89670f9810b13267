//! The deployment samples in `deploy/`, tested as far as this machine
//! allows: the gateway configs pass `check`, nginx accepts its sample
//! (`nginx -t`), systemd accepts the unit (`systemd-analyze verify`), and
//! the Kubernetes and compose files are well-formed and agree with the
//! gateway's routes, ports and secrets. The nginx sample is also the load
//! balancer of the several-instances test (`crate::balanced`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize as _;

use crate::support::gateway_process::BIN;
use crate::support::repo;

fn deploy(path: &str) -> PathBuf {
    repo().join("deploy").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The nginx binary (Debian puts it in /usr/sbin).
pub(crate) fn nginx() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is installed by `make test-deps`")
}

/// The nginx sample made runnable in `dir`: TLS with `cert`/`key` on
/// 127.0.0.1:`port`, the plain redirect server on `plain_port`, the
/// gateways `upstreams` (each `server` line ending in `params`, such as
/// `max_fails=2 fail_timeout=5s`), logs and temporary files in `dir`. Only
/// paths and ports change; every directive of the sample is kept.
pub(crate) fn render_nginx(
    dir: &Path,
    cert: &Path,
    key: &Path,
    (port, plain_port): (u16, u16),
    upstreams: &[std::net::SocketAddr],
    params: &str,
) -> PathBuf {
    let servers: String = upstreams
        .iter()
        .map(|a| format!("server {a} {params};\n"))
        .collect();
    let upstream_file = dir.join("upstreams.conf");
    std::fs::write(&upstream_file, servers).expect("upstreams");
    let d = dir.display();
    let temp = format!(
        "http {{\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n"
    );
    let replacements = [
        ("http {\n", temp.as_str()),
        (
            "/etc/nginx/notion-oauth-gateway-upstreams.conf",
            &upstream_file.display().to_string(),
        ),
        ("/etc/nginx/tls/fullchain.pem", &cert.display().to_string()),
        ("/etc/nginx/tls/privkey.pem", &key.display().to_string()),
        ("/var/log/nginx/", &format!("{d}/")),
        ("listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;")),
        ("listen 80;", &format!("listen 127.0.0.1:{plain_port};")),
        ("worker_processes auto;", "worker_processes 2;"),
    ];
    let mut conf = read("nginx/nginx.conf");
    for (from, to) in replacements {
        assert!(conf.contains(from), "the sample no longer has {from:?}");
        conf = conf.replace(from, to);
    }
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("nginx.conf");
    path
}

/// `nginx -c conf` with its pid and error log in `dir`, the global
/// directives `globals` (`daemon off;`, say), and `args`.
pub(crate) fn nginx_command(dir: &Path, conf: &Path, globals: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(nginx());
    cmd.arg("-c")
        .arg(conf)
        .arg("-p")
        .arg(dir)
        .arg("-g")
        .arg(format!(
            "pid {d}/nginx.pid; error_log {d}/error.log; {globals}",
            d = dir.display()
        ))
        .args(args);
    cmd
}

#[test]
fn the_nginx_sample_passes_nginx_t() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = crate::support::certs::TestCa::new();
    let leaf = ca.leaf(
        dir.path(),
        "proxy",
        crate::support::certs::Leaf::Valid("proxy"),
    );
    let gateways = [
        "127.0.0.1:18001".parse().expect("a"),
        "127.0.0.1:18002".parse().expect("b"),
    ];
    let conf = render_nginx(
        dir.path(),
        &leaf.cert,
        &leaf.key,
        (18443, 18080),
        &gateways,
        "max_fails=2 fail_timeout=5s",
    );
    let out = nginx_command(dir.path(), &conf, "", &["-t"])
        .output()
        .expect("nginx -t");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("test is successful"), "{said}");
    let sample = read("nginx/nginx.conf");
    for needed in [
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "ssl_certificate ",
        "trusted_proxies",
    ] {
        assert!(sample.contains(needed), "the sample lacks {needed:?}");
    }
}

/// The environment the deployment configs name, with values.
fn deployment_env(cmd: &mut Command) {
    let key = |b: u8| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([b; 32])
    };
    cmd.env("NOTION_CLIENT_SECRET", "secret_deploy_test")
        .env("NOG_STATE_KEY", key(1))
        .env("NOG_VAULT_KEYS", key(2))
        .env("NOG_TOKEN_API_KEY", "deploy-test-api-key-0123456789abcdef")
        .env("NOG_DATABASE_URL", crate::support::POSTGRES_URL);
}

/// `check` on a sample config whose machine paths are moved to this
/// checkout (plugins, documents) and a temporary folder (data, the CA).
fn check_sample(name: &str, text: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let ca = crate::support::certs::TestCa::new();
    let ca_file = ca.write_ca(&dir.path().join("db-ca.pem"));
    let r = repo();
    let moved = text
        .replace(
            "/usr/share/notion-oauth-gateway/plugins",
            &r.join("plugins").display().to_string(),
        )
        .replace(
            "/etc/notion-oauth-gateway/db-ca.pem",
            &ca_file.display().to_string(),
        )
        .replace(
            "/etc/notion-oauth-gateway/",
            &format!("{}/", r.join("config").display()),
        )
        .replace(
            "/var/lib/notion-oauth-gateway",
            &dir.path().join("data").display().to_string(),
        );
    let config = dir.path().join("gateway.toml");
    crate::support::gateway_process::write_private(&config, &moved);
    let mut cmd = Command::new(BIN);
    cmd.args(["check", "--config"]).arg(&config);
    deployment_env(&mut cmd);
    let out = cmd.output().expect("check");
    assert!(
        out.status.success(),
        "{name}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every YAML document in a file.
fn yaml_documents(path: &str) -> Vec<serde_yaml_ng::Value> {
    serde_yaml_ng::Deserializer::from_str(&read(path))
        .map(|d| serde_yaml_ng::Value::deserialize(d).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

/// The environment variables a gateway config reads (`*_env = "NAME"`).
fn env_names(config: &str) -> BTreeSet<String> {
    let table: toml::Table = toml::from_str(config).expect("a config parses");
    let mut names = BTreeSet::new();
    for (_, section) in table {
        if let toml::Value::Table(t) = section {
            for (key, value) in t {
                if key.ends_with("_env")
                    && let toml::Value::String(name) = value
                {
                    names.insert(name);
                }
            }
        }
    }
    names
}

#[test]
fn the_sample_gateway_configs_pass_check() {
    check_sample("deploy/gateway.toml", &read("gateway.toml"));
    check_sample(
        "deploy/container/gateway.toml",
        &read("container/gateway.toml"),
    );
    let map = &yaml_documents("kubernetes/configmap.yaml")[0];
    let in_cluster = map["data"]["gateway.toml"]
        .as_str()
        .expect("gateway.toml in the ConfigMap");
    check_sample("the ConfigMap's gateway.toml", in_cluster);
}

#[test]
fn the_kubernetes_manifests_run_three_probed_replicas_with_their_secrets() {
    let deployment = &yaml_documents("kubernetes/deployment.yaml")[0];
    assert_eq!(deployment["kind"], "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("grace");

    let map = &yaml_documents("kubernetes/configmap.yaml")[0];
    let config = map["data"]["gateway.toml"].as_str().expect("config");
    let table: toml::Table = toml::from_str(config).expect("toml");
    let drain = table["server"]["drain_seconds"]
        .as_integer()
        .expect("drain");
    assert!(
        grace > u64::try_from(drain).expect("drain") + 30,
        "the grace period covers the drain and the request timeout"
    );
    let listen = table["server"]["listen"].as_str().expect("listen");
    let port = container["ports"][0]["containerPort"]
        .as_u64()
        .expect("port");
    assert!(listen.ends_with(&format!(":{port}")), "{listen} vs {port}");

    let secret = &yaml_documents("kubernetes/secret.yaml")[0];
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(
        container["envFrom"][0]["secretRef"]["name"],
        secret["metadata"]["name"]
    );
    let given: BTreeSet<String> = secret["stringData"]
        .as_mapping()
        .expect("stringData")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    for name in env_names(config) {
        assert!(given.contains(&name), "the Secret lacks {name}");
    }

    let pdb = &yaml_documents("kubernetes/poddisruptionbudget.yaml")[0];
    assert_eq!(pdb["kind"], "PodDisruptionBudget");
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let services = yaml_documents("kubernetes/service.yaml");
    assert!(services.iter().all(|s| s["kind"] == "Service"));
    let kustomize = &yaml_documents("kubernetes/kustomization.yaml")[0];
    for file in kustomize["resources"].as_sequence().expect("resources") {
        let file = file.as_str().expect("file");
        assert!(deploy(&format!("kubernetes/{file}")).is_file(), "{file}");
    }
}

#[test]
fn the_compose_file_runs_postgres_two_gateways_and_a_proxy_read_only_and_non_root() {
    let mut compose = yaml_documents("container/compose.yaml").remove(0);
    compose.apply_merge().expect("the x-gateway anchor merges");
    let compose = &compose;
    let services = compose["services"].as_mapping().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    for name in ["postgres", "gateway-1", "gateway-2", "nginx"] {
        assert!(names.contains(name), "no {name} in {names:?}");
    }
    for gateway in ["gateway-1", "gateway-2"] {
        let s = &compose["services"][gateway];
        assert_eq!(s["read_only"], true, "{gateway}");
        assert_eq!(
            s["depends_on"]["postgres"]["condition"], "service_healthy",
            "{gateway}"
        );
    }
    let env_example = read("container/env.example");
    for name in env_names(&read("container/gateway.toml")) {
        let in_env = env_example
            .lines()
            .any(|l| l.starts_with(&format!("{name}=")));
        let in_compose = compose["x-gateway"]["environment"][name.as_str()].is_string();
        assert!(in_env || in_compose, "{name} is given nowhere");
    }
    let containerfile = read("container/Containerfile");
    assert!(containerfile.contains("\nUSER 10001:10001\n"), "non-root");
    assert!(containerfile.contains("VOLUME [\"/var/lib/notion-oauth-gateway\"]"));
    // Every file the image copies from the checkout exists.
    for line in containerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for source in &parts[1..parts.len() - 1] {
            assert!(
                repo().join(source).exists(),
                "COPY {source}: not in the checkout"
            );
        }
    }
}

#[test]
fn systemd_accepts_the_unit_and_it_is_hardened() {
    let unit = read("systemd/notion-oauth-gateway.service");
    for needed in [
        "DynamicUser=yes",
        "StateDirectory=notion-oauth-gateway",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "WorkingDirectory=/var/lib/notion-oauth-gateway",
    ] {
        assert!(unit.lines().any(|l| l == needed), "the unit lacks {needed}");
    }
    let Ok(analyze) = which("systemd-analyze") else {
        panic!("systemd-analyze is installed by `make test-deps`");
    };
    // The unit as installed, its binary and config moved to this checkout.
    let dir = tempfile::tempdir().expect("dir");
    let unit = unit
        .replace("/usr/local/bin/notion-oauth-gateway", BIN)
        .replace(
            "EnvironmentFile=/etc/notion-oauth-gateway/env",
            "EnvironmentFile=-/nonexistent",
        );
    let path = dir.path().join("notion-oauth-gateway.service");
    std::fs::write(&path, unit).expect("unit");
    let out = Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let said = String::from_utf8_lossy(&out.stderr);
    let complaints: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("notion-oauth-gateway.service"))
        .collect();
    assert!(complaints.is_empty() && out.status.success(), "{said}");
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
