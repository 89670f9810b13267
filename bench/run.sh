#!/usr/bin/env bash
# make bench: the token path under load, on loopback, for a bounded time.
#
# 1. The redirect path alone, as Notion's redirect hits it: pre-issued
#    (state, cookie) pairs replayed once each against the callback over
#    BENCH_CONNECTIONS keep-alive connections (bench/callback_load.rs); the
#    Notion stand-in runs with --any-code, so every request gets its own
#    bot_id and tokens. In the same run, the bare forwarder
#    (bench/forwarder.rs: the same token POST and JSON parse, nothing else)
#    against the same stand-in, then the gateway on SQLite and on
#    PostgreSQL. Each line gives callbacks/s, p50/p99 and the server's CPU
#    per callback (from /proc/PID/stat); after it, the gateway's peak RSS
#    and its ratio to the forwarder.
# 2. Whole flows (start -> stand-in consent -> callback -> result page)
#    through the default plugins, python-example and js-example
#    (bench/flow_load.rs), and the stand-in's token endpoint alone.
#
# The gateway logs at info, as in production. PostgreSQL is the machine's
# (BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test), in
# a fresh schema; without it that line is skipped.
# Profile one phase with BENCH_PERF=<part of its name> (e.g. SQLite): perf
# records the server during it into BENCH_PERF_OUT (default perf.data).
# BENCH_PERF_CALL_GRAPH=dwarf unwinds without frame pointers (bigger files).
# BENCH_PHASES=callbacks runs part 1 only. BENCH_LOGS=DIR keeps the servers' logs there.
# Knobs: BENCH_SECONDS (10), BENCH_CONNECTIONS (32), BENCH_CONCURRENCY (16,
# whole flows), BENCH_CALLBACKS (pairs pre-issued per run, 60000).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/notion-oauth-gateway
SECONDS_PER_PHASE=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
CONCURRENCY=${BENCH_CONCURRENCY:-16}
CALLBACKS=${BENCH_CALLBACKS:-60000}
POSTGRES_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

