"""The pipeline on the real broker against hostile records, crashes and a database outage.

- Poison: a stream in which every tenth record is hostile, mixed with valid threats of registered
  units. Every valid alert is stored and mailed exactly once, every hostile record is in the
  dead-letter topic with its reason, no partition stalls and readiness stays 200.
- Exact counters: the pipeline is killed mid-stream and restarted; the counters equal the totals
  computed by hand from what was produced.
- Stall detector: with the pipeline's MongoDB stopped while lag grows, readiness turns 503 naming
  the consumer, and 200 again once MongoDB is back.
"""

import asyncio
import hashlib
import json
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from pymongo import AsyncMongoClient

from shared.topics import DEAD_LETTER
from support.events import company_registered
from support.kafka import collect, create_topic, send
from support.maildir import read_all, wait_for_mail
from support.processes import ROOT, Stack, free_port
from support.servers import Servers

pytestmark = pytest.mark.integration
SESSION = uuid.uuid4().hex[:8]
ALERT_ID = re.compile(r"ALT-\d{8}-[A-Z2-7]{10}")
# 2026-11-29 22:00:00 UTC: a plausible device time for the hand-written lines.
BASE_EPOCH = 1_795_989_600


@dataclass
class Fleet:
    stack: Stack
    topic: str
    group: str
    company_id: str
    email: str
    serials: list[str]

    @property
    def pipeline_db(self) -> str:
        return f"alert-pipeline-{self.stack.run_id}"

    @property
    def pipeline_url(self) -> str:
        return self.stack.services["alert-pipeline"].url


def _registrations(fleet: Fleet) -> list[tuple[str, bytes, bytes]]:
    return company_registered(
        fleet.company_id, fleet.email, fleet.serials, account_id=f"A-{fleet.stack.run_id}", login_id="u-test",
        company_name="見守り株式会社", user_name="見守 太郎", unit_name="本社 UTM", mac_prefix="00:09:0F:01",
    )  # fmt: skip


async def _count(uri: str, db: str, collection: str, query: dict[str, Any]) -> int:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    try:
        return int(await client[db][collection].count_documents(query))
    finally:
        await client.close()


