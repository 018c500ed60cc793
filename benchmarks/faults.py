"""Faults, measured (``make faults``; not a test): nothing lost, nothing twice, every service back by itself.

Each scenario registers a company of its own (an account and a few units, through the pipeline's unit
projection and the notifier's recipient projection, as the pipeline benchmark does), runs a steady
stream from the UTM simulator (``alert_pipeline.simulator``: a known share of threats, every vendor
format mixed), injects one fault, and once the stream has ended and the stack has settled compares
what arrived with what the simulator recorded that it sent:

- alerts expected: every record the simulator's own catalogue says is a threat (severity ≥ 1), by its
  stable alert id; stored: those found in the pipeline's ``alerts`` collection;
- mails expected: the important ones (★★☆ and ★★★, those the pipeline announces); each must either be
  mailed (its id in one 脅威検出通知 mail) or counted as a repeat in the notifier's group of an earlier
  mail (reported by the group's follow-up once its window closes, after this run);
- duplicate alerts: alert-detected announcements beyond one per alert (stored alerts are keyed by their
  id and cannot be doubled); duplicate mails: alert ids mailed more than once;
- recovery: from the end of the fault (the server or process restarted) until every service answers
  /health/ready with 200 and a marker (a ★★★ record of its own) sent at that moment is stored and
  mailed.

Scenarios: kafka (broker SIGKILL, restart after 20 s), mongo (SIGKILL, 30 s down), smtp (down 2 min),
notifier (SIGKILL while sending), pipeline (SIGKILL mid-batch), rebalance (a second pipeline and
notifier join, then the first ones stop), syslog (the collector restarted under TCP load), identity
(down while customers log in through the portal: a Japanese 503 page, and logins work again).

Last line: one JSON object (scenarios, events, alerts_expected, alerts_stored, mails_expected,
mails_sent, lost, duplicate_alerts, duplicate_mails, max_recovery_s). ``make faults``
(scripts/faults.sh) starts servers of its own and runs this; durations can be shortened by arguments.
"""

import argparse
import asyncio
import itertools
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from pymongo import AsyncMongoClient

from alert_pipeline.models import alert_id_for
from alert_pipeline.parsing import parse_record
from alert_pipeline.simulator import Sent, catalogued_events
from alert_pipeline.syslog_sender import SyslogSender, with_header
from shared.topics import ALERT_DETECTED, UTM_EVENTS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the process starter of the tests: one for both
from support.events import company_registered  # noqa: E402
from support.kafka import send  # noqa: E402
from support.processes import ServiceProcess, Stack, free_port  # noqa: E402
from support.servers import Servers  # noqa: E402

STATE_DIR = Path(os.environ.get("STATE_DIR", str(ROOT / ".state" / "faults")))
SCRIPTS = ROOT / "scripts"
SCENARIOS = ("kafka", "mongo", "smtp", "notifier", "pipeline", "rebalance", "syslog", "identity")
ALERT_ID = re.compile(r"アラートID : (ALT-\S+)")
MARKER_CATEGORY, MARKER_SEVERITY = "botnet", 3  # what a blocked C&C connection is (written by hand)


# --- the servers: killed by PID, started and awaited by their scripts -------------------------------


def _server(script: str, action: str) -> None:
    subprocess.run([str(SCRIPTS / f"{script}.sh"), action], check=True, cwd=ROOT)


async def _server_down(name: str, seconds: float, *, kill: bool) -> float:
    """The server SIGKILLed (or stopped), ``seconds`` without it, started again: when it was started."""
    if kill:
        await asyncio.to_thread(_sigkill, name)
    else:
        await asyncio.to_thread(_server, name, "stop")
    await asyncio.sleep(seconds)
    await asyncio.to_thread(_server, name, "start")
    restored = time.monotonic()
    await asyncio.to_thread(_server, name, "wait")
    return restored


