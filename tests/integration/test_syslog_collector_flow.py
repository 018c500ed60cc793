"""UTM syslog → collector (rsyslog) → utm-events → alert pipeline → MongoDB → notifier → Maildir.

The collector is the one `make test` started (scripts/syslog.sh): every line here really crosses a
UDP datagram, a TCP stream (octet-counted or newline framing) or a TLS session, rsyslog's envelope
and Kafka. One line per vendor, composed from the vendor's documented fields, each naming its own
unit; the category and severity each must get are written by hand from the line's own level and
action (a critical intrusion attempt that the UTM dropped: 不正侵入防御(IPS), ★★★).
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from pymongo import AsyncMongoClient

from alert_pipeline.syslog_sender import SyslogSender, with_header
from shared.topics import UTM_EVENTS
from support.events import company_registered
from support.kafka import collect, send
from support.maildir import read_all, wait_for_mail
from support.processes import ROOT, Stack
from support.servers import Servers

pytestmark = pytest.mark.integration

# How each transport reaches the collector: scheme, TCP framing.
TRANSPORTS = {
    "udp": ("udp", "octet"),
    "tcp-octet": ("tcp", "octet"),
    "tcp-newline": ("tcp", "newline"),
    "tls": ("tls", "octet"),
}
EXPECTED_CATEGORY = "ips"
EXPECTED_SEVERITY = 3
EXPECTED_SUBJECT = "脅威検出通知(不正侵入防御(IPS)) 重要度:★★★(高)"
# Everything is sent at once; every case then waits for its alert until this long after the send.
WITHIN = 120.0


def fortigate(serial: str, n: int) -> str:
    """FortiOS 7.x utm/ips log: a critical signature, dropped (FortiOS log reference field names)."""
    return (
        f'<185>date=2026-11-30 time=10:15:{n:02d} devname="FGT60F-HQ" devid="{serial}" '
        f'eventtime={1_796_001_300_000_000_000 + n} tz="+0900" logid="0419016384" type="utm" '
        f'subtype="ips" eventtype="signature" level="alert" vd="root" severity="critical" '
        f'srcip=203.0.113.{n} srcport=51{n:03d} srcintf="wan1" dstip=192.168.1.20 dstport=443 '
        f'dstintf="internal" sessionid={7_000_000 + n} action="dropped" proto=6 service="HTTPS" '
        f'policyid=1 attack="Apache.Log4j.Error.Log.Remote.Code.Execution" attackid=51006 '
        f'profile="default" ref="http://www.fortinet.com/ids/VID51006" incidentserialno={90_000 + n} '
        f'msg="applications3: Apache.Log4j.Error.Log.Remote.Code.Execution, "'
    )


def sophos(serial: str, n: int) -> str:
    """Sophos Firewall (SFOS) IDP log: a signature hit of priority Critical, dropped."""
    return (
        f'device="SFW" date=2026-11-30 time=10:15:{n:02d} timezone="JST" device_name="XGS2100" '
        f'device_id={serial} log_id=020703402001 log_type="IDP" log_component="Signatures" '
        f'log_subtype="Drop" priority=Critical idp_policy_id=2 fw_rule_id=5 user_name="" '
        f"signature_id=58724 "
        f'signature_msg="SERVER-OTHER Apache Log4j logging remote code execution attempt" '
        f'classification="Attempted Administrator Privilege Gain" rule_priority=1 '
        f"src_ip=203.0.113.{n} src_country_code=NLD dst_ip=192.168.1.20 dst_country_code=R1 "
        f'protocol="TCP" src_port=51{n:03d} dst_port=443 platform="Linux" category="Server-Other" '
        f'target="Server"'
    )


def paloalto(serial: str, n: int) -> str:
    """PAN-OS 10/11 THREAT log (CSV by field position): a critical vulnerability, reset-both."""
    fields = [
        "1", f"2026/11/30 10:15:{n:02d}", serial, "THREAT", "vulnerability", "2561",
        f"2026/11/30 10:15:{n:02d}", f"203.0.113.{n}", "192.168.1.20", "0.0.0.0", "0.0.0.0",
        "allow-web", "", "", "web-browsing", "vsys1", "untrust", "trust", "ethernet1/1",
        "ethernet1/2", "default", "", str(8_000_000 + n), "1", f"51{n:03d}", "443", "0", "0",
        "0x2000", "tcp", "reset-both", '"/api/login"',
        "Apache Log4j Remote Code Execution Vulnerability(91991)", "any", "critical",
        "client-to-server", str(7_300_000_000 + n), "0x2000000000000000", "Netherlands",
        "192.168.0.0-192.168.255.255", "0", "", "0", "", "", "0", "", "", "", "", "", "", "",
        "0", "0", "0", "0", "0", "", "PA-440",
    ]  # fmt: skip
    return ",".join(fields)


def cef(serial: str, n: int) -> str:
    """ArcSight CEF: an intrusion-prevention event of severity 10 (very high), blocked."""
    return (
        "CEF:0|Watch Test Vendor|Edge IPS|3.2|51006|Apache Log4j remote code execution attempt|10|"
        f"rt=Nov 30 2026 10:15:{n:02d} +0900 deviceExternalId={serial} dvchost=edge-ips-hq "
        f"src=203.0.113.{n} spt=51{n:03d} dst=192.168.1.20 dpt=443 proto=TCP act=blocked "
        "cat=Intrusion Prevention cs1Label=signature cs1=Apache.Log4j.Error.Log.Remote.Code.Execution"
    )


def project_json(serial: str, n: int) -> str:
    """The project's own JSON UtmEvent: a critical IPS event, dropped."""
    return (
        '{"format":"watch.utm-event","version":1,'
        f'"event_id":"syslog-{serial}","serial_number":"{serial}",'
        f'"occurred_at":"2026-11-30T10:15:{n:02d}+09:00","kind":"ips","action":"dropped",'
        '"level":"critical","signature":"Apache.Log4j.Error.Log.Remote.Code.Execution",'
        f'"src_ip":"203.0.113.{n}","dst_ip":"192.168.1.20"}}'
    )


