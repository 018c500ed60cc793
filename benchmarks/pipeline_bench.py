"""Throughput and alert-latency benchmark of the alert pipeline (``make bench``; not a test).

Pushes N raw UTM events (about 5 % threats, every vendor format mixed) through one alert-pipeline
process while a notifier process runs, and prints:

- pipeline_eps: events/s of a pipeline whose consumer group starts on a topic already filled with
  the N events (a second pipeline process, started once all events are in), from its first counted
  event until it has counted the last (its ``alert_pipeline_events_total`` metric): the producer's
  own speed never caps it;
- raw_consume_eps: how fast a bare aiokafka consumer reads the same filled topic in the same run,
  from its first record to its last;
- ratio: pipeline_eps / raw_consume_eps;
- end_to_end_eps: events/s from the first produce until the pipeline has counted the last event,
  with the producer running at the same time;
- steady_eps: the steady load, half of pipeline_eps; under it, important probes (★★★ events):
  alert_publish_p99_ms from producing a probe until its ``alert-detected`` is published (the Kafka
  timestamps of both records), and alert_email_p50_ms / alert_email_p99_ms until the SMTP server
  accepted its email (the Maildir file's mtime). Probes sent during the end-to-end burst, where the
  producer outruns the pipeline and every probe waits behind the backlog, are reported on a line
  of their own: that figure is queueing, not processing latency. A line splits the publish
  latency in three: produced → appended (the live topic keeps the broker's append time), appended
  → built (the alert's ``received_at``: the fetch, the engine and the batch's turn), built →
  published (storing and announcing it).
  ``--steady-share`` runs the steady load at another share of the capacity.

With ``BENCH_PROFILE=<file>``, py-spy records the filled-topic pipeline while it runs
(benchmarks/profile.sh) and writes its raw collapsed stacks there.

Then the syslog collector's share (scripts/syslog.sh, started by ``make bench``): a second pipeline
reads the collector's topic (utm-events) while the same simulated lines, behind RFC 5424 headers, go
to the collector's socket from one loopback address per group of units (the collector keys records
by sender, so the addresses spread them over the partitions):

- syslog_tcp_eps: events/s over TCP (octet counting), from the first byte sent until the pipeline
  has counted the last event;
- syslog_udp_eps / syslog_udp_lost: the same over UDP, sent as fast as one Python process can; UDP
  has no flow control, so what the collector or the kernel's socket buffer could not take is lost:
  the events the pipeline never counted, once its count has stopped moving.

The last line is one JSON object with those keys and ``events``. ``make bench`` (scripts/bench.sh)
starts servers of its own and runs this; run directly, it uses the servers of the environment
(KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI, SMTP_HOST, SMTP_PORT, MAILDIR).
"""

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from alert_pipeline.models import alert_id_for
from alert_pipeline.simulator import events
from alert_pipeline.syslog_sender import SyslogSender, with_header
from shared.topics import ALERT_DETECTED

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the process starter of the tests: one for both
from support.events import company_registered  # noqa: E402
from support.kafka import create_topic, send  # noqa: E402
from support.processes import ServiceProcess, free_port  # noqa: E402

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
MONGODB_URI = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017/?directConnection=true")
MAILDIR = Path(os.environ.get("MAILDIR", str(ROOT / ".state" / "mail")))
METRIC = re.compile(r"^alert_pipeline_events_total (\S+)$", re.MULTILINE)
SYSLOG_PORT = int(os.environ.get("SYSLOG_PORT", "5514"))
# Loopback addresses the simulated units send from (every 127.x address reaches the collector).
SYSLOG_SOURCES = [f"127.0.0.{11 + i}" for i in range(6)]


def _service(name: str, env: dict[str, str], log: Path) -> ServiceProcess:
    """One service process, started the way the tests start theirs (tests/support/processes.py)."""
    return ServiceProcess(name=name, port=free_port(), env=env, log_path=log).start(wait=False)


