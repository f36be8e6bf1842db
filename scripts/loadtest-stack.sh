#!/usr/bin/env bash
# Runs the long load tests on the real stack (nginx + the real Mercure hub on
# loopback), which CI skips: 5,000 subscribers with the nginx tuning the bundle
# generates, 5,000 with Debian's stock nginx.conf (worker_connections 768), and
# 10,000 to benchmark the load-test client itself (connections/s, memory per
# subscription). Each table is printed and kept in target/tmp/loadtest-reports/.
#
#   scripts/loadtest-stack.sh            # all three
#   scripts/loadtest-stack.sh tuned      # one of: tuned stock client
set -euo pipefail
cd "$(dirname "$0")/.."
# Every process of the stack needs more than the default 1024 descriptors; as root
# the hard limit can be raised too (10,000 subscribers cost Caddy ~20,000).
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
declare -A tests=(
  [tuned]=loadtest_5000_with_generated_tuning
  [stock]=loadtest_5000_with_stock_debian_nginx
  [client]=loadtest_10000_client_benchmark
)
which=("${@:-tuned stock client}")
for name in ${which[*]}; do
  # Release build: the client's own speed is part of what is measured.
  cargo test --release --test integration "loadtest::${tests[$name]}" -- --ignored --exact --nocapture --test-threads 1
done
