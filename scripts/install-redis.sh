#!/usr/bin/env bash
# Installs redis-server and redis-cli where they are missing (apt-get, dnf or Homebrew).
# Safe to run again: it exits at once when both are already on PATH.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  echo "redis-server and redis-cli are already installed: $(redis-server --version | head -n 1)"
  exit 0
fi

# Runs a command as root: directly when we are root (or have no sudo), else through sudo.
as_root() {
  if [[ "$(id -u)" -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    "$@"
  fi
}

if command -v apt-get >/dev/null 2>&1; then
  echo "installing redis-server with apt-get..."
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
  # Debian starts a system-wide service on 6379; redislab does not need it, tests never use it.
elif command -v dnf >/dev/null 2>&1; then
  echo "installing redis with dnf..."
  # Newer Fedora ships Valkey under the redis name; either provides redis-server and redis-cli.
  as_root dnf install -y redis
elif command -v brew >/dev/null 2>&1; then
  echo "installing redis with Homebrew..."
  brew install redis
else
  echo "error: no apt-get, dnf or brew here. Install Redis yourself (https://redis.io/docs/latest/operate/oss_and_stack/install/)," >&2
  echo "       run one with \`docker compose up -d\`, or point redislab at yours with REDIS_URL=redis://host:port" >&2
  exit 1
fi

for tool in redis-server redis-cli; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is still not on PATH after installing" >&2
    exit 1
  fi
done
echo "installed: $(redis-server --version | head -n 1)"
