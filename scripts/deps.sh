#!/bin/sh
# Installs every Debian package Lianmeng needs to build, test and lint.
# Idempotent: does nothing when all packages are present. Uses sudo when not root.
set -eu

PACKAGES="
build-essential cmake make pkg-config git
libsodium-dev libssl-dev openssl liblmdb-dev libsqlite3-dev
libevent-dev libjansson-dev libinih-dev libcmark-dev libcmocka-dev
clang libclang-rt-14-dev clang-format clang-tidy cppcheck
python3 procps
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

echo "deps.sh: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
