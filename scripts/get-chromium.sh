#!/bin/sh
# Make sure headless Chromium and its WebDriver are installed for the report's browser test: Debian's `chromium` and
# `chromium-driver` packages. Installs them when running as root; otherwise says how (the test then skips).
set -eu
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Chromium for the browser test (Debian packages chromium, chromium-driver)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; }
    exit 0
fi
echo "Chromium is missing: run 'sudo apt-get install chromium chromium-driver' (Debian/Ubuntu) for the report's" >&2
echo "browser test; without it that one test is skipped." >&2
exit 0
