#!/usr/bin/env bash
# Runs the long load tests on the real stack (nginx + the real Mercure hub on
# loopback), which CI skips: 10,000 subscribers through each topology over HTTP/1.1
# and over HTTP/2, each twice in the same run: with main's bundle (the tuning the
# capacity tests know stripped) and with the tuned one, printing the memory each
# subscriber costs nginx (PSS) and the hub (RSS, heap, goroutine stacks from its
# pprof endpoints) side by side; 5,000 with Debian's stock nginx.conf
# (worker_connections 768); 10,000 straight to the hub to benchmark the load-test
# client itself; and `ceiling`, where this machine stops (the client spread over
# three processes). Each report (the load test's JSON, the servers' memory and CPU,
# the hub's heap profile) is printed and kept in target/tmp/loadtest-reports/, and
# the before/after tables are printed again at the end.
#
#   scripts/loadtest-stack.sh            # the four paths, stock and client
#   scripts/loadtest-stack.sh http       # any of: http http-h2 tls tls-h2 stock client ceiling
#   MERCURE_CAPACITY_SUBSCRIBERS=2000 scripts/loadtest-stack.sh http   # a quicker run
#   MERCURE_CEILING_SUBSCRIBERS=30000 scripts/loadtest-stack.sh ceiling
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
  [ceiling]=capacity_ceiling
)
which=("${@:-http http-h2 tls tls-h2 stock client}")
for name in ${which[*]}; do
  # Release build: the client's own speed is part of what is measured.
  cargo test --release --features real-stack --test integration "loadtest::${tests[$name]}" -- --ignored --exact --nocapture --test-threads 1
done
reports=target/tmp/loadtest-reports
echo
for table in "$reports"/*-compare.txt; do
  if [ -e "$table" ]; then cat "$table"; fi
done
# Where the hub's heap goes, by allocation site (needs Go, which builds the hub).
if command -v go >/dev/null; then
  for profile in "$reports"/*-tuned.heap.pb.gz; do
    [ -e "$profile" ] || continue
    echo "== $(basename "$profile"): the hub's heap in use by function"
    go tool pprof -top -sample_index=inuse_space "$profile" 2>/dev/null | sed -n '1,18p' || true
  done
fi
