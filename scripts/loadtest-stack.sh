#!/usr/bin/env bash
# Runs the long load tests on the real stack (nginx + the real Mercure hub on
# loopback), which CI skips: 10,000 subscribers through each topology over HTTP/1.1
# and over HTTP/2 with the nginx tuning the bundle generates, 5,000 with Debian's stock nginx.conf
# (worker_connections 768), and 10,000 straight to the hub to benchmark the
# load-test client itself. Each report (the load test's JSON, the servers' peak
# memory and CPU) is printed and kept in target/tmp/loadtest-reports/.
#
#   scripts/loadtest-stack.sh            # all six
#   scripts/loadtest-stack.sh http       # one of: http http-h2 tls tls-h2 stock client
set -euo pipefail
cd "$(dirname "$0")/.."
# Every process of the stack needs more than the default 1024 descriptors; as root
# the hard limit can be raised too (10,000 subscribers cost nginx ~20,000, which its
# two workers share).
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
declare -A tests=(
  [http]=capacity_10000_same_host_http
  [http-h2]=capacity_10000_same_host_http_over_http2
  [tls]=capacity_10000_end_to_end_tls
  [tls-h2]=capacity_10000_end_to_end_tls_over_http2
  [stock]=capacity_5000_with_stock_debian_nginx
  [client]=loadtest_10000_client_benchmark
)
which=("${@:-http http-h2 tls tls-h2 stock client}")
for name in ${which[*]}; do
  # Release build: the client's own speed is part of what is measured.
  cargo test --release --features real-stack --test integration "loadtest::${tests[$name]}" -- --ignored --exact --nocapture --test-threads 1
done