def _sigkill(name: str) -> None:
    """SIGKILL the server's whole process group (scripts/common.sh started it as its leader)."""
    pid = int((STATE_DIR / "pids" / f"{name}.pid").read_text().strip())
    os.killpg(pid, signal.SIGKILL)
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


# --- mails: the Maildir read once per file ---------------------------------------------------------


class Mails:
    """The alert mails (脅威検出通知) of the Maildir: recipient → alert ids, each file parsed once."""

    def __init__(self, maildir: Path) -> None:
        self._maildir = maildir
        self._seen: set[str] = set()
        self._parser = BytesParser(policy=policy.default)
        self.alert_ids: dict[str, list[str]] = {}
        self.other: Counter[str] = Counter()

    def refresh(self) -> None:
        folder = self._maildir / "new"
        for path in folder.iterdir() if folder.is_dir() else []:
            if path.name in self._seen:
                continue
            self._seen.add(path.name)
            message = self._parser.parsebytes(path.read_bytes())
            headers = [str(v) for name in ("To", "X-RcptTo") for v in message.get_all(name, [])]
            recipients = {address.lower() for _, address in getaddresses(headers) if address}
            subject = str(message.get("Subject", ""))
            body = message.get_body(preferencelist=("plain",))
            text = str(body.get_content()) if body is not None else ""
            for recipient in recipients:
                if subject.startswith("脅威検出通知("):
                    found = ALERT_ID.search(text)
                    self.alert_ids.setdefault(recipient, []).append(found.group(1) if found else "?")
                else:
                    self.other[recipient] += 1

    def of(self, recipient: str) -> Counter[str]:
        self.refresh()
        return Counter(self.alert_ids.get(recipient.lower(), []))


# --- what each scenario sends ------------------------------------------------------------------------


def _alert_id(raw: bytes) -> str:
    event = parse_record(raw)
    return alert_id_for(event.serial_number, event.event_key, event.occurred_at)


def _marker(serial: str, n: int) -> Sent:
    """A ★★★ record unlike any other (a source address of its own): mailed at once when it arrives."""
    raw = json.dumps(
        {
            "format": "watch.utm-event", "version": 1, "event_id": uuid.uuid4().hex,
            "serial_number": serial, "occurred_at": datetime.now(UTC).isoformat(), "kind": "botnet",
            "action": "blocked", "level": "critical", "signature": "Mirai.Botnet",
            "src_ip": f"192.0.2.{n % 250 + 1}", "dst_ip": "198.51.100.7", "url": "c2.mirai.example",
            "details": {"group": "Botnet"},
        }
    ).encode()  # fmt: skip
    return Sent(serial, "botnet", "json", MARKER_CATEGORY, MARKER_SEVERITY, raw)


@dataclass
class Stream:
    """A steady stream of simulated records at ``rate``/s until stopped; what was delivered is kept."""

    serials: list[str]
    rate: float
    threats: float
    seed: int
    delivered: list[Sent] = field(default_factory=list)
    undelivered: list[Sent] = field(default_factory=list)
    inject: list[Sent] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    count: int = 0

    def items(self) -> Any:
        for item in catalogued_events(self.serials, threat_ratio=self.threats, seed=self.seed):
            while self.inject:
                yield self.inject.pop(0)
            if self.stop.is_set():
                return
            yield item


