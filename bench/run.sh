#!/usr/bin/env bash
# make bench: the redirect path under load, on loopback, for a bounded time.
#
# Starts the Notion stand-in and the gateway (release build, default plugins)
# as separate processes, drives whole flows through them with
# bench/flow_load.rs, then the stand-in's token endpoint alone, and prints
# requests/s, p50/p99 latency, and the gateway's peak RSS.
#
# Knobs: BENCH_SECONDS (default 10), BENCH_CONCURRENCY (default 16).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/notion-oauth-gateway
SECONDS_PER_PHASE=${BENCH_SECONDS:-10}
CONCURRENCY=${BENCH_CONCURRENCY:-16}

cargo build --release --quiet --example flow-load
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
GW_PORT=$(free_port)
SI_PORT=$(free_port)
SECRET="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
REDIRECT="http://127.0.0.1:${GW_PORT}/auth/notion/redirect"

NOG_STAND_IN_CLIENT_SECRET="$SECRET" NOG_LOG=warn "$BIN" stand-in --listen "127.0.0.1:${SI_PORT}" \
  --client-id bench-client --redirect-uri "$REDIRECT" > "$work/stand-in.log" 2>&1 &
pids+=($!)

cat > "$work/gateway.toml" <<TOML
[server]
listen = "127.0.0.1:${GW_PORT}"
data_dir = "$work/data"
# One load generator on one address stands for many users: no rate limits.
[server.rate_limit]
per_ip_per_minute = 0
global_per_second = 0
[notion]
client_id = "bench-client"
client_secret_env = "BENCH_SECRET"
redirect_uri = "$REDIRECT"
api_base_url = "http://127.0.0.1:${SI_PORT}"
authorize_url = "http://127.0.0.1:${SI_PORT}/v1/oauth/authorize"
[plugins]
dir = "$(pwd)/plugins"
TOML
BENCH_SECRET="$SECRET" NOG_LOG=warn "$BIN" serve --config "$work/gateway.toml" > "$work/gateway.log" 2>&1 &
GW_PID=$!
pids+=($GW_PID)

for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:${GW_PORT}/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:${GW_PORT}/healthz" >/dev/null || { cat "$work/gateway.log"; exit 1; }

echo "notion-oauth-gateway bench: ${SECONDS_PER_PHASE}s per phase, ${CONCURRENCY} concurrent clients, $(nproc) cores"
target/release/examples/flow-load --gateway "http://127.0.0.1:${GW_PORT}" --stand-in "http://127.0.0.1:${SI_PORT}" \
  --secret "$SECRET" --client-id bench-client --seconds "$SECONDS_PER_PHASE" --concurrency "$CONCURRENCY"
echo "gateway peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$GW_PID/status")"
# The loss window: from Notion's answer to the durable outbox commit, read
# from the gateway's own histogram (bucket upper bounds, so an upper estimate).
curl -fs "http://127.0.0.1:${GW_PORT}/metrics" | python3 -c '
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
    print("outbox commit (Notion answer to durable commit): %d commits, p50 <= %.2f ms, p99 <= %.2f ms" % (total, q(0.5) * 1e3, q(0.99) * 1e3))
'
