#!/usr/bin/env bash
# The whole test suite, as CI runs it (after .ci/install-deps): both tiers, then the
# Debian 12 VM tests of `apply` on their own, so the VM (a busy core for minutes) never
# runs beside the timing-sensitive real-stack tests. One build serves both runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --features vps -- --skip vps::
cargo test --locked --features vps --test integration vps:: -- --nocapture
