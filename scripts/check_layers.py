#!/usr/bin/env python3
"""Checks the layer table of STYLE.md 2.2 on every #include "layer/..." line under src/."""
import os
import re
import sys

MAY_USE = {
    "base": set(),
    "crypto": {"base"},
    "codec": {"base", "crypto"},
    "store": {"base", "crypto", "codec"},
    "ledger": {"base", "crypto", "codec", "store"},
    "modules": {"base", "crypto", "codec", "ledger"},
    "consensus": {"base", "crypto", "codec"},
    "sim": {"base", "crypto", "codec", "consensus"},
    "mempool": {"base", "crypto", "codec", "ledger"},
    "p2p": {"base", "crypto", "codec"},
    "api": {"base", "crypto", "codec", "ledger", "modules"},
    "node": {"base", "crypto", "codec", "store", "ledger", "modules", "consensus", "sim",
             "mempool", "p2p", "api"},
    "cli": {"base", "crypto", "codec", "node", "api"},
}
# System headers a layer must not include (consensus is pure: no clock, sockets, threads).
FORBIDDEN_SYSTEM = {
    "consensus": {"time.h", "sys/socket.h", "pthread.h", "math.h", "sys/time.h"},
    "base": set(),
}
SODIUM_OPENSSL = re.compile(r'#include\s*<(sodium\.h|sodium/.*|openssl/.*)>')
INCLUDE = re.compile(r'#include\s*"([a-z0-9_]+)/[^"]+"')
SYSTEM = re.compile(r'#include\s*<([^>]+)>')


def main(root):
    bad = []
    for layer in sorted(os.listdir(root)):
        path = os.path.join(root, layer)
        if not os.path.isdir(path):
            continue
        if layer not in MAY_USE:
            bad.append(f"{path}: unknown layer (add it to STYLE.md 2.2 and check_layers.py)")
            continue
        allowed = MAY_USE[layer] | {layer}
        for name in sorted(os.listdir(path)):
            if not name.endswith((".c", ".h")):
                continue
            file = os.path.join(path, name)
            with open(file, encoding="utf-8") as f:
                for no, line in enumerate(f, 1):
                    m = INCLUDE.match(line.strip())
                    if m and m.group(1) not in allowed:
                        bad.append(f"{file}:{no}: layer '{layer}' may not include '{m.group(1)}/'")
                    s = SYSTEM.match(line.strip())
                    if s and s.group(1) in FORBIDDEN_SYSTEM.get(layer, set()):
                        bad.append(f"{file}:{no}: layer '{layer}' may not include <{s.group(1)}>")
                    if SODIUM_OPENSSL.match(line.strip()) and layer not in ("crypto", "p2p"):
                        bad.append(f"{file}:{no}: only crypto/ (and p2p/ for TLS) include "
                                   "libsodium or OpenSSL headers")
    for b in bad:
        print(b)
    print(f"check_layers: {len(bad)} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "src"))
