#!/bin/sh
# `make run`: starts the local alliance network (devnet) once the node exists; until then it
# shows the command list and runs the built-in self-check.
set -eu
bin="$1"
if "$bin" --help | grep -q '^  devnet '; then
    exec "$bin" devnet --nodes 4 --dir devnet
fi
"$bin" --help
exec "$bin" selfcheck
