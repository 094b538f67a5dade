#!/usr/bin/env python3
"""test-binary.py NAME: reads `cargo test --no-run --message-format=json` on stdin and prints the
path of the test executable of target NAME (e.g. `integration`), for running it outside cargo
(make test-hybrid-bfq copies it into a qemu guest)."""
import json
import sys

name = sys.argv[1]
path = None
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == name:
        path = m.get("executable") or path
if not path:
    sys.exit(f"test-binary: cargo built no test executable named {name}")
print(path)
