#!/usr/bin/env bash
# Headless browser for the results-page tests: Debian's chromium + chromium-driver (Selenium drives them).
# Idempotent: a no-op when both are there. Needs root and apt-get (CI has both); elsewhere it says why not and
# the browser tests skip with that reason.
set -uo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "browser: $(chromium --version 2>/dev/null | head -1) + chromedriver present"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "browser: chromium/chromium-driver missing and not root: browser tests will skip (as root: make test)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser: chromium/chromium-driver missing and no apt-get: browser tests will skip"
  exit 0
fi
echo "browser: apt-get install chromium chromium-driver (first time: about a minute)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }; then
  echo "browser: apt-get install chromium chromium-driver failed: browser tests will skip (CI fails them)"
fi
exit 0
