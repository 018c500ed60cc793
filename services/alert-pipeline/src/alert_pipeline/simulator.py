"""A UTM fleet simulator: streams realistic events of given units into the raw ``utm-events`` topic.

    python -m alert_pipeline.simulator --serial FGT60FTK2109ABCD --rate 200 --duration 60
    python -m alert_pipeline.simulator --registered --rate 1000 --threats 0.05 --format mixed
    python -m alert_pipeline.simulator --serial PA440X1 --format paloalto --count 100 --record sent.jsonl
    python -m alert_pipeline.simulator --serial FGT60FTK2109ABCD --syslog tcp://127.0.0.1:5514

Each unit sends benign traffic, periodic heartbeats and, at the chosen ratio, threats (web-filter
blocks, viruses, IPS, application control, botnet/C&C) in one vendor's log format — FortiGate
``key=value``, Sophos Firewall ``key=value``, PAN-OS CSV, ArcSight CEF — or the project's JSON
``UtmEvent``; ``mixed`` picks one of them per record. ``--record FILE`` writes every record sent with
the category and severity the simulator intends for it (from its own catalogue), as JSON lines.
Records go into Kafka, or with ``--syslog`` to the syslog collector (UDP, TCP or TLS, each line
behind an RFC 5424 or RFC 3164 header naming the unit).

The threat mix follows what UTM threat logs look like in the field: most entries are routine and
low-severity (web-filter hits that were only logged, low-severity IPS signatures, allowed-but-logged
applications), repeated by the same few internal hosts against the same sites and signatures; only a
small share is ★★☆/★★★ (blocked categories, viruses, exploits, C&C). With the default weights about
two thirds of threats classify as ★☆☆, a fifth as ★★☆ and an eighth as ★★★; sources come from a pool of
``HOSTS_PER_UNIT`` internal addresses per unit and signatures from the small catalogues below.
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TextIO

from aiokafka import AIOKafkaProducer

from alert_pipeline.syslog_sender import HeaderFormat, SyslogSender, SyslogTargetError, with_header
from shared.topics import UTM_EVENTS

JST = timezone(timedelta(hours=9))
THREAT_KINDS = ("webfilter", "virus", "ips", "app-ctrl", "botnet")
THREAT_WEIGHTS = (40, 10, 25, 22, 3)
HOSTS_PER_UNIT = 12
VENDOR_FORMATS = ("fortigate", "sophos", "paloalto", "cef", "json")
FORMATS = (*VENDOR_FORMATS, "mixed")


@dataclass(frozen=True, slots=True)
class Threat:
    """One catalogue entry: what the unit saw and what the service must make of it.

    ``category``/``severity`` are what the simulator intends (★ 1–3); ``overrides`` gives another
    outcome for a vendor whose logs say less (e.g. PAN-OS has no application-control threat log: a
    blocked application is a denied session there, which is not an alert).
    """

    kind: str
    signature: str
    group: str
    action: str
    level: str
    category: str
    severity: int
    url: str = ""
    overrides: tuple[tuple[str, str, int], ...] = ()

    def expected(self, fmt: str) -> tuple[str, int]:
        for vendor, category, severity in self.overrides:
            if vendor == fmt:
                return category, severity
        return self.category, self.severity


_WEB = [
    Threat("webfilter", "Games", "Games", "passthrough", "notice", "webfilter", 1, "game.example.jp/"),
    Threat("webfilter", "Streaming Media and Download", "Streaming Media and Download", "passthrough",
           "notice", "webfilter", 1, "video.example.com/watch"),
    Threat("webfilter", "Pornography", "Pornography", "blocked", "warning", "webfilter", 2,
           "adult.example.com/"),
    Threat("webfilter", "Gambling", "Gambling", "blocked", "warning", "webfilter", 2,
           "casino.example.com/play"),
    Threat("webfilter", "Malicious Websites", "Malicious Websites", "blocked", "warning", "webfilter", 3,
           "malware.example.net/dl/payload.exe"),
    Threat("webfilter", "Phishing", "Phishing", "blocked", "warning", "webfilter", 3,
           "login-secure.example.org/account/verify"),
]  # fmt: skip
_WEB_WEIGHTS = (45, 30, 10, 9, 3, 3)
_VIRUS = [
    Threat("virus", "EICAR_TEST_FILE", "Virus", "blocked", "warning", "antivirus", 2),
    Threat("virus", "W32/Emotet.C!tr", "Virus", "blocked", "warning", "antivirus", 3),
    Threat("virus", "JS/Agent.AB!tr", "Virus", "blocked", "warning", "antivirus", 2),
    Threat("virus", "W32/Ransom.Lockbit!tr", "Virus", "passthrough", "warning", "antivirus", 3),
]
_IPS = [
    Threat("ips", "Apache.Log4j.Error.Log.Remote.Code.Execution", "", "dropped", "critical", "ips", 3),
    Threat("ips", "SSH.Connection.Brute.Force", "", "dropped", "medium", "ips", 2),
    Threat("ips", "HTTP.URI.SQL.Injection", "", "dropped", "high", "ips", 3),
    Threat("ips", "MS.SMB.Server.Trans.Peeking.Data.Information.Disclosure", "", "detected", "low", "ips", 1),
]
_IPS_WEIGHTS = (4, 14, 4, 78)
_APPS = [
    Threat("app-ctrl", "BitTorrent", "P2P", "block", "warning", "app-control", 2,
           overrides=(("paloalto", "traffic", 0),)),
    Threat("app-ctrl", "Tor", "Proxy", "block", "warning", "app-control", 2,
           overrides=(("paloalto", "traffic", 0),)),
    Threat("app-ctrl", "Dropbox", "Storage.Backup", "pass", "warning", "app-control", 1,
           overrides=(("paloalto", "traffic", 0), ("sophos", "app-control", 0))),
]  # fmt: skip
_APP_WEIGHTS = (8, 4, 88)
_BOTNETS = [
    Threat("botnet", "Mirai.Botnet", "Botnet", "blocked", "critical", "botnet", 3, "c2.mirai.example"),
    Threat("botnet", "Zeus.Botnet", "Botnet", "blocked", "critical", "botnet", 3, "cnc.zeus.example"),
    Threat("botnet", "Emotet.C2", "Botnet", "blocked", "critical", "botnet", 3, "e5.example"),
]
_TRAFFIC = Threat("traffic", "", "", "accept", "notice", "traffic", 0)
_HEARTBEAT = Threat("heartbeat", "", "", "", "information", "system", 0)
_SITES = ["www.example.co.jp", "mail.example.com", "cdn.example.net", "api.example.org"]


def pick(kind: str, rng: random.Random) -> Threat:
    """A catalogue entry of ``kind``, with the weights of the field."""
    if kind == "webfilter":
        return rng.choices(_WEB, _WEB_WEIGHTS)[0]
    if kind == "virus":
        return rng.choice(_VIRUS)
    if kind == "ips":
        return rng.choices(_IPS, _IPS_WEIGHTS)[0]
    if kind == "app-ctrl":
        return rng.choices(_APPS, _APP_WEIGHTS)[0]
    if kind == "botnet":
        return rng.choice(_BOTNETS)
    return _HEARTBEAT if kind == "heartbeat" else _TRAFFIC


def _ip(rng: random.Random, internal: bool) -> str:
    if internal:
        # A few hosts behind each unit make most of its threat logs, again and again.
        return f"192.168.1.{10 + rng.randrange(HOSTS_PER_UNIT)}"
    return f"203.0.113.{rng.randint(1, 254)}"


def _json(serial: str, t: Threat, rng: random.Random, now: datetime) -> bytes:
    record: dict[str, object] = {
        "format": "watch.utm-event",
        "version": 1,
        "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "serial_number": serial,
        "occurred_at": now.astimezone(UTC).isoformat(),
        "kind": t.kind,
    }
    if t.kind == "traffic":
        record.update(src_ip=_ip(rng, True), dst_ip=_ip(rng, False), action="accept", url=rng.choice(_SITES))
    elif t.kind != "heartbeat":
        record.update(action=t.action, level=t.level, signature=t.signature, src_ip=_ip(rng, True))
        record.update(dst_ip=_ip(rng, False))
        if t.url:
            record["url"] = t.url
        if t.group and t.kind != "ips":
            record["details"] = {"group": t.group}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def _fortigate(serial: str, t: Threat, rng: random.Random, now: datetime) -> bytes:
    local = now.astimezone(JST)
    head = (
        f'<189>date={local:%Y-%m-%d} time={local:%H:%M:%S} devname="{serial[:8]}" devid="{serial}" '
        f'eventtime={int(now.timestamp() * 1e9) + rng.randint(0, 999_999)} tz="+0900" vd="root" '
    )
    src, dst = _ip(rng, True), _ip(rng, False)
    port = rng.randint(1024, 65535)
    if t.kind == "traffic":
        body = (
            f'logid="0000000013" type="traffic" subtype="forward" level="notice" srcip={src} srcport={port} '
            f'dstip={dst} dstport=443 proto=6 action="accept" policyid=1 service="HTTPS" '
            f"sentbyte={rng.randint(100, 90000)}"
        )
    elif t.kind == "heartbeat":
        body = (
            'logid="0100032001" type="event" subtype="system" level="information" msg="Fortigate heartbeat"'
        )
    elif t.kind == "webfilter":
        host, _, path = t.url.partition("/")
        body = (
            f'logid="0316013056" type="utm" subtype="webfilter" eventtype="ftgd_blk" level="{t.level}" '
            f'srcip={src} srcport={port} dstip={dst} dstport=80 proto=6 action="{t.action}" '
            f'hostname="{host}" url="/{path}" catdesc="{t.group}" '
            'msg="URL belongs to a denied category in policy"'
        )
    elif t.kind == "virus":
        body = (
            f'logid="0211008192" type="utm" subtype="virus" eventtype="infected" level="warning" '
            f'srcip={dst} dstip={src} srcport=80 dstport={port} action="{t.action}" virus="{t.signature}" '
            f'dtype="Virus" filename="invoice.zip" msg="File is infected."'
        )
    elif t.kind == "ips":
        body = (
            f'logid="0419016384" type="utm" subtype="ips" eventtype="signature" level="alert" '
            f'severity="{t.level}" srcip={dst} dstip={src} srcport={port} dstport=443 action="{t.action}" '
            f'attack="{t.signature}" attackid={rng.randint(10000, 60000)} msg="web_server: {t.signature}"'
        )
    elif t.kind == "app-ctrl":
        body = (
            f'logid="1059028704" type="utm" subtype="app-ctrl" eventtype="signature" level="warning" '
            f'srcip={src} dstip={dst} action="{t.action}" app="{t.signature}" appcat="{t.group}" '
            f'msg="{t.group}: {t.signature},"'
        )
    else:
        body = (
            f'logid="1501054802" type="utm" subtype="dns" eventtype="dns-response" level="warning" '
            f'srcip={src} dstip=8.8.8.8 action="block" qname="{t.url}" botnetdomain="{t.url}" '
            f'catdesc="Botnet" msg="Domain was blocked because it is in the botnet database"'
        )
    return (head + body).encode()


_SOPHOS_WEB = {"Malicious Websites": "Spyware and Malware", "Phishing": "Phishing & Fraud"}
_SOPHOS_IPS_PRIORITY = {"critical": 1, "high": 1, "medium": 2, "low": 3}


def _sophos(serial: str, t: Threat, rng: random.Random, now: datetime) -> bytes:
    local = now.astimezone(JST)
    head = (
        f'<30>device="SFW" date={local:%Y-%m-%d} time={local:%H:%M:%S} timezone="JST" '
        f'device_name="{serial[:8]}" device_id={serial} '
    )
    src, dst = _ip(rng, True), _ip(rng, False)
    ports = f"src_port={rng.randint(1024, 65535)} dst_port=443"
    if t.kind == "traffic":
        body = (
            'log_id=010101600001 log_type="Firewall" log_component="Firewall Rule" log_subtype="Allowed" '
            f'status="Allow" priority=Information fw_rule_id=2 src_ip={src} dst_ip={dst} protocol="TCP" '
            f"{ports}"
        )
    elif t.kind == "heartbeat":
        body = (
            'log_id=063411660000 log_type="Event" log_component="Heartbeat" log_subtype="System" '
            f'priority=Information message="Heartbeat {rng.getrandbits(32):08x}"'
        )
    elif t.kind == "webfilter":
        subtype = "Denied" if t.action == "blocked" else "Warned"
        body = (
            f'log_id=050902400001 log_type="Content Filtering" log_component="HTTP" log_subtype="{subtype}" '
            f'priority=Warning category="{_SOPHOS_WEB.get(t.group, t.group)}" url="http://{t.url}" '
            f"src_ip={src} dst_ip={dst} {ports}"
        )
    elif t.kind == "virus":
        body = (
            'log_id=030906208001 log_type="Anti-Virus" log_component="HTTP" log_subtype="Virus" '
            f'priority=Critical virus="{t.signature}" url="http://{dst}/invoice.zip" src_ip={dst} '
            f"dst_ip={src} {ports}"
        )
    elif t.kind == "ips":
        subtype = "Drop" if t.action == "dropped" else "Detect"
        body = (
            f'log_id=020804401001 log_type="IPS" log_component="Signatures" log_subtype="{subtype}" '
            f'priority=Warning signature_id={rng.randint(10000, 60000)} signature_msg="{t.signature}" '
            f'classification="Attempted Attack" rule_priority={_SOPHOS_IPS_PRIORITY[t.level]} '
            f"src_ip={dst} dst_ip={src} {ports}"
        )
    elif t.kind == "app-ctrl":
        subtype = "Denied" if t.action == "block" else "Allowed"
        body = (
            f'log_id=160102400003 log_type="Content Filtering" log_component="Application" '
            f'log_subtype="{subtype}" priority=Warning application="{t.signature}" '
            f'application_category="{t.group}" src_ip={src} dst_ip={dst} {ports}'
        )
    else:
        body = (
            'log_id=086304418010 log_type="ATP" log_component="DNS" log_subtype="Drop" priority=Critical '
            f'threatname="{t.signature}" url="{t.url}" src_ip={src} dst_ip=8.8.8.8 {ports}'
        )
    return (head + body).encode()


def _csv_row(values: dict[int, str], length: int) -> str:
    row = [""] * length
    for pos, value in values.items():
        row[pos] = f'"{value}"' if "," in value or '"' in value else value
    return ",".join(row)


_PAN_URL_CATEGORY = {"Malicious Websites": "malware", "Phishing": "phishing"}


def _paloalto(serial: str, t: Threat, rng: random.Random, now: datetime) -> bytes:
    local = now.astimezone(JST)
    stamp = f"{local:%Y/%m/%d %H:%M:%S}"
    src, dst = _ip(rng, True), _ip(rng, False)
    common = {0: "1", 1: stamp, 2: serial, 5: "2561", 6: stamp, 15: "vsys1", 22: str(rng.getrandbits(31))}
    common.update({7: src, 8: dst, 24: str(rng.randint(1024, 65535)), 25: "443", 29: "tcp"})
    header = f"<14>{local:%b %d %H:%M:%S} {serial[:8]} "
    if t.kind == "heartbeat":
        values = {0: "1", 1: stamp, 2: serial, 3: "SYSTEM", 4: "general", 5: "2561", 6: stamp, 8: "general"}
        values.update({12: "general", 13: "informational", 14: f"heartbeat {rng.getrandbits(32):08x}"})
        return (header + _csv_row(values, 26)).encode()
    if t.kind in ("traffic", "app-ctrl"):
        action = "deny" if t.kind == "app-ctrl" and t.action == "block" else "allow"
        app = t.signature.lower() if t.kind == "app-ctrl" else "ssl"
        values = {**common, 3: "TRAFFIC", 4: "end" if action == "allow" else "deny", 14: app, 30: action}
        values.update({31: str(rng.randint(100, 90000)), 37: "business-and-economy"})
        return (header + _csv_row(values, 70)).encode()
    severity = {"notice": "low", "warning": "low"}.get(t.level, t.level)
    if t.kind == "webfilter":
        action = "block-url" if t.action == "blocked" else "alert"
        values = {3: "THREAT", 4: "url", 30: action, 31: t.url, 32: "(9999)"}
        values.update({33: _PAN_URL_CATEGORY.get(t.group, t.group.lower()), 34: severity})
    elif t.kind == "virus":
        action = "reset-both" if t.action == "blocked" else "alert"
        values = {3: "THREAT", 4: "virus", 30: action, 31: "invoice.zip", 32: f"{t.signature}(458771)"}
        values.update({33: "any", 34: "medium"})
    elif t.kind == "ips":
        action = "reset-both" if t.action == "dropped" else "alert"
        values = {
            3: "THREAT",
            4: "vulnerability",
            30: action,
            32: f"{t.signature}(91991)",
            33: "code-execution",
        }
        values[34] = severity
    else:
        values = {3: "THREAT", 4: "spyware", 30: "reset-both", 31: t.url}
        values.update(
            {32: f"{t.signature} Command and Control Traffic(86246)", 33: "spyware", 34: "critical"}
        )
    return (header + _csv_row({**common, **values}, 75)).encode()


_CEF_CATEGORY = {
    "traffic": "Traffic", "heartbeat": "System", "webfilter": "URL Filtering", "virus": "Malware",
    "ips": "Intrusion", "app-ctrl": "Application Control", "botnet": "Botnet",
}  # fmt: skip
_CEF_SEVERITY = {0: "1", 1: "3", 2: "5", 3: "8"}


def _cef_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("=", "\\=")


def _cef(serial: str, t: Threat, rng: random.Random, now: datetime) -> bytes:
    local = now.astimezone(JST)
    name = {"traffic": "Session closed", "heartbeat": "Heartbeat"}.get(t.kind, t.signature)
    action = {"passthrough": "allowed", "pass": "allowed", "detected": "alerted"}.get(t.action, t.action)
    ext = (
        f"rt={int(now.timestamp() * 1000)} deviceExternalId={serial} dvchost={serial[:8]} "
        f"externalId={rng.getrandbits(48)} cat={_CEF_CATEGORY[t.kind]} src={_ip(rng, True)} "
        f"dst={_ip(rng, False)} act={action or 'allow'}"
    )
    if t.url:
        ext += f" request=http://{_cef_escape(t.url)}"
    if t.group:
        ext += f" cs1Label=group cs1={_cef_escape(t.group)}"
    header = f"<134>{local:%b %d %H:%M:%S} {serial[:8]} "
    cef = f"CEF:0|Watch|UTM Simulator|1.0|{t.kind}|{name}|{_CEF_SEVERITY[t.severity]}|{ext}"
    return (header + cef).encode()


_RENDERERS = {"json": _json, "fortigate": _fortigate, "sophos": _sophos, "paloalto": _paloalto, "cef": _cef}


def json_event(serial: str, kind: str, rng: random.Random, now: datetime) -> bytes:
    """One record in the project's JSON format."""
    return _json(serial, pick(kind, rng), rng, now)


