"""Micro-benchmark of decoding and classifying one record, per log format (not a test).

    .venv/bin/python benchmarks/decode_bench.py [--records 20000]

Generates the simulator's usual mix (about 5 % threats) in each format and measures the CPU time
(``time.process_time``, so other load on the machine distorts it less than wall time) of
``parse_record`` — decode, the rules, the compatibility object — per record, best of five runs.
The last line is one JSON object: microseconds per record by format.
"""

import argparse
import itertools
import json
import time

from alert_pipeline.parsing import parse_record
from alert_pipeline.simulator import FORMATS, events


def per_record_us(records: list[bytes], rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for raw in records:
            parse_record(raw)
        best = min(best, time.process_time() - started)
    return best / len(records) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    serials = [f"FGT60FTK22{i:06d}" for i in range(50)]
    result: dict[str, float] = {}
    for fmt in FORMATS:
        records = [r for _, _, r in itertools.islice(events(serials, fmt=fmt, seed=1), args.records)]
        result[fmt] = round(per_record_us(records), 2)
        print(f"{fmt:10s} {result[fmt]:6.2f} µs/record", flush=True)
    print(json.dumps({"us_per_record": result, "records": args.records}))


if __name__ == "__main__":
    main()
