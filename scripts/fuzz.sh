#!/usr/bin/env bash
# Runs the coverage-guided fuzz target (fuzz/fuzz_targets/answers.rs) for SECONDS on the
# stable toolchain: libFuzzer with coverage instrumentation, no sanitizer (the code under
# test is safe Rust, so a sanitizer adds little; panics, hangs and memory blow-ups are
# what libFuzzer reports). A failing input is saved under fuzz/artifacts/answers/ and
# the script exits non-zero.
#
#   scripts/fuzz.sh [SECONDS] [EXTRA LIBFUZZER FLAGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: needs cargo-fuzz (cargo install --locked cargo-fuzz)" >&2; exit 1; }
# What the fuzzer learns is kept between runs on this machine, never committed.
corpus="${MERCURE_FUZZ_CORPUS:-$HOME/.cache/mercure-setup/fuzz-corpus/answers}"
mkdir -p "$corpus"
# -rss_limit_mb: a parser that grows memory without bound fails instead of swapping;
# -timeout: one input taking seconds is a hang.
cargo fuzz run --sanitizer none --release --debug-assertions answers "$corpus" fuzz/seeds/answers -- \
  -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 "$@"