def fortigate_line(serial: str, kind: str, rng: random.Random, now: datetime) -> bytes:
    """One FortiGate-style syslog line (FortiOS log reference field names)."""
    return _fortigate(serial, pick(kind, rng), rng, now)


@dataclass(frozen=True, slots=True)
class Sent:
    """One simulated record and what the simulator intends the service to make of it."""

    serial: str
    kind: str
    format: str
    category: str
    severity: int
    record: bytes

    def as_json(self) -> str:
        return json.dumps(
            {
                "serial": self.serial,
                "kind": self.kind,
                "format": self.format,
                "category": self.category,
                "severity": self.severity,
                "record": self.record.decode(),
            },
            ensure_ascii=False,
        )


def catalogued_events(
    serials: Sequence[str],
    *,
    threat_ratio: float = 0.05,
    fmt: str = "mixed",
    heartbeat_every: int = 200,
    seed: int | None = None,
) -> Iterator[Sent]:
    """An endless stream of records in the chosen format(s), each with its intended outcome."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    rng = random.Random(seed)
    n = 0
    while True:
        serial = serials[n % len(serials)]
        n += 1
        roll = rng.random()
        if n % heartbeat_every < len(serials):
            kind = "heartbeat"
        elif roll < threat_ratio:
            kind = rng.choices(THREAT_KINDS, THREAT_WEIGHTS)[0]
        else:
            kind = "traffic"
        vendor = rng.choice(VENDOR_FORMATS) if fmt == "mixed" else fmt
        threat = pick(kind, rng)
        record = _RENDERERS[vendor](serial, threat, rng, datetime.now(UTC))
        category, severity = threat.expected(vendor)
        yield Sent(serial, kind, vendor, category, severity, record)


def events(
    serials: Sequence[str],
    *,
    threat_ratio: float = 0.05,
    fmt: str = "mixed",
    heartbeat_every: int = 200,
    seed: int | None = None,
) -> Iterator[tuple[str, str, bytes]]:
    """An endless stream of (serial, kind, record) in the chosen format and mix."""
    for sent in catalogued_events(
        serials, threat_ratio=threat_ratio, fmt=fmt, heartbeat_every=heartbeat_every, seed=seed
    ):
        yield sent.serial, sent.kind, sent.record


async def registered_serials(mongodb_uri: str, database: str) -> list[str]:
    """Serial numbers of every registered unit, read from the device registry's database."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_uri)
    try:
        docs = client[database]["units"].find({"status": "registered"}, {"serial_number": 1})
        return [str(d["serial_number"]) async for d in docs]
    finally:
        await client.close()


