#!/usr/bin/env python3
"""import-cycles.py [SRC]: fails when src/'s top-level modules import each other in a circle.

A module is a file or directory directly under src/ (cgroups/ with its files counts as one);
an import is any `crate::<module>` outside the module's #[cfg(test)] part. Prints the circles
(strongly connected components) found, and exits 1 if there is one. `make lint` runs it.
"""
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "src"
deps = {}
for root, _, files in os.walk(src):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(root, f)
        name = os.path.relpath(path, src).split(os.sep)[0].removesuffix(".rs")
        if name in ("main", "lib"):
            continue
        text = open(path, encoding="utf-8").read()
        cut = text.find("#[cfg(test)]")
        if cut >= 0:
            text = text[:cut]
        used = set(re.findall(r"crate::(\w+)", text))
        for group in re.findall(r"crate::\{([^}]*)\}", text):  # use crate::{a, b::c}
            used.update(re.findall(r"(?:^|,)\s*(\w+)", group))
        used -= {name, "bail"}
        deps.setdefault(name, set()).update(used)

index, low, stack, on, circles, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in sorted(deps.get(v, ())):
        if w not in deps:
            continue
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            circles.append(sorted(comp))


for v in sorted(deps):
    if v not in index:
        visit(v)
if circles:
    for c in circles:
        print("import circle: " + " <-> ".join(c), file=sys.stderr)
    sys.exit(1)
print(f"import-cycles: {len(deps)} modules, no circle")
