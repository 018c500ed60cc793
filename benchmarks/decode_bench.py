"""Micro-benchmark of the compiled core's Engine.process() per log format (not a test).

    .venv/bin/python benchmarks/decode_bench.py [--records 20000] [--batch 1000]

Generates the simulator's usual mix (about 5 % threats) in each vendor format and measures the CPU
time (``time.process_time``, so other load on the machine distorts it less than wall time) of
``Engine.process`` — decode, identity and time checks, the rules, the per-batch counts and the
threats' dicts — over batches of ``--batch`` records, best of five runs. For comparison it also gives
the per-record path (``parse_record``: the core's decode + classify and the Python objects around them).
The last line is one JSON object: records per second and microseconds per record by format.
"""

import argparse
import itertools
import json
import time
from datetime import UTC, datetime

from alert_pipeline.core import engine
from alert_pipeline.parsing import parse_record
from alert_pipeline.simulator import FORMATS, events


def process_seconds(records: list[bytes], batch: int, rounds: int = 5) -> float:
    core = engine()
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    batches = [list(records[i : i + batch]) for i in range(0, len(records), batch)]
    stamps = [[0] * len(b) for b in batches]
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for values, ts in zip(batches, stamps, strict=True):
            core.process(values, ts, now_ms, 65536, 16)
        best = min(best, time.process_time() - started)
    return best


def per_record_seconds(records: list[bytes], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for raw in records:
            parse_record(raw)
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    serials = [f"FGT60FTK22{i:06d}" for i in range(50)]
    result: dict[str, dict[str, float]] = {}
    for fmt in FORMATS:
        records = [r for _, _, r in itertools.islice(events(serials, fmt=fmt, seed=1), args.records)]
        size = sum(map(len, records)) / len(records)
        seconds = process_seconds(records, args.batch)
        single = per_record_seconds(records[: args.records // 4])
        result[fmt] = {
            "records_per_s": round(len(records) / seconds),
            "us_per_record": round(seconds / len(records) * 1e6, 3),
            "parse_record_us": round(single / (args.records // 4) * 1e6, 2),
            "bytes_per_record": round(size),
        }
        print(
            f"{fmt:10s} process(): {result[fmt]['records_per_s']:>9,} records/s "
            f"({result[fmt]['us_per_record']:.3f} µs/record, {size:.0f} B)   "
            f"parse_record(): {result[fmt]['parse_record_us']:.2f} µs/record",
            flush=True,
        )
    print(json.dumps({"process": result, "records": args.records, "batch": args.batch}))


if __name__ == "__main__":
    main()
