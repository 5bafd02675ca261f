#!/usr/bin/env bash
# The whole test suite: format, lints, every test against real private servers (never port
# 6379) — Redis 7.0 and Valkey 9 — and lesson validation. Installs redis-server and
# valkey-server first where they are missing, and the client libraries `check`'s fixtures use.
set -euo pipefail

cd "$(dirname "$0")/.."

bash scripts/install-redis.sh
bash scripts/install-valkey.sh
bash scripts/install-check-clients.sh

echo "==> cargo fmt --all -- --check"
cargo fmt --all -- --check

echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

# cargo-nextest runs every test binary's tests side by side (.config/nextest.toml): the suite
# takes about a quarter of `cargo test`'s time, which runs one binary after another.
if cargo nextest --version >/dev/null 2>&1; then
  echo "==> cargo nextest run --all-targets"
  cargo nextest run --all-targets
else
  echo "==> cargo test --all-targets (cargo-nextest is not installed)"
  cargo test --all-targets -- --test-threads 4
fi

echo "==> redislab validate"
cargo run -q -- validate

echo "all checks passed"
