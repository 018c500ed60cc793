"""What a consumer costs per record before the ingest sees it (not a test; no server needed).

    .venv/bin/python benchmarks/consumer_bench.py [--records 10000]

Both consumers fetch with aiokafka's ``getmany``; what differs is what happens to a fetched batch
before the handler runs. FastStream's batch subscriber parses it into a message (one body and one
header dict per record: ``AioKafkaBatchParser.parse_batch``); the pipeline's raw stream
(``alert_pipeline.consumer``) only chains the partitions' lists and takes the values and
timestamps in C (``operator.attrgetter``). Measured on simulated records, CPU time per record,
best of five. The last line is one JSON object with microseconds per record.
"""

import argparse
import asyncio
import itertools
import json
import operator
import time
from collections.abc import Callable

from aiokafka import ConsumerRecord
from faststream.kafka.message import KafkaMessage
from faststream.kafka.parser import AioKafkaBatchParser

from alert_pipeline.simulator import events


def _records(n: int, partitions: int = 6) -> dict[int, list[ConsumerRecord[bytes, bytes]]]:
    by_partition: dict[int, list[ConsumerRecord[bytes, bytes]]] = {p: [] for p in range(partitions)}
    serials = [f"FGT60F{i:04d}" for i in range(50)]
    for i, (serial, _, raw) in zip(range(n), events(serials, threat_ratio=0.05, seed=1), strict=False):
        part = i % partitions
        by_partition[part].append(
            ConsumerRecord(
                topic="utm-events", partition=part, offset=len(by_partition[part]),
                timestamp=1_764_000_000_000, timestamp_type=0, key=serial.encode(), value=raw,
                checksum=None, serialized_key_size=len(serial), serialized_value_size=len(raw), headers=(),
            )
        )  # fmt: skip
    return by_partition


def _best(step: Callable[[], object], n: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        step()
        best = min(best, time.process_time() - started)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    args = parser.parse_args()
    fetched = _records(args.records)
    faststream = AioKafkaBatchParser(msg_class=KafkaMessage, regex=None)
    value, stamp = operator.attrgetter("value"), operator.attrgetter("timestamp")

    loop = asyncio.new_event_loop()

    def through_faststream() -> object:
        batch = tuple(itertools.chain(*fetched.values()))
        return loop.run_until_complete(faststream.parse_batch(batch)).body

    def raw_stream() -> object:
        records = list(itertools.chain.from_iterable(fetched.values()))
        return list(map(value, records)), list(map(stamp, records))

    result = {
        "faststream_batch_parse_us": round(_best(through_faststream, args.records), 3),
        "raw_stream_us": round(_best(raw_stream, args.records), 3),
        "records": args.records,
    }
    loop.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
