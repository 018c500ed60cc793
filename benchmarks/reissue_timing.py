"""Time of the パスワードの再発行 answer for an existing and an unknown account (not a test).

Issue 8 measured ~214 ms for an existing account and ~18 ms for an unknown one: the answer told them
apart. Identity now answers before doing any of the work, so both should take the same time (the
target is within ±10 %). This starts one identity process on the servers of the environment
(``make bench BENCH_SCRIPT=benchmarks/reissue_timing.py`` starts its own), provisions one account,
then sends ``--rounds`` reissue requests for it and as many for unknown addresses, interleaved, and
prints the medians; the last line is one JSON object: ``known_median_ms``, ``unknown_median_ms``,
``difference_percent``, ``rounds``.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from shared.settings import DEV_GATEWAY_SECRET  # noqa: E402
from support.events import application_for  # noqa: E402
from support.kafka import send  # noqa: E402
from support.processes import Stack  # noqa: E402
from support.servers import servers_from_env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    servers = servers_from_env()
    stack = Stack(servers)
    stack.add("identity", IDENTITY_REISSUE_LIMIT_PER_CLIENT="100000")
    stack.start()
    try:
        email = f"bench.{uuid.uuid4().hex[:8]}@example.com"
        event = application_for(email, company_name="計測株式会社", last_name="計測")
        asyncio.run(send(servers.kafka, [(event.TOPIC, b"bench", event.model_dump_json().encode())]))
        with MongoClient(servers.mongodb_uri) as mongo:
            accounts = mongo[f"identity-{stack.run_id}"]["accounts"]
            deadline = time.monotonic() + 60
            while accounts.find_one({"email_lower": email}) is None:
                if time.monotonic() > deadline:
                    raise SystemExit("the account was not provisioned within 60 s")
                time.sleep(0.2)
        headers = {"X-Service-Token": DEV_GATEWAY_SECRET, "X-Client-Address": "192.0.2.1"}
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        with httpx.Client(base_url=stack.services["identity"].url, timeout=30) as client:
            for i in range(args.rounds + 5):
                for kind in ("known", "unknown") if i % 2 else ("unknown", "known"):
                    identifier = email if kind == "known" else f"nobody.{uuid.uuid4().hex[:8]}@example.com"
                    started = time.perf_counter()
                    response = client.post(
                        "/password/reissue", json={"identifier": identifier}, headers=headers
                    )
                    elapsed = (time.perf_counter() - started) * 1000
                    assert response.status_code == 202, response.text
                    if i >= 5:  # warm-up rounds are not counted
                        timings[kind].append(elapsed)
                time.sleep(0.05)  # let the background work of the previous request run
        known, unknown = statistics.median(timings["known"]), statistics.median(timings["unknown"])
        difference = abs(known - unknown) / min(known, unknown) * 100
        print(f"reissue answer: existing account median {known:.1f} ms, unknown {unknown:.1f} ms")
        print(
            json.dumps(
                {
                    "known_median_ms": round(known, 2),
                    "unknown_median_ms": round(unknown, 2),
                    "difference_percent": round(difference, 1),
                    "rounds": args.rounds,
                }
            )
        )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
