"""Classes with many methods and long functions in src/tickcast (issue 13's size check).

    python scripts/code_size.py [--methods 25] [--lines 60]

Counts every `def` directly in a class body (properties too) and each function's
lines from its `def` (decorators excluded) to its last line. Generated code
(`proto/`) is left out.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "tickcast"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", type=int, default=25)
    ap.add_argument("--lines", type=int, default=60)
    args = ap.parse_args()
    classes: list[tuple[int, str]] = []
    functions: list[tuple[int, str]] = []
    for path in sorted(SRC.rglob("*.py")):
        if "proto" in path.relative_to(SRC).parts:
            continue
        rel = path.relative_to(SRC.parent)
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                n = sum(isinstance(b, ast.FunctionDef | ast.AsyncFunctionDef) for b in node.body)
                classes.append((n, f"{rel}:{node.lineno} class {node.name}"))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                n = node.end_lineno - node.lineno + 1
                functions.append((n, f"{rel}:{node.lineno} def {node.name}"))
    classes.sort(reverse=True)
    functions.sort(reverse=True)
    print(f"classes with more than {args.methods} methods:")
    for n, where in classes:
        if n > args.methods:
            print(f"  {n:3d}  {where}")
    print(f"  (largest: {', '.join(f'{w.split()[-1]} {n}' for n, w in classes[:5])})")
    print(f"functions over {args.lines} lines:")
    for n, where in functions:
        if n > args.lines:
            print(f"  {n:3d}  {where}")
    print(f"  (longest: {', '.join(f'{w.split()[-1]} {n}' for n, w in functions[:5])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