async def _kafka_stream(kafka: str, stream: Stream) -> None:
    """Into the raw topic; a record counts as sent once the broker acknowledged it (sends that failed
    are retried at the end, as a UTM's forwarder would once the broker is back)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, linger_ms=5, acks="all", enable_idempotence=True, request_timeout_ms=120_000
    )
    await producer.start()
    pending: list[tuple[Sent, asyncio.Future[Any]]] = []
    failed: list[Sent] = []
    try:
        started = time.monotonic()
        for i, item in enumerate(stream.items()):
            pending.append((item, await producer.send(UTM_EVENTS, item.record, key=item.serial.encode())))
            stream.count = i + 1
            ahead = (i + 1) / stream.rate - (time.monotonic() - started)
            if ahead > 0.005:
                await asyncio.sleep(ahead)
            if len(pending) > 2000:
                done = [(s, f) for s, f in pending if f.done()]
                pending = [(s, f) for s, f in pending if not f.done()]
                for sent, future in done:
                    (failed if future.exception() else stream.delivered).append(sent)
        await producer.flush()
        for sent, future in pending:
            try:
                await future
                stream.delivered.append(sent)
            except KafkaError:
                failed.append(sent)
        for sent in failed:
            try:
                await producer.send_and_wait(UTM_EVENTS, sent.record, key=sent.serial.encode())
                stream.delivered.append(sent)
            except KafkaError:
                stream.undelivered.append(sent)
    finally:
        await producer.stop()


def _syslog_stream(url: str, stream: Stream) -> None:
    """To the collector over TCP (octet counting), in slices of 50 ms. A slice whose write failed (the
    collector went away) is written again once a new connection is open; what the kernel had already
    taken when the collector died is the in-flight window (measured as lost)."""
    sender = SyslogSender(url)
    started = time.monotonic()
    batch: list[Sent] = []
    for i, item in enumerate(stream.items()):
        batch.append(item)
        stream.count = i + 1
        ahead = (i + 1) / stream.rate - (time.monotonic() - started)
        if ahead > 0.05 or len(batch) >= 256:
            lines = [with_header(s.record, hostname=s.serial) for s in batch]
            while True:
                try:
                    sender.send(lines)
                    break
                except OSError:
                    sender.close()
                    time.sleep(0.2)
            stream.delivered.extend(batch)
            batch = []
        if ahead > 0.05:
            time.sleep(ahead)
    if batch:
        sender.send([with_header(s.record, hostname=s.serial) for s in batch])
        stream.delivered.extend(batch)
    sender.close()


# --- one scenario ------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    fault: str
    events: int = 0
    alerts_expected: int = 0
    alerts_stored: int = 0
    mails_expected: int = 0
    mails_sent: int = 0
    grouped: int = 0
    lost_alerts: int = 0
    lost_mails: int = 0
    duplicate_alerts: int = 0
    duplicate_mails: int = 0
    recovery_s: float | None = None
    undelivered: int = 0
    exited: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def lost(self) -> int:
        return self.lost_alerts + self.lost_mails


class Harness:
    """The stack (pipeline, notifier, identity, gateway) and the measurements of every scenario."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.servers = Servers.from_env()
        self.stack = Stack(self.servers)
        env = {
            "LOG_LEVEL": "WARNING",
            # No follow-up during the run: every important alert is either mailed or counted in a group.
            "NOTIFIER_ALERT_GROUP_WINDOW_SECONDS": "3600",
            "NOTIFIER_STALE_SENDING_SECONDS": str(args.stale_seconds),
        }
        for name in ("alert-pipeline", "notifier", "identity", "gateway"):
            self.stack.add(name, **env)
        self.mails = Mails(self.servers.maildir)
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            self.servers.mongodb_uri, serverSelectionTimeoutMS=2000
        )
        self.markers = itertools.count(1)

    @property
    def pipeline(self) -> ServiceProcess:
        return self.stack.services["alert-pipeline"]

    @property
    def notifier(self) -> ServiceProcess:
        return self.stack.services["notifier"]

    def start(self) -> None:
        self.stack.start()

    def stop(self) -> None:
        self.stack.stop()

    # -- helpers --

    def supervise(self, result: Result) -> None:
        """A service that exited on its own is restarted (as a supervisor would) and reported."""
        for name, service in self.stack.services.items():
            if service.process is not None and service.process.poll() is not None:
                result.exited.append(name)
                print(f"  {name} exited ({service.process.returncode}); restarting it", flush=True)
                service.start(wait=False)

    def all_ready(self) -> bool:
        for service in self.stack.services.values():
            try:
                if httpx.get(f"{service.url}/health/ready", timeout=2).status_code != 200:
                    return False
            except httpx.HTTPError:
                return False
        return True

    async def register(self, tag: str) -> tuple[str, str, list[str]]:
        """A company with one recipient and units, known to the pipeline and the notifier."""
        company_id = f"C-FAULT-{tag.upper()}"
        email = f"faults-{tag}@example.com"
        serials = [f"FGT60F{tag.upper()}{i:02d}" for i in range(self.args.units)]
        registered = company_registered(
            company_id, email, serials, account_id=f"A-{tag}", login_id=f"u{tag}",
            company_name="障害試験株式会社", user_name="試験 太郎", mac_prefix="00:09:0F:02",
            temporary_password="x", portal_url="http://portal/",
        )  # fmt: skip
        await send(self.servers.kafka, registered)
        db = self.mongo[f"alert-pipeline-{self.stack.run_id}"]
        notifier_db = self.mongo[f"notifier-{self.stack.run_id}"]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            units = await db["units"].count_documents({"_id": {"$in": serials}})
            known = await notifier_db["recipients"].count_documents({"email": email})
            if units == len(serials) and known:
                return company_id, email, serials
            await asyncio.sleep(0.3)
        raise TimeoutError(f"company {company_id} not projected by the pipeline and the notifier")

    async def wait_recovered(self, restored_at: float, marker: str, email: str, result: Result) -> float:
        """Seconds from ``restored_at`` until every service is ready and the marker stored and mailed."""
        alerts = self.mongo[f"alert-pipeline-{self.stack.run_id}"]["alerts"]
        deadline = restored_at + self.args.recovery_timeout
        ready = stored = mailed = False
        at: dict[str, float] = {}
        while time.monotonic() < deadline:
            self.supervise(result)
            ready = ready or await asyncio.to_thread(self.all_ready)
            if not stored:
                try:
                    stored = await alerts.count_documents({"_id": marker}) > 0
                except Exception:  # MongoDB may still be coming back
                    stored = False
            mailed = mailed or marker in self.mails.of(email)
            for what, done in (("ready", ready), ("stored", stored), ("mailed", mailed)):
                if done and what not in at:
                    at[what] = time.monotonic() - restored_at
            if ready and stored and mailed:
                result.note += " recovery: " + ", ".join(f"{k} {v:.1f}s" for k, v in at.items())
                return time.monotonic() - restored_at
            await asyncio.sleep(0.25)
        result.note += f" not recovered within {self.args.recovery_timeout:.0f}s (ready={ready}, " \
            f"stored={stored}, mailed={mailed})"  # fmt: skip
        return float("nan")

    async def announcements(self, company_id: str) -> tuple[Counter[str], dict[str, str]]:
        """alert id → how many alert-detected events announced it; event id → alert id."""
        consumer = AIOKafkaConsumer(
            ALERT_DETECTED, bootstrap_servers=self.servers.kafka, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        counts: Counter[str] = Counter()
        events: dict[str, str] = {}
        try:
            partitions = list(consumer.assignment())
            while not partitions:
                await consumer.getmany(timeout_ms=200)
                partitions = list(consumer.assignment())
            ends = await consumer.end_offsets(partitions)
            while [p for p, end in ends.items() if await consumer.position(p) < end]:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for records in batch.values():
                    for record in records:
                        if record.key == company_id.encode():
                            body = json.loads(record.value)
                            counts[body["alert_id"]] += 1
                            events[str(body["event_id"])] = body["alert_id"]
        finally:
            await consumer.stop()
        return counts, events

    async def grouped(self, company_id: str, events: dict[str, str]) -> set[str]:
        """Alert ids the notifier counted as repeats in an open group (mailed later as a follow-up)."""
        groups = self.mongo[f"notifier-{self.stack.run_id}"]["alert_groups"]
        found: set[str] = set()
        async for doc in groups.find({"company_id": company_id}, {"repeat_event_ids": 1}):
            found.update(events.get(str(e), "?") for e in doc.get("repeat_event_ids", []))
        return found

    async def settle_and_measure(self, result: Result, stream: Stream, company_id: str, email: str) -> None:
        sent = stream.delivered
        expected = {_alert_id(s.record): s for s in sent if s.severity > 0}
        important = {a for a, s in expected.items() if s.severity >= 2}
        alerts = self.mongo[f"alert-pipeline-{self.stack.run_id}"]["alerts"]
        ids = list(expected)
        last_change, last = time.monotonic(), (-1, -1)
        stored: set[str] = set()
        mailed: Counter[str] = Counter()
        grouped: set[str] = set()
        while True:
            self.supervise(result)
            stored = {d["_id"] async for d in alerts.find({"_id": {"$in": ids}}, {"_id": 1})}
            mailed = self.mails.of(email)
            _, events = await self.announcements(company_id)
            grouped = await self.grouped(company_id, events)
            accounted = len(important & (set(mailed) | grouped))
            if len(stored) == len(expected) and accounted == len(important):
                break
            if (len(stored), accounted) != last:
                last, last_change = (len(stored), accounted), time.monotonic()
            if time.monotonic() - last_change > self.args.quiet:
                break
            await asyncio.sleep(1)
        counts, _ = await self.announcements(company_id)
        result.events = len(sent)
        result.undelivered = len(stream.undelivered)
        result.alerts_expected = len(expected)
        result.alerts_stored = len(stored)
        result.lost_alerts = len(expected) - len(stored)
        result.mails_expected = len(important)
        result.mails_sent = sum(mailed[a] for a in important)
        result.grouped = len(important & grouped - set(mailed))
        result.lost_mails = len(important - set(mailed) - grouped)
        result.duplicate_alerts = sum(c - 1 for c in counts.values() if c > 1)
        # Mailed more than once, or mailed and also counted as a repeat of another mail.
        result.duplicate_mails = sum(c - 1 for c in mailed.values() if c > 1) + len(set(mailed) & grouped)

    async def scenario(
        self,
        name: str,
        fault: str,
        inject: Callable[[Result], Awaitable[float]],
        *,
        syslog: bool = False,
    ) -> Result:
        """Register, stream, inject the fault, wait for recovery, end the stream, settle, measure."""
        result = Result(name, fault)
        tag = f"{name[:3]}{uuid.uuid4().hex[:6]}"
        company_id, email, serials = await self.register(tag)
        stream = Stream(serials, self.args.rate, self.args.threats, seed=SCENARIOS.index(name) + 1)
        print(
            f"[{name}] {fault}: streaming {self.args.rate:.0f} events/s to {len(serials)} units", flush=True
        )
        url = f"tcp://127.0.0.1:{os.environ['SYSLOG_PORT']}"
        thread = threading.Thread(target=_syslog_stream, args=(url, stream), daemon=True) if syslog else None
        task = None if thread else asyncio.create_task(_kafka_stream(self.servers.kafka, stream))
        if thread:
            thread.start()
        try:
            await asyncio.sleep(self.args.lead)
            restored_at = await inject(result)
            marker = _marker(serials[0], next(self.markers))
            stream.inject.append(marker)
            marker_id = _alert_id(marker.record)
            result.recovery_s = await self.wait_recovered(restored_at, marker_id, email, result)
            await asyncio.sleep(self.args.tail)
        finally:
            stream.stop.set()
            if task:
                await task
            if thread:
                await _joined(thread)
        await self.settle_and_measure(result, stream, company_id, email)
        print(f"[{name}] {_row(result)}", flush=True)
        return result

    # -- the faults --

    async def kill_kafka(self, result: Result) -> float:
        return await _server_down("kafka", self.args.kafka_down, kill=True)

    async def kill_mongo(self, result: Result) -> float:
        return await _server_down("mongo", self.args.mongo_down, kill=True)

    async def stop_smtp(self, result: Result) -> float:
        return await _server_down("smtp", self.args.smtp_down, kill=False)

    async def kill_notifier(self, result: Result) -> float:
        await self._while_sending()
        await asyncio.to_thread(self.notifier.kill)
        await asyncio.to_thread(self.notifier.start, wait=False)
        return time.monotonic()

    async def _while_sending(self) -> None:
        """Until a mail arrived in the last 200 ms: the notifier is sending right now."""
        before = sum(len(v) for v in self.mails.alert_ids.values())
        for _ in range(200):
            self.mails.refresh()
            if sum(len(v) for v in self.mails.alert_ids.values()) > before:
                return
            await asyncio.sleep(0.05)

    async def kill_pipeline(self, result: Result) -> float:
        await asyncio.to_thread(self.pipeline.kill)
        await asyncio.to_thread(self.pipeline.start, wait=False)
        return time.monotonic()

    async def rebalance(self, result: Result) -> float:
        first = {name: self.stack.services[name] for name in ("alert-pipeline", "notifier")}
        second = {
            name: ServiceProcess(
                name=name, port=free_port(), env=dict(service.env),
                log_path=service.log_path.with_name(service.log_path.stem + "-2.log"),
            )
            for name, service in first.items()
        }  # fmt: skip
        for service in second.values():
            service.start(wait=False)
        for service in second.values():
            await asyncio.to_thread(service.wait_ready)
        print("  second pipeline and notifier ready; both pairs share the partitions", flush=True)
        await asyncio.sleep(self.args.shared)
        for name, service in first.items():
            await asyncio.to_thread(service.stop)
            self.stack.services[name] = second[name]
        return time.monotonic()

    async def restart_syslog(self, result: Result) -> float:
        await asyncio.to_thread(_server, "syslog", "stop")
        await asyncio.to_thread(_server, "syslog", "start")
        restored = time.monotonic()
        await asyncio.to_thread(_server, "syslog", "wait")
        return restored


async def _joined(thread: threading.Thread) -> None:
    while thread.is_alive():  # noqa: ASYNC110 - a thread, not a task
        await asyncio.sleep(0.2)


# --- identity down while customers log in ------------------------------------------------------------


def _portal_user(harness: Harness) -> tuple[str, str]:
    """A customer who has finished the first-login setup (password, user ID, no 2-step)."""
    from security.conftest import Identity

    identity = Identity(harness.stack, harness.servers)
    try:
        user = identity.user()
    finally:
        identity.http.close()
    return user.email, user.password


def _gateway_login(gateway: str, login_id: str, password: str) -> tuple[str, float]:
    """One portal login through the gateway's form: ok, page (a clear Japanese 503 page) or error."""
    started = time.monotonic()
    try:
        with httpx.Client(base_url=gateway, timeout=15, headers={"Origin": gateway}) as client:
            page = client.get("/login")
            # The portal's cookies are Secure; a browser keeps them on http://127.0.0.1, httpx would not.
            for cookie in page.cookies.jar:
                client.cookies.set(cookie.name, cookie.value or "")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            if page.status_code != 200 or token is None:
                outcome = "page" if _clear_page(page) else "error"
                return outcome, time.monotonic() - started
            response = client.post(
                "/login", data={"csrf_token": token.group(1), "login_id": login_id, "password": password}
            )
            if response.status_code == 303:
                return "ok", time.monotonic() - started
            return ("page" if _clear_page(response) else "error"), time.monotonic() - started
    except httpx.HTTPError:
        return "error", time.monotonic() - started


def _clear_page(response: httpx.Response) -> bool:
    return response.status_code == 503 and "ただいまご利用いただけません" in response.text


async def identity_scenario(harness: Harness) -> Result:
    result = Result("identity", f"identity down {harness.args.identity_down:.0f} s during logins")
    users = [await asyncio.to_thread(_portal_user, harness) for _ in range(3)]
    gateway = harness.stack.services["gateway"].url
    identity = harness.stack.services["identity"]
    outcomes: Counter[str] = Counter()
    stop = threading.Event()
    first_ok_after: list[float] = []
    down = threading.Event()
    restored_at = [0.0]

    def customers() -> None:
        for user in itertools.cycle(users):
            if stop.is_set():
                return
            outcome, _ = _gateway_login(gateway, *user)
            outcomes[outcome] += 1
            if outcome == "ok" and restored_at[0] and not first_ok_after:
                first_ok_after.append(time.monotonic() - restored_at[0])
            if outcome == "error" and down.is_set():
                outcomes["error_while_down"] += 1
            time.sleep(0.2)

    print(f"[identity] {result.fault}: {len(users)} customers logging in through the gateway", flush=True)
    worker = threading.Thread(target=customers, daemon=True)
    worker.start()
    await asyncio.sleep(harness.args.lead)
    before = dict(outcomes)
    await asyncio.to_thread(identity.kill)
    down.set()
    await asyncio.sleep(harness.args.identity_down)
    during = {k: outcomes[k] - before.get(k, 0) for k in ("ok", "page", "error")}
    identity.start(wait=False)
    down.clear()
    restored_at[0] = time.monotonic()
    deadline = restored_at[0] + harness.args.recovery_timeout
    while time.monotonic() < deadline:
        ready = await asyncio.to_thread(harness.all_ready)
        if ready and first_ok_after:
            break
        await asyncio.sleep(0.25)
    result.recovery_s = time.monotonic() - restored_at[0] if first_ok_after else float("nan")
    await asyncio.sleep(harness.args.tail)
    stop.set()
    await _joined(worker)
    result.events = sum(outcomes[k] for k in ("ok", "page", "error"))
    result.note = (
        f"logins: {outcomes['ok']} ok; while identity was down {during['page']} clear 503 pages "
        f"(ただいまご利用いただけません), {during['error']} other errors; {outcomes['error']} errors in all"
    )
    result.lost_alerts = outcomes["error"]  # a login answered by anything but the page or success
    print(f"[identity] {_row(result)}", flush=True)
    return result


# --- the table ---------------------------------------------------------------------------------------

COLUMNS = (
    "scenario", "events", "alerts exp", "stored", "mails exp", "mailed", "grouped", "lost",
    "dup alerts", "dup mails", "recovery s",
)  # fmt: skip


def _cells(r: Result) -> list[str]:
    recovery = "n/a" if r.recovery_s is None else f"{r.recovery_s:.1f}"
    return [
        r.name, str(r.events), str(r.alerts_expected), str(r.alerts_stored), str(r.mails_expected),
        str(r.mails_sent), str(r.grouped), str(r.lost), str(r.duplicate_alerts), str(r.duplicate_mails),
        recovery,
    ]  # fmt: skip


def _row(r: Result) -> str:
    return ", ".join(f"{c}={v}" for c, v in zip(COLUMNS[1:], _cells(r)[1:], strict=True)) + (
        f"; {r.note.strip()}" if r.note else ""
    )


def _table(results: list[Result]) -> str:
    rows = [list(COLUMNS), *(_cells(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {r.name}: {r.fault}" + (f" — {r.note.strip()}" if r.note else "") + (
        f" (exited and restarted: {', '.join(r.exited)})" if r.exited else "") + (
        f" ({r.undelivered} records the broker never acknowledged)" if r.undelivered else "")
        for r in results]  # fmt: skip
    return "\n".join([*lines, "", *notes])


async def run(args: argparse.Namespace) -> list[Result]:
    harness = Harness(args)
    wanted = [s for s in args.only.split(",") if s] if args.only else list(SCENARIOS)
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}; one of {', '.join(SCENARIOS)}")
    print("starting alert-pipeline, notifier, identity, gateway ...", flush=True)
    await asyncio.to_thread(harness.start)
    results: list[Result] = []
    plans: dict[str, tuple[str, Callable[[Result], Awaitable[float]], bool]] = {
        "kafka": (f"Kafka SIGKILL, restarted after {args.kafka_down:.0f} s", harness.kill_kafka, False),
        "mongo": (f"MongoDB SIGKILL, restarted after {args.mongo_down:.0f} s", harness.kill_mongo, False),
        "smtp": (f"SMTP server down {args.smtp_down:.0f} s", harness.stop_smtp, False),
        "notifier": ("notifier SIGKILL while sending, restarted", harness.kill_notifier, False),
        "pipeline": ("pipeline SIGKILL mid-batch, restarted", harness.kill_pipeline, False),
        "rebalance": (
            "a second pipeline and notifier join, then the first ones stop", harness.rebalance, False
        ),
        "syslog": ("syslog collector restarted under TCP load", harness.restart_syslog, True),
    }  # fmt: skip
    try:
        for name in wanted:
            if name == "identity":
                results.append(await identity_scenario(harness))
                continue
            fault, inject, syslog = plans[name]
            results.append(await harness.scenario(name, fault, inject, syslog=syslog))
    finally:
        await harness.mongo.close()
        await asyncio.to_thread(harness.stop)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="fault scenarios of the alert chain (make faults)")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios ({','.join(SCENARIOS)})")
    parser.add_argument("--rate", type=float, default=300, help="events/s of the simulated fleet")
    parser.add_argument("--threats", type=float, default=0.05, help="share of threats among events")
    parser.add_argument("--units", type=int, default=6, help="units per scenario's company")
    parser.add_argument("--lead", type=float, default=6, help="seconds of stream before the fault")
    parser.add_argument("--tail", type=float, default=6, help="seconds of stream after recovery")
    parser.add_argument("--kafka-down", type=float, default=20)
    parser.add_argument("--mongo-down", type=float, default=30)
    parser.add_argument("--smtp-down", type=float, default=120)
    parser.add_argument("--identity-down", type=float, default=20)
    parser.add_argument("--shared", type=float, default=15, help="seconds both pairs run in the rebalance")
    parser.add_argument("--stale-seconds", type=float, default=20, help="the notifier's stale-claim limit")
    parser.add_argument("--quiet", type=float, default=60, help="settled once nothing moved this long")
    parser.add_argument("--recovery-timeout", type=float, default=240)
    args = parser.parse_args()
    # The client library's complaints while a server is down are the fault itself, not news.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    results = asyncio.run(run(args))
    print()
    print(_table(results))
    streamed = [r for r in results if r.name != "identity"]
    recoveries = [r.recovery_s for r in results if r.recovery_s is not None and r.recovery_s == r.recovery_s]
    unrecovered = sum(1 for r in results if r.recovery_s is not None and r.recovery_s != r.recovery_s)
    summary = {
        "scenarios": len(results),
        "events": sum(r.events for r in streamed),
        "alerts_expected": sum(r.alerts_expected for r in streamed),
        "alerts_stored": sum(r.alerts_stored for r in streamed),
        "mails_expected": sum(r.mails_expected for r in streamed),
        "mails_sent": sum(r.mails_sent for r in streamed),
        "mails_grouped": sum(r.grouped for r in streamed),
        "lost": sum(r.lost for r in results),
        "duplicate_alerts": sum(r.duplicate_alerts for r in streamed),
        "duplicate_mails": sum(r.duplicate_mails for r in streamed),
        "max_recovery_s": round(max(recoveries), 1) if recoveries else None,
        "not_recovered": unrecovered,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
