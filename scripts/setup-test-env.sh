#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian/Ubuntu machine: the npm packages, a
# redis-server binary (tests spawn their own instances, sentinels included: `redis-server --sentinel`),
# redis-cli (redis-tools: the cluster tests create their cluster with `redis-cli --cluster create`) and
# Chromium (browser tests drive it with playwright-core, which downloads no browser). Safe to run
# again; quiet when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# Debian's redis-server depends on redis-tools; a redis-server from elsewhere may come without redis-cli.
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
if [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/lib/chromium/chromium ] && [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-test-env: missing ${missing[*]} and apt-get is not available." >&2
  echo "Install them with your package manager (redis-server 7.x and its redis-cli; Chromium at /usr/lib/chromium/chromium or /usr/bin/chromium, or set CHROMIUM_PATH), then run this script again." >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "setup-test-env: installing ${missing[*]} needs root, and sudo is not available. Run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

echo "setup-test-env: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
