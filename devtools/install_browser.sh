#!/usr/bin/env bash
# Debian's chromium (and its driver) for the page's browser test: Playwright drives the
# system browser (executable_path), it downloads none of its own. Installed with apt-get
# when missing, as root or through sudo, as .ci/run installs redis-server.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
echo "installing Debian's chromium and chromium-driver (the page's browser test drives them)"
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver >/dev/null
command -v chromium >/dev/null