async def _setup(topic: str, company_id: str, serials: list[str], email: str, run: str) -> None:
    # The broker's append time on each record: the publish latency's split sees when a probe arrived.
    await create_topic(KAFKA, topic, partitions=6, configs={"message.timestamp.type": "LogAppendTime"})
    registered = company_registered(
        company_id, email, serials, account_id=f"A-{run}", login_id=f"u{run}",
        company_name="ベンチマーク株式会社", user_name="計測 太郎", mac_prefix="00:09:0F:01",
        temporary_password="x", portal_url="http://portal/",
    )  # fmt: skip
    await send(KAFKA, registered)


async def _wait_units(db_name: str, serials: list[str]) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(MONGODB_URI)
    try:
        for _ in range(600):
            if await client[db_name]["units"].count_documents({"_id": {"$in": serials}}) >= len(serials):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError("units not projected by the pipeline")
    finally:
        await client.close()


def _probe(serial: str, n: int, run: str) -> tuple[bytes, str]:
    now = datetime.now(UTC)
    event_id = f"probe-{run}-{n}"
    record = {
        "format": "watch.utm-event", "version": 1, "event_id": event_id, "serial_number": serial,
        "occurred_at": now.isoformat(), "kind": "botnet", "action": "blocked", "level": "critical",
        "signature": f"Probe.Botnet.{run}.{n}", "src_ip": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
        "dst_ip": "203.0.113.9",
    }  # fmt: skip
    return json.dumps(record).encode(), alert_id_for(serial, event_id, now)


async def _events_counted(client: httpx.AsyncClient, url: str) -> float:
    match = METRIC.search((await client.get(f"{url}/metrics")).text)
    return float(match.group(1)) if match else 0.0


async def _load(
    topic: str, serials: list[str], n: int, pipeline_url: str, run: str, probe_every: float
) -> tuple[float, dict[str, float]]:
    generated = list(zip(range(n), events(serials, threat_ratio=0.05, seed=1), strict=False))
    records = [(s, r) for _, (s, _, r) in generated]
    kinds = Counter(kind for _, (_, kind, _) in generated)
    mix = ", ".join(f"{kind} {count / n:.1%}" for kind, count in kinds.most_common())
    print(f"mix (alert_pipeline.simulator; most threats ★☆☆, repeated by few hosts): {mix}", flush=True)
    producer = AIOKafkaProducer(
        bootstrap_servers=KAFKA, linger_ms=10, max_batch_size=512 * 1024, acks="all", enable_idempotence=True
    )
    await producer.start()
    probes: dict[str, float] = {}
    async with httpx.AsyncClient() as http:
        baseline = await _events_counted(http, pipeline_url)
        started = time.monotonic()
        next_probe = started
        try:
            for i, (serial, raw) in enumerate(records):
                await producer.send(topic, raw, key=serial.encode())
                if i % 500 == 0:
                    now = time.monotonic()
                    if now >= next_probe:
                        body, alert_id = _probe(serials[len(probes) % len(serials)], len(probes), run)
                        probes[alert_id] = time.time()
                        await producer.send(topic, body, key=b"probe")
                        next_probe = now + probe_every
                    await asyncio.sleep(0)
            await producer.flush()
        finally:
            await producer.stop()
        total = n + len(probes)
        # Keep probing while the pipeline drains, so the latency is measured under load too.
        while await _events_counted(http, pipeline_url) - baseline < total:  # noqa: ASYNC110 - polls another process
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
    return n / elapsed, probes


async def _steady(
    topic: str, serials: list[str], run: str, *, rate: float, seconds: float, probe_every: float
) -> dict[str, float]:
    """Produce ``rate`` events/s for ``seconds``, a probe every ``probe_every`` s; the probes' send times."""
    stream = events(serials, threat_ratio=0.05, seed=2)
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, linger_ms=5, acks="all", enable_idempotence=True)
    await producer.start()
    probes: dict[str, float] = {}
    tick = 0.01  # produce in slices of 10 ms
    next_probe = time.monotonic() + probe_every

    async def probe_if_due() -> None:
        nonlocal next_probe
        if time.monotonic() >= next_probe:
            body, alert_id = _probe(serials[len(probes) % len(serials)], 1000 + len(probes), run)
            probes[alert_id] = time.time()
            await producer.send(topic, body, key=b"probe")
            next_probe += probe_every

    try:
        started = time.monotonic()
        sent = 0
        while (now := time.monotonic()) - started < seconds:
            due = int((now - started + tick) * rate) - sent
            for n in range(max(0, due)):
                serial, _, raw = next(stream)
                await producer.send(topic, raw, key=serial.encode())
                if n % 100 == 99:  # a slice that fell behind (a busy machine) is long: probes keep pace
                    await probe_if_due()
            sent += max(0, due)
            await probe_if_due()
            await asyncio.sleep(max(0.0, started + (sent / rate) - time.monotonic()))
        await producer.flush()
    finally:
        await producer.stop()
    return probes


