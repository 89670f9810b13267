#!/usr/bin/env bash
# Start-up cost of a large plugin: `check` (load, compile or take from the
# cache, instantiate once) for the 18 MB Python example, first with an empty
# compile cache, then twice from the cache. Prints wall time and peak RSS.
#   make build && bash bench/plugin_start.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/notion-oauth-gateway
component=plugins/python-example.wasm
[ -x "$bin" ] && [ -f "$component" ] || { echo "run \`make build\` first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/gw.toml" <<TOML
[server]
data_dir = "$work/data"
[notion]
client_id = "bench"
client_secret_env = "BENCH_SECRET"
redirect_uri = "http://127.0.0.1:8000/auth/notion/redirect"
[plugins]
dir = "$PWD/plugins"
consumer = "python-example"
view = "python-example"
[plugins.grants.python-example]
keyvalue = true
TOML
echo "component: $component ($(($(stat -c %s "$component") / 1024 / 1024)) MiB)"
for run in first cached cached; do
  /usr/bin/time -f "$run start: %e s wall, %M KiB peak RSS" \
    env BENCH_SECRET=x "$bin" check --config "$work/gw.toml" >/dev/null
done 2>&1 | grep start
