#!/usr/bin/env bash
# One command for a newcomer: installs dependencies if needed, builds if needed, and starts
# Warbler (domain localhost, SQLite in ./data, a self-signed certificate, ports 5222/5223 and
# HTTPS 5281 for file upload, WebSocket and the privacy page).
set -euo pipefail
cd "$(dirname "$0")/.."

# Node 20.19 or newer (engines in package.json: age-encryption's dependencies need it)
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null; then
  echo "Warbler needs Node.js 20.19 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
if ! command -v openssl >/dev/null; then
  echo "openssl is needed to create the development certificate: apt-get install openssl" >&2
  exit 1
fi
# Build native modules against the installed Node headers when they are there (no download).
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing dependencies (npm ci)…" >&2
  npm ci --no-audit --no-fund
fi
if [ ! -f dist/src/main.js ] || [ -n "$(find src tsconfig.json tsconfig.build.json -newer dist/src/main.js -print -quit)" ]; then
  echo "Building…" >&2
  rm -rf dist
  npx tsc -p tsconfig.build.json
fi
exec node --enable-source-maps dist/src/main.js "${@:-start}"