VENDORS = {
    "fortigate": fortigate,
    "sophos": sophos,
    "paloalto": paloalto,
    "cef": cef,
    "json": project_json,
}


@dataclass(frozen=True)
class Case:
    vendor: str
    transport: str
    serial: str
    n: int
    line: str


@dataclass
class Collected:
    """What the module sent through the collector and where the outcome lands."""

    stack: Stack
    email: str
    cases: dict[tuple[str, str], Case]
    sent_at: float

    @property
    def pipeline_db(self) -> str:
        return f"alert-pipeline-{self.stack.run_id}"


@dataclass(frozen=True)
class Collector:
    host: str
    port: int
    tls_port: int
    ca_file: str

    def url(self, scheme: str) -> str:
        return f"{scheme}://{self.host}:{self.tls_port if scheme == 'tls' else self.port}"


@pytest.fixture(scope="module")
def collector() -> Collector:
    """The syslog collector `make test` started (scripts/syslog.sh), from the environment."""
    names = ("SYSLOG_PORT", "SYSLOG_TLS_PORT", "SYSLOG_TLS_CA")
    missing = [name for name in names if not os.environ.get(name)]
    if missing or not Path(os.environ["SYSLOG_TLS_CA"]).exists():
        message = f"syslog collector not configured ({', '.join(missing) or 'no CA file'}); run `make test`"
        if os.environ.get("WATCH_REQUIRE_SERVERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return Collector(
        "127.0.0.1", int(os.environ["SYSLOG_PORT"]), int(os.environ["SYSLOG_TLS_PORT"]),
        os.environ["SYSLOG_TLS_CA"],
    )  # fmt: skip


@pytest.fixture(scope="module")
def collected(servers: Servers, collector: Collector) -> Iterator[Collected]:
    stack = Stack(servers)
    run = stack.run_id
    # The pipeline reads the collector's topic (utm-events) with a consumer group of its own.
    stack.add(
        "alert-pipeline",
        ALERT_PIPELINE_CONSUMER_GROUP=f"alert-pipeline-syslog-{run}",
        ALERT_PIPELINE_SEEN_FLUSH_SECONDS="1",
    )
    stack.add("notifier", NOTIFIER_CONSUMER_GROUP=f"notifier-syslog-{run}")
    stack.start()
    try:
        cases: dict[tuple[str, str], Case] = {}
        for v, vendor in enumerate(VENDORS):
            for t, transport in enumerate(TRANSPORTS):
                serial = f"SYS{run.upper()}{v}{t}"
                n = 10 + v * len(TRANSPORTS) + t
                cases[vendor, transport] = Case(vendor, transport, serial, n, VENDORS[vendor](serial, n))
        email = f"syslog-{run}@example.com"
        company_id = f"C-SYS-{run.upper()}"
        registered = company_registered(
            company_id, email, [c.serial for c in cases.values()], account_id=f"A-SYS-{run}",
            login_id=f"u-sys-{run}", company_name="シスログ株式会社", user_name="集約 花子",
            unit_name="拠点 UTM", mac_prefix="00:09:0F:AA",
        )  # fmt: skip
        asyncio.run(send(servers.kafka, registered))
        asyncio.run(_wait_units(servers, stack, [c.serial for c in cases.values()]))
        # The notifier has learnt the recipient once its own mail to the new user went out.
        wait_for_mail(servers.maildir, to=email, subject_contains="仮登録完了のお知らせ", timeout=180)
        for transport, (scheme, framing) in TRANSPORTS.items():
            lines = [
                with_header(c.line.encode(), hostname=c.serial, header="5424" if i % 2 else "3164")
                for i, c in enumerate(cases.values())
                if c.transport == transport
            ]
            sender = SyslogSender(collector.url(scheme), framing=framing, ca_file=collector.ca_file)
            with sender:
                sender.send(lines)
        yield Collected(stack, email, cases, time.monotonic())
    finally:
        stack.stop()


