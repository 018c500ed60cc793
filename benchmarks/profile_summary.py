"""Summarise py-spy's raw collapsed stacks (``py-spy record --format raw``) as text.

Prints the functions with the most samples of their own (the leaf of a stack) and in total (anywhere
in a stack, once per stack), as shares of all samples, plus the share of the threads' idle time.

    python benchmarks/profile_summary.py stacks.txt [--top 30] > benchmarks/profiles/pipeline.txt
"""

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# A frame as py-spy writes it: "function (path/to/file.py:line)"; the line is left out here.
_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_IDLE = ("select (selectors.py", "_run_once (asyncio/base_events.py", "wait (threading.py", "poll (")


def _frame(raw: str) -> str:
    match = _FRAME.match(raw.strip())
    if not match:
        return raw.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match.group('name')} ({path})"


def summarise(text: str, top: int) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";") if f]
        if frames and frames[0].startswith(("process ", "thread ")):
            frames = frames[1:]
        if not frames:
            continue
        samples += n
        own[frames[-1]] += n
        for name in set(frames):
            total[name] += n
    if not samples:
        return "no samples\n"
    idle = sum(n for name, n in own.items() if name.startswith(_IDLE))
    lines = [
        f"samples: {samples} (idle in select/poll/wait: {idle / samples:.1%})",
        "",
        f"top {top} by own time (share of all samples)",
    ]
    lines += [f"{n / samples:7.1%}  {name}" for name, n in own.most_common(top)]
    lines += ["", f"top {top} by total time (share of samples with the function anywhere in the stack)"]
    lines += [f"{n / samples:7.1%}  {name}" for name, n in total.most_common(top)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    sys.stdout.write(summarise(args.stacks.read_text(errors="replace"), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