async def _find(uri: str, db: str, collection: str) -> list[dict[str, Any]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    try:
        return await client[db][collection].find({}).to_list()
    finally:
        await client.close()


def _wait_until(check: Any, timeout: float, what: str, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"{what}: not reached within {timeout:.0f} s (last: {value!r})"
            return value
        time.sleep(every)


@pytest.fixture
def fleet(servers: Servers) -> Iterator[Fleet]:
    stack = Stack(servers)
    run = stack.run_id
    topic = f"utm-events-poison-{run}"
    group = f"alert-pipeline-{run}"
    asyncio.run(create_topic(servers.kafka, topic))
    stack.add(
        "alert-pipeline",
        ALERT_PIPELINE_RAW_TOPIC=topic,
        ALERT_PIPELINE_CONSUMER_GROUP=group,
        ALERT_PIPELINE_STALL_SECONDS="20",
        ALERT_PIPELINE_LAG_SAMPLE_SECONDS="1",
    )
    stack.add(
        "notifier",
        NOTIFIER_CONSUMER_GROUP=f"notifier-poison-{SESSION}",
        NOTIFIER_DATABASE=f"notifier-poison-{SESSION}",
    )
    stack.start()
    fleet = Fleet(
        stack, topic, group, f"C-{run.upper()}", f"poison-{run}@example.com",
        [f"FGT60FP{run.upper()}{i}" for i in range(3)],
    )  # fmt: skip
    try:
        asyncio.run(send(servers.kafka, _registrations(fleet)))
        mine = {"_id": {"$in": fleet.serials}}
        _wait_until(
            lambda: asyncio.run(_count(servers.mongodb_uri, fleet.pipeline_db, "units", mine)) == 3,
            300,
            "units projected",
        )
        wait_for_mail(servers.maildir, to=fleet.email, subject_contains="仮登録完了のお知らせ", timeout=180)
        yield fleet
    finally:
        stack.stop()


# --- the stream ---------------------------------------------------------------------------------

IPS = ("不正侵入防御(IPS)", 3)
VIRUS = ("アンチウイルス", 2)
BOTNET = ("C&C/ボット通信", 3)
WEB = ("Webガード", 2)


def _fortigate_ips(serial: str, i: int) -> bytes:
    return (
        f'date=2026-11-30 time=07:00:{i % 60:02d} devname="HQ-FW" devid="{serial}" '
        f'eventtime={BASE_EPOCH + i} tz="+0900" logid="0419016384" type="utm" subtype="ips" '
        f'eventtype="signature" level="alert" vd="root" severity="critical" srcip=10.1.0.{i % 250} '
        f'dstip=203.0.113.{i % 250} srcport={40000 + i} dstport=443 proto=6 service="HTTPS" '
        f'action="dropped" attack="Poison.Stream.Attack.{i}" attackid={20000 + i} '
        f'msg="attack blocked"'
    ).encode()


def _fortigate_virus(serial: str, i: int) -> bytes:
    return (
        f'date=2026-11-30 time=07:01:{i % 60:02d} devname="HQ-FW" devid="{serial}" '
        f'eventtime={BASE_EPOCH + 100 + i} tz="+0900" logid="0211008192" type="utm" subtype="virus" '
        f'eventtype="infected" level="warning" vd="root" srcip=198.51.100.{i % 250} '
        f'dstip=10.2.0.{i % 250} action="blocked" service="HTTP" virus="Poison.Test.Virus.{i}" '
        f'dtype="Virus" url="http://dl.example.net/file{i}.exe" msg="File is infected."'
    ).encode()


def _json_threat(serial: str, i: int, kind: str, **extra: Any) -> bytes:
    body = {
        "format": "watch.utm-event",
        "version": 1,
        "event_id": f"poison-{kind}-{i}",
        "serial_number": serial,
        "occurred_at": f"2026-11-29T22:{i % 60:02d}:00+00:00",
        "kind": kind,
        "action": "blocked",
        "level": "warning",
        "signature": f"Poison {kind} {i}",
        "src_ip": f"10.3.0.{i % 250}",
        "dst_ip": "203.0.113.77",
    }
    body.update(extra)
    return json.dumps(body, ensure_ascii=False).encode()


def _valid(serial: str, i: int) -> tuple[bytes, str, tuple[str, int]]:
    """A valid threat: (record, signature it must be stored under, (category, severity))."""
    match i % 4:
        case 0:
            return _fortigate_ips(serial, i), f"Poison.Stream.Attack.{i}", IPS
        case 1:
            return _fortigate_virus(serial, i), f"Poison.Test.Virus.{i}", VIRUS
        case 2:
            return _json_threat(serial, i, "botnet"), f"Poison botnet {i}", BOTNET
        case _:
            return _json_threat(serial, i, "webfilter"), f"Poison webfilter {i}", WEB


def _hostile(serial: str, n: int) -> bytes:
    """The n-th hostile record: each one can never become an event."""
    ips = _fortigate_ips(serial, 900 + n)
    kinds: list[bytes] = [
        ips[: len(ips) // 2] + b' attack="truncated mid-quote',  # truncated in a quoted value
        b"date=2026-11-30 devid=" + serial.encode() + b' msg="' + b"A" * 1_000_000 + b'"',  # 1 MB
        b"[" * 100_000 + b"]" * 100_000,  # nested 100,000 deep
        b"[" * 30_000 + b"]" * 30_000,  # deep, yet under the size limit
        _json_threat(serial, 900 + n, "ips", action=["dropped"]),  # a list where a string belongs
        _json_threat(serial, 900 + n, "ips", occurred_at="-0001-12-31T23:59:59+00:00"),  # before year 1
        ips.replace(f"eventtime={BASE_EPOCH + 900 + n}".encode(), b"eventtime=-99999999999999999999999"),
        _json_threat(serial, 900 + n, "ips", occurred_at=2**80),  # an integer over 64 bits as a time
        json.dumps({"serial_number\u0000": serial, "kind\u0000": "ips", "event_id": "nul"}).encode(),
        _json_threat(serial, 900 + n, "virus", serial_number={"$ne": ""}),  # an object as the serial
        _json_threat(serial, 900 + n, "virus")[:-9],  # truncated JSON
        b"\xff\xfe\x00garbage that is no log line at all \x00\x01",
    ]
    return kinds[n % len(kinds)]


def _recoverable(serial: str, i: int) -> tuple[bytes, str, tuple[str, int]]:
    """Valid threats with odd bytes that must be normalised, never dropped."""
    match i % 3:
        case 0:  # bytes that are not UTF-8 inside a quoted value: replaced
            line = _fortigate_ips(serial, i).replace(b'msg="attack blocked"', b'msg="bad \xff\xfe bytes"')
            return line, f"Poison.Stream.Attack.{i}", IPS
        case 1:  # an integer over 64 bits and a key with NUL in the details
            record = _json_threat(serial, i, "botnet", details={"bytes": 2**70, "k\u0000ey": 1, "$gt": 2})
            return record, f"Poison botnet {i}", BOTNET
        case _:  # a device clock reset to 1970: kept, with the broker's time
            record = _json_threat(serial, i, "webfilter", occurred_at="1970-01-01T00:00:05+00:00")
            return record, f"Poison webfilter {i}", WEB


def _stream(fleet: Fleet) -> tuple[list[tuple[str, bytes, bytes]], dict[str, tuple[str, int]], list[bytes]]:
    records: list[tuple[str, bytes, bytes]] = []
    expected: dict[str, tuple[str, int]] = {}
    hostile: list[bytes] = []
    for i in range(120):
        serial = fleet.serials[i % 3]
        if i % 10 == 9:
            value = _hostile(serial, i // 10)
            hostile.append(value)
        elif i % 10 == 4:
            value, signature, outcome = _recoverable(serial, i)
            expected[signature] = outcome
        else:
            value, signature, outcome = _valid(serial, i)
            expected[signature] = outcome
        records.append((fleet.topic, serial.encode(), value))
    return records, expected, hostile


async def _dead_letters(bootstrap: str, topic: str, wanted: int, within: float) -> list[dict[str, Any]]:
    def of_topic(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any] | None:
        assert len(record.value) < 100 * 1024, "a dead letter must stay far below the limit"
        letter: dict[str, Any] = json.loads(record.value)
        return letter if letter.get("source_topic") == topic else None

    return await collect(bootstrap, DEAD_LETTER, of_topic, wanted, within, max_records=1000)


def _ready(fleet: Fleet) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{fleet.pipeline_url}/health/ready", timeout=5)
    return response.status_code, response.json()


def _metric(fleet: Fleet, name: str) -> dict[str, float]:
    text = httpx.get(f"{fleet.pipeline_url}/metrics", timeout=5).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name):
            labels, _, value = line.rpartition(" ")
            values[labels] = float(value)
    return values


def test_hostile_records_go_to_dead_letter_alone_and_every_valid_alert_is_stored_and_mailed_once(
    fleet: Fleet, servers: Servers
) -> None:
    records, expected, hostile = _stream(fleet)
    assert len(hostile) == 12
    assert len(expected) == 108
    important = {s for s, (_, severity) in expected.items() if severity >= 2}
    watching, statuses = threading.Event(), Counter[int]()

    def watch_readiness() -> None:
        while not watching.is_set():
            statuses[_ready(fleet)[0]] += 1
            watching.wait(0.5)

    watcher = threading.Thread(target=watch_readiness, daemon=True)
    watcher.start()
    asyncio.run(send(servers.kafka, records))

    uri, db = servers.mongodb_uri, fleet.pipeline_db
    _wait_until(lambda: asyncio.run(_count(uri, db, "alerts", {})) >= len(expected), 120, "alerts stored")
    alerts = asyncio.run(_find(uri, db, "alerts"))
    stored = Counter(a["signature"] for a in alerts)
    assert set(stored) == set(expected)
    assert set(stored.values()) == {1}
    assert {a["signature"]: (a["category"], a["severity"]) for a in alerts} == expected
    assert {a["serial_number"] for a in alerts} == set(fleet.serials)
    reset_clock = next(a for a in alerts if a["signature"] == "Poison webfilter 14")
    assert reset_clock["details"]["device_time"].startswith("1970-01-01")
    assert reset_clock["detected_at"] > datetime(2026, 1, 1, tzinfo=UTC)

    letters = asyncio.run(_dead_letters(servers.kafka, fleet.topic, len(hostile), 120))
    by_digest = {letter["sha256"]: letter for letter in letters}
    for value in hostile:
        letter = by_digest.get(hashlib.sha256(value).hexdigest())
        assert letter is not None, f"no dead letter for {value[:60]!r}"
        assert letter["reason"]
        assert letter["reason_code"]
        assert letter["original_size"] == len(value)
        assert letter["partition"] in (0, 1, 2)
        assert letter["offset"] >= 0
        assert len(letter["payload"].encode()) <= 3 * 16 * 1024
        assert letter["payload_truncated"] == (len(value) > 16 * 1024)
    assert len(letters) == len(hostile)

    # Mailed once each: every important alert's ID appears in exactly one mail to the company.
    ids = {a["_id"] for a in alerts if a["signature"] in important}

    def mailed() -> Counter[str]:
        texts = [m.text for m in read_all(servers.maildir) if fleet.email in m.recipients]
        return Counter(found for text in texts for found in set(ALERT_ID.findall(text)))

    _wait_until(lambda: ids <= set(mailed()), 180, "every important alert mailed")
    # A marker alert sent after all of them: once it is mailed, a second copy of any earlier one
    # would have been mailed before it.
    marker = _json_threat(fleet.serials[0], 5000, "botnet", src_ip="10.4.4.4")
    asyncio.run(send(servers.kafka, [(fleet.topic, fleet.serials[0].encode(), marker)]))

    def marker_id() -> str | None:
        found = [
            a["_id"] for a in asyncio.run(_find(uri, db, "alerts")) if a["signature"] == "Poison botnet 5000"
        ]
        return found[0] if found else None

    marker_alert = _wait_until(marker_id, 60, "marker alert stored")
    _wait_until(lambda: marker_alert in mailed(), 60, "marker alert mailed")
    counts = mailed()
    assert counts[marker_alert] == 1
    assert {alert_id: counts[alert_id] for alert_id in ids} == dict.fromkeys(ids, 1)

    # Nothing stalled: the lag is gone, readiness is 200, dead letters are counted by reason.
    lag = _wait_until(
        lambda: (v := _metric(fleet, "alert_pipeline_consumer_lag{")) and sum(v.values()) == 0 and v,
        60,
        "lag back to zero",
    )
    assert len(lag) == 3
    watching.set()
    watcher.join()
    assert set(statuses) == {200}, statuses
    by_reason = _metric(fleet, "dead_letter_records_total{")
    assert sum(by_reason.values()) == len(hostile)
    assert any('reason="too-large"' in labels for labels in by_reason)


def test_counters_are_exact_when_the_pipeline_is_killed_mid_stream(fleet: Fleet, servers: Servers) -> None:
    traffic_per_serial, threats_per_serial = 6000, 40
    records: list[tuple[str, bytes, bytes]] = []
    for i in range(traffic_per_serial):
        for serial in fleet.serials:
            body = {
                "event_id": f"t-{i}", "serial_number": serial, "kind": "traffic",
                "occurred_at": f"2026-11-29T21:{i % 60:02d}:{i % 59:02d}+00:00",
            }  # fmt: skip
            records.append((fleet.topic, serial.encode(), json.dumps(body).encode()))
            if i % (traffic_per_serial // threats_per_serial) == 0:
                threat = _json_threat(serial, i, "webfilter", occurred_at="2026-11-29T21:30:00+00:00")
                records.append((fleet.topic, serial.encode(), threat))
    pipeline = fleet.stack.services["alert-pipeline"]

    async def produce_and_kill() -> None:
        producing = asyncio.create_task(send(servers.kafka, records))
        await asyncio.sleep(1.5)
        pipeline.kill()
        await producing

    asyncio.run(produce_and_kill())
    pipeline.start()
    uri, db = servers.mongodb_uri, fleet.pipeline_db

    async def counters() -> dict[str, dict[str, Any]]:
        return {d["serial_number"]: d for d in await _find(uri, db, "counters")}

    def settled() -> bool:
        lag = _metric(fleet, "alert_pipeline_consumer_lag{")
        return bool(lag) and sum(lag.values()) == 0

    _wait_until(settled, 180, "the stream consumed")
    totals = asyncio.run(counters())
    for serial in fleet.serials:
        doc = totals[serial]
        assert doc["hour"] == datetime(2026, 11, 29, 21, tzinfo=UTC)
        assert doc["benign"] == {"traffic": traffic_per_serial}
        assert doc["threats"] == {
            "webfilter": {"count": threats_per_serial, "severity_2": threats_per_serial}
        }


# --- the stall detector -------------------------------------------------------------------------


class PrivateMongo:
    """A SecantusDB of this test only (stopping the suite's shared one would break other tests)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="stall-mongo-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true&serverSelectionTimeoutMS=2000"

    def start(self) -> None:
        server = ROOT / ".state" / "tools" / "venv" / "bin" / "secantusd-py"
        config = self.folder / "secantusd.toml"
        config.write_text("# settings come from the command line\n")
        log = (self.folder / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(server), "--config", str(config), "--host", "127.0.0.1", "--port", str(self.port),
             "--storage-path", str(self.folder / "data"), "--log-level", "WARNING"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_until(self._answers, 60, "private MongoDB started")

    def _answers(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def test_readiness_names_the_stalled_consumer_while_mongodb_is_down_and_recovers(servers: Servers) -> None:
    mongo = PrivateMongo()
    mongo.start()
    stack = Stack(servers)
    topic, group = f"utm-events-stall-{stack.run_id}", f"alert-pipeline-stall-{stack.run_id}"
    asyncio.run(create_topic(servers.kafka, topic, partitions=2))
    stack.add(
        "alert-pipeline",
        MONGODB_URI=mongo.uri,
        ALERT_PIPELINE_RAW_TOPIC=topic,
        ALERT_PIPELINE_CONSUMER_GROUP=group,
        ALERT_PIPELINE_STALL_SECONDS="5",
        ALERT_PIPELINE_LAG_SAMPLE_SECONDS="1",
    )
    fleet = Fleet(stack, topic, group, "", "", [])

    def traffic(n: int, start: int) -> list[tuple[str, bytes, bytes]]:
        return [
            (topic, f"S{i % 4}".encode(), json.dumps({
                "event_id": f"s-{i}", "serial_number": f"FGSTALL{i % 4}", "kind": "traffic",
                "occurred_at": "2026-11-29T20:00:00+00:00",
            }).encode())
            for i in range(start, start + n)
        ]  # fmt: skip

    def lag() -> float:
        values = _metric(fleet, "alert_pipeline_consumer_lag{")
        return sum(values.values()) if values else -1

    try:
        stack.start()
        asyncio.run(send(servers.kafka, traffic(20, 0)))
        _wait_until(lambda: lag() == 0, 60, "first records consumed")
        assert _ready(fleet)[0] == 200

        mongo.stop()
        asyncio.run(send(servers.kafka, traffic(40, 20)))
        status, body = _wait_until(
            lambda: (r := _ready(fleet))[0] == 503 and f"consumer {group}" in r[1]["failing"] and r,
            60,
            "readiness 503 naming the stalled consumer",
        )
        assert status == 503
        assert f"{topic}[" in body["problems"][f"consumer {group}"]
        assert lag() > 0

        mongo.start()
        _wait_until(lambda: _ready(fleet)[0] == 200, 120, "readiness back to 200")
        _wait_until(lambda: lag() == 0, 60, "the held records consumed")
        counters = asyncio.run(_find(mongo.uri, f"alert-pipeline-{stack.run_id}", "counters"))
        assert sorted((d["serial_number"], d["benign"]["traffic"]) for d in counters) == [
            (f"FGSTALL{n}", 15) for n in range(4)
        ]
    finally:
        stack.stop()
        mongo.remove()