async def _fill(topic: str, serials: list[str], n: int) -> None:
    """Produce ``n`` simulated events into ``topic`` as fast as one producer can."""
    producer = AIOKafkaProducer(
        bootstrap_servers=KAFKA, linger_ms=10, max_batch_size=512 * 1024, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for _, (serial, _, raw) in zip(range(n), events(serials, threat_ratio=0.05, seed=5), strict=False):
            await producer.send(topic, raw, key=serial.encode())
        await producer.flush()
    finally:
        await producer.stop()


_FIGURES = re.compile(
    r"^alert_pipeline_(batch_records_count|batch_records_sum|batch_seconds_sum|engine_seconds_total"
    r"|store_seconds_total) (\S+)$",
    re.MULTILINE,
)


_STEP = re.compile(r'^alert_pipeline_step_seconds_(sum|count)\{step="([^"]+)"\} (\S+)$', re.MULTILINE)

Figures = dict[str, float]


def _figures(pipeline_url: str) -> Figures:
    """The pipeline's batch metrics now (``step sum <name>`` / ``step count <name>`` for the steps)."""
    text = httpx.get(f"{pipeline_url}/metrics").text
    figures = {m.group(1): float(m.group(2)) for m in _FIGURES.finditer(text)}
    figures.update({f"step {kind} {step}": float(value) for kind, step, value in _STEP.findall(text)})
    return figures


def _batch_figures(pipeline_url: str, phase: str, since: Figures | None = None) -> Figures:
    """Print the pipeline's batches (those after ``since``): count, mean size, time per batch in the
    engine and MongoDB, and the mean time of each step of a batch (``alert_pipeline_step_seconds``).
    Returns the figures read."""
    now = _figures(pipeline_url)
    figures = {key: value - (since or {}).get(key, 0.0) for key, value in now.items()}
    batches, records = figures.get("batch_records_count", 0), figures.get("batch_records_sum", 0)
    if not batches or not records:
        return now
    per_batch = {
        name: figures.get(key, 0) / batches * 1000
        for name, key in (("handler", "batch_seconds_sum"), ("MongoDB within it", "store_seconds_total"),
                          ("engine (ahead, overlapping the batch before)", "engine_seconds_total"))
    }  # fmt: skip
    print(
        f"{phase}: {batches:.0f} batches of {records / batches:,.0f} records on average; per batch "
        + ", ".join(f"{name} {ms:,.1f} ms" for name, ms in per_batch.items()),
        flush=True,
    )
    steps = [
        (key.removeprefix("step count "), figures[key.replace("count", "sum", 1)], n)
        for key, n in figures.items()
        if key.startswith("step count ") and n
    ]
    if steps:
        print(
            f"{phase}: steps, mean ms per batch (in how many batches; side by side steps overlap): "
            + ", ".join(f"{step} {total / batches * 1000:,.1f} ({n:.0f})" for step, total, n in steps),
            flush=True,
        )
    return now


def _filled_topic_eps(pipeline_url: str, n: int, timeout: float = 1800) -> float:
    """Events/s of a pipeline reading a filled topic: from its first counted event to the n-th."""
    deadline = time.monotonic() + timeout
    started: float | None = None
    while time.monotonic() < deadline:
        counted = _counted(pipeline_url)
        now = time.monotonic()
        if counted > 0 and started is None:
            started = now
        if counted >= n and started is not None:
            return n / (now - started) if now > started else float(n)
        time.sleep(0.05)
    raise TimeoutError(f"the pipeline did not count {n} events within {timeout:.0f} s")


async def _publish_latencies(probes: dict[str, float], within: float = 60) -> dict[str, float]:
    """Milliseconds from each probe's produce to its ``alert-detected`` record (Kafka timestamps),
    by alert id."""
    consumer = AIOKafkaConsumer(
        ALERT_DETECTED, bootstrap_servers=KAFKA, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: dict[str, float] = {}
    deadline = time.monotonic() + within
    try:
        while len(found) < len(probes) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for record in (r for part in batch.values() for r in part):
                alert_id = json.loads(record.value).get("alert_id")
                if alert_id in probes and alert_id not in found:
                    found[alert_id] = record.timestamp - probes[alert_id] * 1000
    finally:
        await consumer.stop()
    return found


async def _publish_parts(probes: dict[str, float], published: dict[str, float], db_name: str) -> None:
    """Print where the probes' publish latency goes: until the broker appended the raw record (the
    producer), until the pipeline built its alert (``received_at``: the fetch, the engine, the
    batch's turn), and until its ``alert-detected`` was published (storing and announcing it).

    ``published``: probe alert id → ms from its produce to its announcement (``_publish_latencies``).
    """
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGODB_URI)
    try:
        docs = await client[db_name]["alerts"].find({"_id": {"$in": list(probes)}}).to_list(None)
    finally:
        await client.close()
    built = {d["_id"]: d["received_at"].replace(tzinfo=UTC).timestamp() * 1000 for d in docs}
    appended = await _append_times({d["_id"]: d["origin"] for d in docs if "origin" in d})
    parts: dict[str, list[float]] = {
        "produced → appended": [],
        "appended → built": [],
        "built → published": [],
    }
    for alert_id, at in built.items():
        sent = probes[alert_id] * 1000
        if alert_id in appended:
            parts["produced → appended"].append(appended[alert_id] - sent)
            parts["appended → built"].append(at - appended[alert_id])
        if alert_id in published:
            parts["built → published"].append(sent + published[alert_id] - at)
    figures = ", ".join(
        f"{name} p50 {_ms(statistics.median(values))} p99 {_ms(_p99(sorted(values)))}"
        for name, values in parts.items()
        if values
    )
    print(f"under the steady load, the publish latency's parts: {figures}", flush=True)


async def _append_times(origins: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The broker's append time (ms) of each alert's raw record, found by its origin (topic, offset)."""
    wanted: dict[TopicPartition, dict[int, str]] = {}
    for alert_id, origin in origins.items():
        topic, _, partition = str(origin["position"]).rpartition(":")
        wanted.setdefault(TopicPartition(topic, int(partition)), {})[int(origin["offset"])] = alert_id
    found: dict[str, float] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        for tp, offsets in wanted.items():
            consumer.assign([tp])
            for offset, alert_id in sorted(offsets.items()):
                consumer.seek(tp, offset)
                records = (await consumer.getmany(tp, timeout_ms=5000, max_records=1)).get(tp, [])
                if records and records[0].offset == offset:
                    found[alert_id] = float(records[0].timestamp)
    finally:
        await consumer.stop()
    return found


async def _caught_up(group: str, topic: str, within: float = 600) -> float:
    """Seconds until consumer group ``group`` has committed every record of ``topic``."""
    started = time.monotonic()
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    reader = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=None)
    await admin.start()
    await reader.start()
    try:
        await reader.topics()  # the cluster's metadata, with the topic's partitions
        partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or [])]
        while time.monotonic() - started < within:
            ends = await reader.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            if all(committed.get(tp) is not None and committed[tp].offset >= end for tp, end in ends.items()):
                break
            await asyncio.sleep(0.5)
    finally:
        await reader.stop()
        await admin.close()
    return time.monotonic() - started


async def _raw_consume(topic: str, n: int) -> float:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=KAFKA, group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False, max_partition_fetch_bytes=8 * 1024 * 1024,
    )  # fmt: skip
    await consumer.start()
    try:
        got = 0
        started = None
        while got < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if started is None and batch:
                started = time.monotonic()
            got += sum(len(v) for v in batch.values())
        return n / (time.monotonic() - (started or time.monotonic()))
    finally:
        await consumer.stop()


def _counted(url: str) -> float:
    match = METRIC.search(httpx.get(f"{url}/metrics", timeout=5).text)
    return float(match.group(1)) if match else 0.0


SYSLOG_QUIET_SECONDS = 30.0


def _syslog_run(scheme: str, serials: list[str], n: int, pipeline_url: str, seed: int) -> tuple[float, int]:
    """Send ``n`` simulated lines to the collector; (events/s until the pipeline counted them, lost)."""
    source_of = {serial: SYSLOG_SOURCES[i % len(SYSLOG_SOURCES)] for i, serial in enumerate(serials)}
    url = f"{scheme}://127.0.0.1:{SYSLOG_PORT}"
    senders = {source: SyslogSender(url, source_address=source).connect() for source in SYSLOG_SOURCES}
    pending: dict[str, list[bytes]] = {source: [] for source in SYSLOG_SOURCES}
    baseline = _counted(pipeline_url)
    started = time.monotonic()
    for _, (serial, _, record) in zip(range(n), events(serials, threat_ratio=0.05, seed=seed), strict=False):
        batch = pending[source_of[serial]]
        batch.append(with_header(record, hostname=serial))
        if len(batch) >= 256:
            senders[source_of[serial]].send(batch)
            batch.clear()
    for source, sender in senders.items():
        sender.send(pending[source])
        sender.close()
    sent_in = time.monotonic() - started
    # Done when every event is counted, or (UDP) when the count has not moved for QUIET_SECONDS: longer
    # than the pipeline takes for one of its largest batches on a loaded machine, so a slow batch is
    # never mistaken for lines lost.
    counted, last_change = 0.0, time.monotonic()
    while counted < n and time.monotonic() - last_change < SYSLOG_QUIET_SECONDS:
        now_counted = _counted(pipeline_url) - baseline
        if now_counted > counted:
            counted, last_change = now_counted, time.monotonic()
        time.sleep(0.05)
    elapsed = last_change - started
    print(
        f"syslog {scheme}: {n} events sent in {sent_in:.1f} s, {counted:.0f} counted by the pipeline "
        f"in {elapsed:.1f} s",
        flush=True,
    )
    return counted / elapsed, n - int(counted)


def _syslog_phase(
    serials: list[str], n: int, run: str, logs: Path, common: dict[str, str]
) -> dict[str, float]:
    """The collector's throughput over TCP and UDP, into a pipeline that reads its topic."""
    db = f"alert-pipeline-syslog-bench-{run}"
    pipeline = _service(
        "alert-pipeline",
        {
            **common,
            "ALERT_PIPELINE_DATABASE": db,
            "ALERT_PIPELINE_CONSUMER_GROUP": f"alert-pipeline-syslog-{run}",
        },
        logs / f"{run}-alert-pipeline-syslog.log",
    )
    try:
        pipeline.wait_ready()
        asyncio.run(_wait_units(db, serials))
        print(f"syslog: {n} events over TCP, then over UDP, to 127.0.0.1:{SYSLOG_PORT} ...", flush=True)
        tcp_eps, _ = _syslog_run("tcp", serials, n, pipeline.url, seed=3)
        udp_eps, udp_lost = _syslog_run("udp", serials, n, pipeline.url, seed=4)
    finally:
        pipeline.stop()
    return {"syslog_tcp_eps": round(tcp_eps), "syslog_udp_eps": round(udp_eps), "syslog_udp_lost": udp_lost}


def _email_latencies(probes: dict[str, float], timeout: float = 60) -> list[float]:
    """Milliseconds from each probe's produce to its mail's arrival; every mail file is read once."""
    deadline = time.monotonic() + timeout
    found: dict[str, float] = {}
    seen: set[Path] = set()
    while time.monotonic() < deadline and len(found) < len(probes):
        for folder in ("new", "cur"):
            for path in (MAILDIR / folder).glob("*") if (MAILDIR / folder).exists() else []:
                if path in seen:
                    continue
                seen.add(path)
                text = _decoded(path.read_bytes())
                for alert_id in probes.keys() - found.keys():
                    if alert_id.encode() in text:
                        found[alert_id] = path.stat().st_mtime
        time.sleep(0.2)
    missing = sorted(set(probes) - set(found))
    if missing:
        print(f"no email within {timeout:.0f} s for {len(missing)} probe(s): {missing}", flush=True)
    return [(found[a] - probes[a]) * 1000 for a in found]


def _decoded(data: bytes) -> bytes:
    from email import policy
    from email.parser import BytesParser

    message = BytesParser(policy=policy.default).parsebytes(data)
    body = message.get_body(preferencelist=("plain",))
    return str(body.get_content() if body else "").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description="alert pipeline benchmark")
    parser.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", "300000")))
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--no-notifier", action="store_true", help="measure the pipeline alone")
    parser.add_argument("--probe-every", type=float, default=0.25, help="seconds between important probes")
    parser.add_argument("--steady-seconds", type=float, default=20, help="how long the steady load runs")
    parser.add_argument(
        "--steady-share", type=float, default=0.5, help="the steady load as a share of the measured capacity"
    )
    parser.add_argument(
        "--syslog-events", type=int, default=100_000, help="events per syslog transport (0 = skip)"
    )
    parser.add_argument(
        "--pipeline-env", action="append", default=[], metavar="NAME=VALUE",
        help="a setting of the pipeline processes, e.g. ALERT_PIPELINE_BATCH_MAX_RECORDS=20000 (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    topic = f"utm-events-bench-{run}"
    company_id = f"C-BENCH-{run.upper()}"
    serials = [f"FGT60FB{run.upper()}{i:03d}" for i in range(args.units)]
    email = f"bench-{run}@example.com"
    logs = ROOT / "test-artifacts" / "bench"
    common = {"APP_ENV": "test", "KAFKA_SESSION_TIMEOUT_MS": "6000", "LOG_LEVEL": "WARNING"}
    tuning = dict(item.split("=", 1) for item in args.pipeline_env)
    pipeline = _service(
        "alert-pipeline",
        {
            **common,
            **tuning,
            "ALERT_PIPELINE_DATABASE": f"alert-pipeline-bench-{run}",
            "ALERT_PIPELINE_RAW_TOPIC": topic,
            "ALERT_PIPELINE_CONSUMER_GROUP": f"alert-pipeline-bench-{run}",
        },
        logs / f"{run}-alert-pipeline.log",
    )  # fmt: skip
    notifier = (
        None
        if args.no_notifier
        else _service(
            "notifier",
            {
                **common,
                "NOTIFIER_DATABASE": f"notifier-bench-{run}",
                "NOTIFIER_CONSUMER_GROUP": f"notifier-bench-{run}",
            },
            logs / f"{run}-notifier.log",
        )
    )
    filled = f"{topic}-filled"
    profile = os.environ.get("BENCH_PROFILE", "")
    try:
        pipeline.wait_ready()
        if notifier:
            notifier.wait_ready()
        asyncio.run(_setup(topic, company_id, serials, email, run))
        asyncio.run(_wait_units(f"alert-pipeline-bench-{run}", serials))
        time.sleep(2)  # the notifier's recipient projection
        print(
            f"end to end: pushing {args.events} events for {len(serials)} units into {topic} ...", flush=True
        )
        end_to_end_eps, probes = asyncio.run(
            _load(topic, serials, args.events, pipeline.url, run, args.probe_every)
        )
        after_burst = _batch_figures(pipeline.url, "end to end")
        print(f"pipeline: {end_to_end_eps:,.0f} events/s end to end (live producer)", flush=True)
        if notifier:
            burst = sorted(_email_latencies(probes))
            print(
                f"alert emails during the burst (behind the backlog): {len(burst)}/{len(probes)} mailed; "
                f"p50 {_ms(statistics.median(burst) if burst else None)}, p99 {_ms(_p99(burst))}",
                flush=True,
            )

        print(f"filling {filled} with {args.events} events ...", flush=True)
        asyncio.run(create_topic(KAFKA, filled, partitions=6))
        asyncio.run(_fill(filled, serials, args.events))
        raw_eps = asyncio.run(_raw_consume(filled, args.events))
        print(f"raw aiokafka consume: {raw_eps:,.0f} events/s", flush=True)
        pipeline_eps = _filled_phase(filled, run, args.events, logs, {**common, **tuning}, profile)
        print(f"pipeline on the filled topic: {pipeline_eps:,.0f} events/s", flush=True)

        steady_eps = pipeline_eps * args.steady_share
        publish: list[float] = []
        latencies: list[float] = []
        if notifier:
            # The filled topic's alerts went to the notifier too: its mails are sent before the
            # steady load starts, so that the steady figures are not those of that backlog.
            waited = asyncio.run(_caught_up(f"notifier-bench-{run}", ALERT_DETECTED))
            print(f"notifier caught up with alert-detected after {waited:.1f} s", flush=True)
            steady = (
                f"{steady_eps:,.0f} events/s ({args.steady_share:.0%} of the capacity)"
                f" for {args.steady_seconds:.0f} s"
            )
            print(f"steady load: {steady} ...", flush=True)
            probes = asyncio.run(
                _steady(topic, serials, run, rate=steady_eps, seconds=args.steady_seconds,
                        probe_every=args.probe_every)
            )  # fmt: skip
            latencies = sorted(_email_latencies(probes))
            published = asyncio.run(_publish_latencies(probes))
            publish = sorted(published.values())
            asyncio.run(_publish_parts(probes, published, f"alert-pipeline-bench-{run}"))
            _batch_figures(pipeline.url, "steady load", since=after_burst)
    finally:
        pipeline.stop()
        if notifier:
            notifier.stop()
    syslog = _syslog_phase(serials, args.syslog_events, run, logs, common) if args.syslog_events else {}
    p50 = statistics.median(latencies) if latencies else None
    p99 = _p99(latencies)
    print(
        f"under the steady load: {len(publish)}/{len(probes)} probes published, p50"
        f" {_ms(statistics.median(publish) if publish else None)}, p99 {_ms(_p99(publish))}"
        f" (over 1 s: {sum(1 for v in publish if v > 1000)}); "
        f"{len(latencies)}/{len(probes)} mailed; p50 {_ms(p50)}, p99 {_ms(p99)}",
        flush=True,
    )
    result = {
        "pipeline_eps": round(pipeline_eps),
        "end_to_end_eps": round(end_to_end_eps),
        "raw_consume_eps": round(raw_eps),
        "ratio": round(pipeline_eps / raw_eps, 3),
        "steady_eps": round(steady_eps),
        "alert_publish_p99_ms": _round(_p99(publish)),
        "alert_email_p50_ms": _round(p50),
        "alert_email_p99_ms": _round(p99),
        "events": args.events,
        **syslog,
    }
    print(json.dumps(result))
    return 0


def _filled_phase(topic: str, run: str, n: int, logs: Path, common: dict[str, str], profile: str) -> float:
    """A pipeline started once ``topic`` holds all ``n`` events; its events/s (py-spy on request)."""
    pipeline = _service(
        "alert-pipeline",
        {
            **common,
            "ALERT_PIPELINE_DATABASE": f"alert-pipeline-bench-{run}",
            "ALERT_PIPELINE_RAW_TOPIC": topic,
            "ALERT_PIPELINE_CONSUMER_GROUP": f"alert-pipeline-filled-{run}",
        },
        logs / f"{run}-alert-pipeline-filled.log",
    )
    spy: subprocess.Popen[bytes] | None = None
    try:
        if profile and pipeline.process is not None:
            spy = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--pid", str(pipeline.process.pid),
                 "--format", "raw", "--rate", "200", "--output", profile, "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        pipeline.wait_ready()
        eps = _filled_topic_eps(pipeline.url, n)
        _batch_figures(pipeline.url, "filled topic")
        return eps
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        pipeline.stop()


def _round(value: float | None) -> int | None:
    return round(value) if value is not None else None


def _p99(values: list[float]) -> float | None:
    return values[min(len(values) - 1, int(len(values) * 0.99))] if values else None


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"


if __name__ == "__main__":
    sys.exit(main())
