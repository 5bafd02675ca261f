#!/usr/bin/env bash
# Compares `redislab bench --throughput` with `redis-benchmark -t get` at the same settings,
# against a private redis-server on a free port (never 6379), and prints the ratios.
#
#   scripts/bench-throughput.sh            # builds release, 3 runs per tool per setting
#   RUNS=5 scripts/bench-throughput.sh     # more runs (the median is reported)
#   NO_BUILD=1 scripts/bench-throughput.sh # reuse target/release/redislab
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
# clients pipeline requests
SETTINGS=("1 1 100000" "50 1 200000" "50 16 2000000")

for tool in redis-server redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not on PATH (apt-get install redis-server)" >&2; exit 2; }
done

if [[ -z "${NO_BUILD:-}" ]]; then
  echo "building release…" >&2
  cargo build --release --quiet
fi
BIN="${CARGO_TARGET_DIR:-target}/release/redislab"
[[ -x "$BIN" ]] || { echo "error: $BIN not found" >&2; exit 2; }

free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    local p
    while :; do
      p=$(( 20000 + RANDOM % 30000 ))
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
  fi
}

PORT="$(free_port)"
[[ "$PORT" != 6379 ]] || PORT="$(free_port)"
WORK="$(mktemp -d)"
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$WORK" --logfile "$WORK/redis.log" &
SERVER_PID=$!
cleanup() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
  redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
  sleep 0.05
done
redis-cli -p "$PORT" ping >/dev/null || { echo "error: redis-server did not start on $PORT" >&2; exit 2; }

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ours() { # clients pipeline requests
  "$BIN" --redis-url "redis://127.0.0.1:$PORT" --home "$WORK/home" --no-color \
    bench --throughput --clients "$1" --pipeline "$2" --requests "$3" --json 2>/dev/null |
    sed -n 's/^  "ops_per_sec": \([0-9.eE+-]*\),\{0,1\}$/\1/p'
}

theirs() { # clients pipeline requests
  redis-benchmark -p "$PORT" -t get -c "$1" -P "$2" -n "$3" --csv 2>/dev/null |
    awk -F'","' '/^"GET/ {print $2}'
}

echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$PORT · $(nproc) CPUs · median of $RUNS runs" >&2
printf '%-9s %-9s %-9s %14s %16s %7s\n' clients pipeline requests "redislab GET/s" "redis-benchmark" ratio
for s in "${SETTINGS[@]}"; do
  read -r c p n <<<"$s"
  a=(); b=()
  for _ in $(seq 1 "$RUNS"); do
    b+=("$(theirs "$c" "$p" "$n")")
    a+=("$(ours "$c" "$p" "$n")")
  done
  ma="$(printf '%s\n' "${a[@]}" | median)"
  mb="$(printf '%s\n' "${b[@]}" | median)"
  ratio="$(awk -v a="$ma" -v b="$mb" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
  printf '%-9s %-9s %-9s %14.0f %16.0f %6s×\n' "$c" "$p" "$n" "$ma" "$mb" "$ratio"
done
