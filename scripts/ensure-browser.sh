#!/usr/bin/env bash
# The browser tests (tests/browser) drive Debian's Chromium through Playwright; Playwright's own browser
# downloads are never used. Install what they need when we may (root, as on CI and fresh test machines);
# otherwise say how, and let the tests skip (they fail instead under CITYLOOP_REQUIRE_BROWSER=1).
#
# Besides chromium: a Chinese font. Debian's chromium brings none, and without one every label in the
# screenshots is a row of empty boxes. WenQuanYi Micro Hei is small (1.6 MB); any installed CJK font will do.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
packages=()

[ -x "$CHROMIUM" ] || packages+=(chromium)
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
  packages+=(fonts-wqy-microhei)
fi

if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-browser: missing for the browser tests: ${packages[*]}" >&2
  echo "ensure-browser: install with: sudo apt-get install ${packages[*]}" >&2
  [ -x "$CHROMIUM" ] && echo "ensure-browser: (the tests run without the font; screenshots show boxes for Chinese)" >&2
  [ -x "$CHROMIUM" ] || echo "ensure-browser: until then the browser tests are skipped" >&2
  exit 0
fi

echo "ensure-browser: installing Debian packages for the browser tests: apt-get install ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${packages[@]}" >/dev/null
