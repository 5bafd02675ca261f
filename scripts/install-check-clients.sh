#!/usr/bin/env bash
# The client libraries `redislab check`'s fixtures are written with (tests/fixtures/check/):
# redis-py for the Python workers and ioredis for the Node ones. Installed into target/ —
# never globally — and skipped when already there, so a second run costs nothing.
#   Python: target/check-clients/python   (use it with PYTHONPATH)
#   Node:   target/check-clients/node/node_modules   (use it with NODE_PATH)
set -euo pipefail

cd "$(dirname "$0")/.."
dest="target/check-clients"

if [ ! -d "$dest/python/redis" ]; then
    echo "==> installing redis-py into $dest/python"
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
        --target "$dest/python" 'redis>=5,<7'
fi

if [ ! -d "$dest/node/node_modules/ioredis" ]; then
    echo "==> installing ioredis into $dest/node"
    mkdir -p "$dest/node"
    npm install --silent --no-audit --no-fund --prefix "$dest/node" 'ioredis@5'
fi
