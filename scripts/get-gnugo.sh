#!/bin/sh
# Make sure GNU Go is installed for the Go tests and matches (`striate games match ... gnugo`): Debian's `gnugo`
# package, which puts the program in /usr/games. Installs it when running as root; otherwise says how (the tests that
# play a real GNU Go game then skip).
set -eu
if command -v gnugo >/dev/null 2>&1 || [ -x /usr/games/gnugo ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing GNU Go for the Go tests (Debian package gnugo)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends gnugo >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends gnugo; }
    exit 0
fi
echo "GNU Go is missing: run 'sudo apt-get install gnugo' (Debian/Ubuntu) to play Go against it; without it the" >&2
echo "tests that play a real GNU Go game are skipped." >&2
exit 0
