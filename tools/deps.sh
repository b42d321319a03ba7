#!/bin/sh
# Installs the Debian packages named as arguments that are not installed yet.
# As root it runs apt-get; otherwise it prints the line to run and fails.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "make deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || exit 1
    apt-get install -y -q --no-install-recommends $missing >/dev/null || exit 1
else
    echo "make deps: missing Debian packages; run:" >&2
    echo "  sudo apt-get install$missing" >&2
    exit 1
fi
