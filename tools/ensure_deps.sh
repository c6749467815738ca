#!/bin/sh
# Install the Debian packages the tests need, when missing. Called by `make venv`.
# As root it runs apt-get; otherwise it prints the one command to run and fails.
set -e
missing=""
for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "Installing Debian packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
else
    echo "Missing Debian packages:$missing. Run: sudo apt-get install$missing" >&2
    exit 1
fi
