#!/bin/sh
# Banned functions (STYLE.md 2.10, curl's checksrc idea). Prints offenders; exits 1 if any.
set -u
dir="${1:-src}"
status=0
banned='(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok|rand|srand|system|alloca|asctime|ctime|gmtime|localtime|assert)'
if grep -rnwE "$banned[[:space:]]*\(" "$dir" --include='*.c' --include='*.h'; then
    echo "check_banned: banned function used (see STYLE.md 2.10)" >&2
    status=1
fi
if grep -rnwE '(malloc|calloc|realloc|free)[[:space:]]*\(' "$dir" --include='*.c' --include='*.h' \
        | grep -v '^[^:]*base/mem\.c:'; then
    echo "check_banned: use base/mem.h instead of malloc/free outside base/mem.c" >&2
    status=1
fi
if grep -rnE '\b(FIXME|XXX)\b' "$dir" --include='*.c' --include='*.h'; then
    echo "check_banned: FIXME/XXX markers" >&2
    status=1
fi
exit $status