async def stream(
    bootstrap: str,
    serials: Sequence[str],
    *,
    rate: float,
    count: int,
    duration: float,
    threat_ratio: float,
    fmt: str,
    topic: str = UTM_EVENTS,
    seed: int | None = None,
    record: TextIO | None = None,
) -> dict[str, int]:
    """Send events at about ``rate`` per second until ``count`` or ``duration`` is reached.

    ``record``: a file that gets one JSON line per record sent, with the outcome the simulator intends.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        max_batch_size=256 * 1024,
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    sent: dict[str, int] = {}
    started = time.monotonic()
    try:
        for i, item in enumerate(catalogued_events(serials, threat_ratio=threat_ratio, fmt=fmt, seed=seed)):
            if (count and i >= count) or (duration and time.monotonic() - started >= duration):
                break
            await producer.send(topic, item.record, key=item.serial.encode())
            sent[item.kind] = sent.get(item.kind, 0) + 1
            if record is not None:
                record.write(item.as_json() + "\n")
            if rate:
                ahead = (i + 1) / rate - (time.monotonic() - started)
                if ahead > 0.005:
                    await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def stream_syslog(
    sender: SyslogSender,
    serials: Sequence[str],
    *,
    rate: float,
    count: int,
    duration: float,
    threat_ratio: float,
    fmt: str,
    header: HeaderFormat = "5424",
    seed: int | None = None,
    record: TextIO | None = None,
) -> dict[str, int]:
    """Like ``stream``, to a syslog collector: each record behind a syslog header naming its unit."""
    sent: dict[str, int] = {}
    started = time.monotonic()
    pending: list[bytes] = []
    with sender:
        for i, item in enumerate(catalogued_events(serials, threat_ratio=threat_ratio, fmt=fmt, seed=seed)):
            if (count and i >= count) or (duration and time.monotonic() - started >= duration):
                break
            pending.append(with_header(item.record, hostname=item.serial, header=header))
            sent[item.kind] = sent.get(item.kind, 0) + 1
            if record is not None:
                record.write(item.as_json() + "\n")
            ahead = (i + 1) / rate - (time.monotonic() - started) if rate else 0.0
            if len(pending) >= 256 or ahead > 0.005:
                sender.send(pending)
                pending.clear()
            if ahead > 0.005:
                time.sleep(ahead)
        sender.send(pending)
    return sent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="utm-simulator", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--serial", action="append", default=[], help="serial number of a unit (repeatable)")
    parser.add_argument(
        "--registered", action="store_true", help="every registered unit of the device registry"
    )
    parser.add_argument(
        "--mongodb-uri",
        default=os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017/?directConnection=true"),
    )
    parser.add_argument(
        "--registry-database", default=os.environ.get("DEVICE_REGISTRY_DATABASE", "device-registry")
    )
    parser.add_argument(
        "--rate", type=float, default=100.0, help="events per second (0 = as fast as possible)"
    )
    parser.add_argument("--count", type=int, default=0, help="stop after this many events (0 = no limit)")
    parser.add_argument(
        "--duration", type=float, default=0.0, help="stop after this many seconds (0 = no limit)"
    )
    parser.add_argument("--threats", type=float, default=0.05, help="share of threats among events (0..1)")
    parser.add_argument("--format", choices=FORMATS, default="mixed", help="vendor log format (mixed: all)")
    parser.add_argument(
        "--record", metavar="FILE", help="write each record sent and its intended outcome (JSON lines)"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--syslog",
        metavar="URL",
        help="send to a syslog collector instead of Kafka: udp://, tcp:// or tls://",
    )
    parser.add_argument("--framing", choices=("octet", "newline"), default="octet", help="TCP/TLS framing")
    parser.add_argument("--header", choices=("5424", "3164"), default="5424", help="syslog header RFC")
    parser.add_argument(
        "--ca", default=os.environ.get("SYSLOG_TLS_CA"), help="CA file that verifies a tls:// collector"
    )
    args = parser.parse_args(argv)
    try:
        sender = SyslogSender(args.syslog, framing=args.framing, ca_file=args.ca) if args.syslog else None
    except SyslogTargetError as exc:
        parser.error(str(exc))

    serials = list(args.serial)
    if args.registered:
        serials += asyncio.run(registered_serials(args.mongodb_uri, args.registry_database))
    if not serials:
        parser.error("give --serial or --registered (no registered unit found)")
    with contextlib.ExitStack() as files:
        record = files.enter_context(open(args.record, "w", encoding="utf-8")) if args.record else None
        if sender:
            try:
                sent = stream_syslog(
                    sender, serials, rate=args.rate, count=args.count, duration=args.duration,
                    threat_ratio=args.threats, fmt=args.format, header=args.header, seed=args.seed,
                    record=record,
                )  # fmt: skip
            except OSError as exc:  # refused, unreachable, or a TLS certificate the CA does not vouch for
                print(
                    f"utm-simulator: cannot send to the syslog collector {args.syslog}: {exc}",
                    file=sys.stderr,
                )
                return 1
        else:
            sent = asyncio.run(
                stream(
                    args.bootstrap, serials, rate=args.rate, count=args.count, duration=args.duration,
                    threat_ratio=args.threats, fmt=args.format, seed=args.seed, record=record,
                )
            )  # fmt: skip
    print(json.dumps({"units": len(serials), "sent": sent, "total": sum(sent.values())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
