#!/usr/bin/env bash
# The console's front-end libraries (htmx, Leaflet, ECharts) come from the npm registry at install time.
# Install Debian's npm when it is missing and we may (root, as on CI and fresh machines); otherwise say how.
set -euo pipefail

if command -v npm >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-npm: the web console needs npm (Node.js) at install time; install it, e.g. sudo apt-get install npm" >&2
  exit 1
fi
echo "ensure-npm: installing Debian's npm (apt-get install npm) for the console's front-end libraries"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq npm >/dev/null
npm --version
