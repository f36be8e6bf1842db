#!/usr/bin/env bash
# Benchmarks the load-test client's connection rate alone: a throwaway nginx on
# loopback answers every subscription at once with a one-event text/event-stream,
# so the server costs next to nothing and connections/s is the client's. Each
# connection ends after its event, so "dropped" equals "established" here by design,
# and loadtest itself exits non-zero: this script judges the run by its JSON instead
# and fails when nginx did not start or no connection was established.
#   scripts/loadtest-client-bench.sh [N]      (default 10000; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet
dir="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$dir/tmp"
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
master_process off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 30000; }
http {
    access_log off;
    client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / { default_type text/event-stream; return 200 "data: hello\n\n"; }
    }
}
CONF
/usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
ngx=$!
trap 'kill "$ngx" 2>/dev/null || true; rm -rf "$dir"' EXIT
# Wait for nginx to listen (up to 10 s), and fail if it exited instead.
up=0
for _ in $(seq 100); do
  if ! kill -0 "$ngx" 2>/dev/null; then
    echo "nginx exited at start:" >&2
    cat "$dir/error.log" >&2 || true
    exit 1
  fi
  if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$port" 2>/dev/null; then
    up=1
    break
  fi
  sleep 0.1
done
if [ "$up" != 1 ]; then
  echo "nginx did not listen on 127.0.0.1:$port within 10 s" >&2
  cat "$dir/error.log" >&2 || true
  exit 1
fi
echo x > "$dir/token"
# loadtest exits 1 by design here (every connection ends after its event): keep its
# status out of `set -e`, keep its report, and judge by the connections established.
rc=0
target/release/mercure-setup loadtest --public-url "http://127.0.0.1:$port/.well-known/mercure" \
  --token-file "$dir/token" --subscribers "$n" --updates 0 --concurrency 500 --duration 2m --json \
  > "$dir/report.json" || rc=$?
python3 - "$dir/report.json" "$n" "$rc" <<'PY'
import json, sys
path, n, rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
try:
    r = json.load(open(path))
except (OSError, ValueError) as e:
    sys.exit(f"loadtest (exit {rc}) wrote no report: {e}")
c = r["client"]
print(f"established {r['established']} of {n}, failed {r['failed']} {r['failed_by_kind']}")
print(f"ramp-up {r['ramp_seconds']:.1f} s, {r['connections_per_second']:.0f} connections/s")
print(f"memory {c['rss_peak_kib'] // 1024} MiB peak RSS, {c['rss_per_subscription_bytes'] / 1024:.1f} KiB per subscription")
for b in c["bottlenecks"]:
    print(f"BOTTLENECK (client) {b}")
if r["established"] == 0:
    sys.exit(f"no connection was established (loadtest exit {rc}): {r['failure_examples']}")
if r["failed"] > 0:
    sys.exit(f"{r['failed']} connection(s) failed (loadtest exit {rc})")
PY
