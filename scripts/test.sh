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

echo "==> cargo test --all-targets"
cargo test --all-targets

echo "==> redislab validate"
cargo run -q -- validate

echo "all checks passed"
