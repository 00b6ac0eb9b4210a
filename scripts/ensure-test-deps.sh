#!/usr/bin/env bash
# Installs what the test suite needs beyond npm packages: Debian's Chromium for the headless
# browser tests (test/scenarios/browser.test.ts). Run by `npm test` before the runner.
# In CI (CI=true) a missing browser that cannot be installed fails the run; elsewhere the browser
# test is skipped with a visible reason.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi

install() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); else return 1; fi
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  echo "ensure-test-deps: installing chromium with apt-get" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
}

if install && [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "${CI:-}" = "true" ]; then
  echo "ensure-test-deps: $CHROMIUM is missing and could not be installed (CI: the browser test must run)" >&2
  exit 1
fi
echo "ensure-test-deps: $CHROMIUM is missing and could not be installed; the browser test will be skipped" >&2
exit 0
