#!/usr/bin/env bash
# Installs what the test suite needs beyond npm packages, from Debian's packages, only when
# missing (idempotent): the `age` command for the backup interoperability tests
# (src/core/lifecycle/backup.test.ts) and Chromium for the headless browser tests. Run by `npm test` before the runner; add a line to NEEDS
# for another tool. In CI (CI=true) a tool that cannot be installed fails the run.
set -euo pipefail

# command  debian-package  what needs it
NEEDS=(
  "age age backup interoperability tests (age -d / age -r)"
  "chromium chromium headless browser tests (test/scenarios/browser.test.ts)"
)

missing=()
for need in "${NEEDS[@]}"; do
  read -r cmd pkg _ <<<"$need"
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

install() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); else return 1; fi
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  echo "ensure-test-deps: installing ${missing[*]} with apt-get" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if install; then
  exit 0
fi
if [ "${CI:-}" = "true" ]; then
  echo "ensure-test-deps: could not install ${missing[*]} (CI: the tests that need them must run)" >&2
  exit 1
fi
echo "ensure-test-deps: could not install ${missing[*]}; the tests that need them will fail" >&2
exit 0