cargo build --release --quiet --example flow-load --example callback-load --example forwarder
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${BENCH_LOGS:-}" ]; then mkdir -p "$BENCH_LOGS" && cp "$work"/*.log "$BENCH_LOGS"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_up() {
  for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  curl -fs "$1" >/dev/null || { cat "$2"; exit 1; }
}
peak_rss() { awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status"; }

SI_PORT=$(free_port)
SECRET="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# One redirect URI for every gateway this run starts (they run one at a time).
GW_PORT=$(free_port)
GATEWAY="http://127.0.0.1:${GW_PORT}"
REDIRECT="${GATEWAY}/auth/notion/redirect"

NOG_STAND_IN_CLIENT_SECRET="$SECRET" NOG_LOG=warn "$BIN" stand-in --listen "127.0.0.1:${SI_PORT}" \
  --client-id bench-client --redirect-uri "$REDIRECT" --any-code > "$work/stand-in.log" 2>&1 &
pids+=($!)

# start_gateway NAME STORE_TOML PLUGINS_TOML: starts a gateway, sets GW_PID.
start_gateway() {
  local name=$1 store=$2 plugins=$3
  cat > "$work/$name.toml" <<TOML
[server]
listen = "127.0.0.1:${GW_PORT}"
data_dir = "$work/data-$name"
# One load generator on one address stands for many users: no rate limits,
# no cap per address, and its kept-alive connections are not recycled.
max_connections_per_ip = 0
max_requests_per_connection = 100000000
[server.rate_limit]
per_ip_per_minute = 0
global_per_second = 0
[notion]
client_id = "bench-client"
client_secret_env = "BENCH_SECRET"
redirect_uri = "$REDIRECT"
api_base_url = "http://127.0.0.1:${SI_PORT}"
authorize_url = "http://127.0.0.1:${SI_PORT}/v1/oauth/authorize"
[store]
$store
[plugins]
dir = "$(pwd)/plugins"
$plugins
TOML
  BENCH_SECRET="$SECRET" BENCH_POSTGRES_URL="$POSTGRES_URL" NOG_LOG=info "$BIN" serve --config "$work/$name.toml" > "$work/$name.log" 2>&1 &
  GW_PID=$!
  pids+=($GW_PID)
  wait_up "${GATEWAY}/healthz" "$work/$name.log"
}
stop_gateway() { kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; }

# callbacks NAME PID TARGET [DATABASE]: one callback phase; prints its line,
# sets RATE and MACHINE (the machine's CPU ms per callback).
callbacks() {
  local line perf_pid=
  if [ -n "${BENCH_PERF:-}" ] && [[ "$1" == *"$BENCH_PERF"* ]]; then
    perf record -q -F 499 --call-graph "${BENCH_PERF_CALL_GRAPH:-fp}" -p "$2" -o "${BENCH_PERF_OUT:-perf.data}" -- sleep "$((SECONDS_PER_PHASE + 8))" 2>/dev/null &
    perf_pid=$!
  fi
  line=$(target/release/examples/callback-load --target "$3" --gateway "$GATEWAY" --name "$1" \
    --seconds "$SECONDS_PER_PHASE" --connections "$CONNECTIONS" --callbacks "$CALLBACKS" --pid "$2" \
    ${4:+--database "$4"})
  RATE=$(awk '{for (i = 1; i < NF; i++) if ($(i+1) == "callbacks/s") print $i}' <<<"$line")
  MACHINE=$(awk '{for (i = 2; i <= NF; i++) if ($(i-1) == "machine") print $i}' <<<"$line")
  [ -z "$perf_pid" ] || wait "$perf_pid" || true
  printf '%s\n' "$line"
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

echo "notion-oauth-gateway bench: ${SECONDS_PER_PHASE}s per phase, $(nproc) cores"
echo "-- the redirect path: ${CONNECTIONS} connections, pre-issued (state, cookie) pairs, each used once"

# The forwarder needs a gateway for its pairs only (it ignores them), so the
# SQLite gateway issues them; it is idle while the forwarder runs.
start_gateway sqlite "" ""
FW_PORT=$(free_port)
target/release/examples/forwarder --listen "127.0.0.1:${FW_PORT}" \
  --token-url "http://127.0.0.1:${SI_PORT}/v1/oauth/token" --client-id bench-client \
  --secret "$SECRET" --redirect-uri "$REDIRECT" > "$work/forwarder.log" 2>&1 &
FW_PID=$!
pids+=($FW_PID)
sleep 0.3
callbacks "forwarder (hyper+reqwest)" "$FW_PID" "http://127.0.0.1:${FW_PORT}"
echo "  peak RSS $(peak_rss "$FW_PID")"
FORWARDER=$RATE
echo "  at 0.35x this rate a callback may cost the machine $(python3 -c "print('%.3f' % ($MACHINE / 0.35))") ms of CPU, everything included"
kill "$FW_PID"

callbacks "gateway, SQLite" "$GW_PID" "$GATEWAY"
echo "  peak RSS $(peak_rss "$GW_PID")  $(ratio "$RATE" "$FORWARDER")x the forwarder"
stop_gateway

if command -v pg_isready >/dev/null && pg_isready -q -d "$POSTGRES_URL"; then
  schema="bench_$(date +%s)_$$"
  start_gateway postgres "url_env = \"BENCH_POSTGRES_URL\"
schema = \"$schema\"" ""
  callbacks "gateway, PostgreSQL" "$GW_PID" "$GATEWAY" postgres
  echo "  peak RSS $(peak_rss "$GW_PID")  $(ratio "$RATE" "$FORWARDER")x the forwarder"
  stop_gateway
  psql -q "$POSTGRES_URL" -c "DROP SCHEMA \"$schema\" CASCADE" >/dev/null 2>&1 || true
else
  echo "gateway, PostgreSQL          skipped: no PostgreSQL answers at BENCH_POSTGRES_URL"
fi

[[ " ${BENCH_PHASES:-callbacks flows} " == *" flows "* ]] || exit 0
echo "-- whole flows: ${CONCURRENCY} concurrent browsers"
flows() {
  target/release/examples/flow-load --gateway "$GATEWAY" --stand-in "http://127.0.0.1:${SI_PORT}" \
    --secret "$SECRET" --client-id bench-client --seconds "$SECONDS_PER_PHASE" \
    --concurrency "$CONCURRENCY" --label "$1" --stand-in-alone "$2"
}
start_gateway flows "" ""
flows "default plugins" false
echo "  peak RSS $(peak_rss "$GW_PID")"
# The loss window: from Notion's answer to the durable outbox commit, read
# from the gateway's own histogram (bucket upper bounds, so an upper estimate).
curl -fs "${GATEWAY}/metrics" | python3 -c '
import sys
buckets = []
for line in sys.stdin:
    if line.startswith("notion_gateway_outbox_commit_seconds_bucket"):
        le = line.split("le=\"")[1].split("\"")[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
total = buckets[-1][1] if buckets else 0
def q(p):
    return next((le for le, n in buckets if n >= p * total), float("nan"))
if total:
    print("  outbox commit (Notion answer to durable commit): %d commits, p50 <= %.2f ms, p99 <= %.2f ms" % (total, q(0.5) * 1e3, q(0.99) * 1e3))
'
stop_gateway
for example in python-example js-example; do
  if [ -f "plugins/$example.wasm" ]; then
    start_gateway "$example" "" "consumer = \"$example\"
view = \"$example\"
[plugins.grants.$example]
keyvalue = true"
    flows "$example" false
    echo "  peak RSS $(peak_rss "$GW_PID")"
    stop_gateway
  else
    echo "whole flow, $example: skipped (plugins/$example.wasm not built; make build)"
  fi
done
start_gateway standin "" ""
flows "default plugins (again)" true | tail -n 1
stop_gateway