async def _wait_units(servers: Servers, stack: Stack, serials: list[str]) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_uri)
    try:
        units = client[f"alert-pipeline-{stack.run_id}"]["units"]
        deadline = time.monotonic() + 300
        while await units.count_documents({"_id": {"$in": serials}}) < len(serials):
            assert time.monotonic() < deadline, "the pipeline did not learn the units in time"
            await asyncio.sleep(0.3)
    finally:
        await client.close()


async def _alert_of(servers: Servers, db_name: str, serial: str, until: float) -> dict[str, Any] | None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_uri)
    try:
        alerts = client[db_name]["alerts"]
        while True:
            doc = await alerts.find_one({"serial_number": serial})
            if doc is not None or time.monotonic() > until:
                return doc
            await asyncio.sleep(0.3)
    finally:
        await client.close()


def _mail_with(maildir: Path, email: str, needle: str, within: float) -> list[str]:
    """Subjects of the mails to ``email`` whose text names ``needle``, once at least one came."""
    deadline = time.monotonic() + within
    while True:
        subjects = [m.subject for m in read_all(maildir) if email in m.recipients and needle in m.text]
        if subjects or time.monotonic() > deadline:
            return subjects
        time.sleep(0.2)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("vendor", VENDORS)
def test_syslog_line_becomes_an_alert_and_a_mail(
    collected: Collected, servers: Servers, vendor: str, transport: str
) -> None:
    case = collected.cases[vendor, transport]
    alert = asyncio.run(_alert_of(servers, collected.pipeline_db, case.serial, collected.sent_at + WITHIN))
    assert alert is not None, f"no alert for the {vendor} line sent over {transport}"
    assert alert["category_key"] == EXPECTED_CATEGORY
    assert alert["severity"] == EXPECTED_SEVERITY
    assert alert["source"] == f"203.0.113.{case.n}"

    subjects = _mail_with(servers.maildir, collected.email, alert["_id"], within=90)
    assert subjects == [EXPECTED_SUBJECT]


async def _envelopes_of(
    bootstrap: str, hostname: str, count: int, within: float
) -> list[tuple[bytes, dict[str, Any]]]:
    """(key, envelope) of the utm-events records whose syslog header named ``hostname``."""

    def of_host(record: ConsumerRecord[bytes, bytes]) -> tuple[bytes, dict[str, Any]] | None:
        envelope = json.loads(record.value or b"{}")
        return (record.key or b"", envelope) if envelope.get("hostname") == hostname else None

    return await collect(bootstrap, UTM_EVENTS, of_host, count, within)


@pytest.mark.parametrize(
    ("scheme", "options", "header"),
    [
        ("tcp", ["--framing", "newline", "--header", "3164"], "3164"),
        ("udp", ["--header", "5424"], "5424"),
        ("tls", ["--framing", "octet", "--header", "5424"], "5424"),
    ],
)
def test_simulator_over_syslog_reaches_kafka_in_the_envelope(
    servers: Servers, collector: Collector, scheme: str, options: list[str], header: str
) -> None:
    serial = f"FGT60FSIM{uuid.uuid4().hex[:6].upper()}"
    command = [
        sys.executable, "-m", "alert_pipeline.simulator", "--serial", serial, "--count", "40",
        "--rate", "0", "--format", "mixed", "--seed", "5",
        "--syslog", collector.url(scheme), "--ca", collector.ca_file, *options,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"] == 40

    found = asyncio.run(_envelopes_of(servers.kafka, serial, 40, within=60))
    assert len(found) == 40
    pattern = (
        rf"<\d{{1,3}}>[A-Z][a-z]{{2}} [ \d]\d \d\d:\d\d:\d\d {serial} "
        if header == "3164"
        else rf"<\d{{1,3}}>1 \d{{4}}-\d\d-\d\dT\S+ {serial} - - - - "
    )
    for key, envelope in found:
        assert key == b"127.0.0.1"
        assert set(envelope) == {"v", "src", "host", "hostname", "received", "msg"}
        assert (envelope["v"], envelope["src"], envelope["host"]) == (1, "syslog", "127.0.0.1")
        received = datetime.fromisoformat(envelope["received"])
        assert received.tzinfo is not None
        assert abs(datetime.now(UTC) - received) < timedelta(minutes=5)
        assert re.match(pattern, envelope["msg"]), envelope["msg"]
        assert serial in envelope["msg"][envelope["msg"].index(serial) + len(serial) :]
