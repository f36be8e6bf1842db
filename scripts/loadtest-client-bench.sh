#!/usr/bin/env bash
# Benchmarks the load-test client's connection rate alone: a throwaway nginx on
# loopback answers every subscription at once with a one-event text/event-stream,
# so the server costs next to nothing and connections/s is the client's. Each
# connection ends after its event, so "dropped" equals "established" here by design.
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
trap 'kill $ngx; rm -rf "$dir"' EXIT
sleep 0.5
echo x > "$dir/token"
target/release/mercure-setup loadtest --public-url "http://127.0.0.1:$port/.well-known/mercure" \
  --token-file "$dir/token" --subscribers "$n" --updates 0 --concurrency 500 --duration 2m || true
