"""The share of mutants killed per module, from the results mutmut keeps next to each mutated file.

    .venv/bin/python scripts/mutation_scores.py services/identity/mutants [--min 80]

A mutant counts as killed when a test failed (or ran out of time) with it; survivors and mutants no
test reaches count against the score. Survivors are listed (``mutmut show <name>`` shows the change).
The last line is one JSON object: module -> percent killed, and ``total``.
"""

import argparse
import json
import sys
from pathlib import Path

KILLED = {1, 3, 24, -24, 36, 152, 255}  # test failure, pytest error, timeouts (mutmut's own codes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mutants", type=Path)
    parser.add_argument("--min", type=float, default=80.0, help="lowest acceptable share (percent)")
    args = parser.parse_args()
    scores: dict[str, float] = {}
    all_killed = all_total = 0
    print(f"{'module':28} {'mutants':>8} {'killed':>7} {'share':>7}")
    for meta in sorted(args.mutants.rglob("*.py.meta")):
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        killed = [name for name, code in codes.items() if code in KILLED]
        survivors = sorted(name for name, code in codes.items() if code not in KILLED)
        module = meta.name.removesuffix(".py.meta")
        scores[module] = round(100 * len(killed) / len(codes), 1)
        all_killed += len(killed)
        all_total += len(codes)
        print(f"{module:28} {len(codes):>8} {len(killed):>7} {scores[module]:>6.1f}%")
        for name in survivors:
            print(f"    survived: {name} (exit {codes[name]})")
    if not all_total:
        print("no mutation results found", file=sys.stderr)
        return 1
    scores["total"] = round(100 * all_killed / all_total, 1)
    print(json.dumps(scores))
    return 0 if min(scores.values()) >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
