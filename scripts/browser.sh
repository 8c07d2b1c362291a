#!/usr/bin/env bash
# Install the Chromium the browser tests drive (tests/browser), from Debian, if it is missing.
# Playwright's own browser download is never used: `playwright install` cannot fetch here.
set -u
[ -x /usr/bin/chromium ] && exit 0
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
[ -x /usr/bin/chromium ] || echo "warning: /usr/bin/chromium is missing; the browser tests will skip (fail in CI)" >&2
