#!/bin/sh
# `make lint`: clang-format check, clang-tidy, cppcheck, banned functions, layers.
# Usage: scripts/lint.sh BUILD_DIR (needs compile_commands.json from a configured build).
set -u
build="${1:-build/release}"
cd "$(dirname "$0")/.."
status=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null; git ls-files --others --exclude-standard '*.c' '*.h')
echo "== clang-format"
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files || status=1
echo "== banned functions"
./scripts/check_banned.sh src || status=1
echo "== layers"
python3 scripts/check_layers.py src || status=1
echo "== clang-tidy"
srcs=$(echo "$files" | grep '\.c$' | grep -v '^tests/fuzz/')
# shellcheck disable=SC2086
printf '%s\n' $srcs | xargs -P "$(nproc)" -n 8 clang-tidy -p "$build" --quiet 2>/dev/null \
    | grep -E 'warning:|error:' && status=1
echo "== cppcheck"
cppcheck --project="$build/compile_commands.json" --enable=warning,style,performance,portability \
    --inline-suppr --error-exitcode=1 --suppress=missingIncludeSystem --quiet \
    --suppress='*:/usr/*' -i tests/fuzz || status=1
if [ $status -eq 0 ]; then echo "lint: clean"; else echo "lint: problems found"; fi
exit $status
