"""A UTM fleet simulator: streams realistic events of given units into the raw ``utm-events`` topic.

    python -m alert_pipeline.simulator --serial FGT60FTK2109ABCD --rate 200 --duration 60
    python -m alert_pipeline.simulator --registered --rate 1000 --threats 0.05 --format mixed
    python -m alert_pipeline.simulator --serial FGT60FTK2109ABCD --syslog tcp://127.0.0.1:5514

Each unit sends benign traffic, periodic heartbeats and, at the chosen ratio, threats (web-filter
blocks, viruses, IPS, application control, botnet/C&C), either as the project's JSON ``UtmEvent``
or as FortiGate-style ``key=value`` syslog lines; into Kafka, or with ``--syslog`` to the syslog
collector (UDP, TCP or TLS, each line behind an RFC 5424 or RFC 3164 header naming the unit).

The threat mix follows what UTM threat logs look like in the field: most entries are routine and
low-severity (web-filter hits that were only logged, low-severity IPS signatures, allowed-but-logged
applications), repeated by the same few internal hosts against the same sites and signatures; only a
small share is ★★☆/★★★ (blocked categories, viruses, exploits, C&C). With the default weights about
two thirds of threats classify as ★☆☆, a fifth as ★★☆ and an eighth as ★★★; sources come from a pool of
``HOSTS_PER_UNIT`` internal addresses per unit and signatures from the small catalogues below.
"""

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone

from aiokafka import AIOKafkaProducer

from alert_pipeline.syslog_sender import HeaderFormat, SyslogSender, SyslogTargetError, with_header
from shared.topics import UTM_EVENTS

JST = timezone(timedelta(hours=9))
THREAT_KINDS = ("webfilter", "virus", "ips", "app-ctrl", "botnet")
THREAT_WEIGHTS = (40, 10, 25, 22, 3)
HOSTS_PER_UNIT = 12

_WEB = [
    ("Games", "game.example.jp", "/", "passthrough", "notice"),
    ("Streaming Media and Download", "video.example.com", "/watch", "passthrough", "notice"),
    ("Pornography", "adult.example.com", "/", "blocked", "warning"),
    ("Gambling", "casino.example.com", "/play", "blocked", "warning"),
    ("Malicious Websites", "malware.example.net", "/dl/payload.exe", "blocked", "warning"),
    ("Phishing", "login-secure.example.org", "/account/verify", "blocked", "warning"),
]
_WEB_WEIGHTS = (45, 30, 10, 9, 3, 3)
_VIRUS = [
    ("EICAR_TEST_FILE", "blocked"),
    ("W32/Emotet.C!tr", "blocked"),
    ("JS/Agent.AB!tr", "blocked"),
    ("W32/Ransom.Lockbit!tr", "passthrough"),
]
_IPS = [
    ("Apache.Log4j.Error.Log.Remote.Code.Execution", "critical", "dropped"),
    ("SSH.Connection.Brute.Force", "medium", "dropped"),
    ("HTTP.URI.SQL.Injection", "high", "dropped"),
    ("MS.SMB.Server.Trans.Peeking.Data.Information.Disclosure", "low", "detected"),
]
_IPS_WEIGHTS = (4, 14, 4, 78)
_APPS = [("BitTorrent", "P2P", "block"), ("Tor", "Proxy", "block"), ("Dropbox", "Storage.Backup", "pass")]
_APP_WEIGHTS = (8, 4, 88)
_BOTNETS = [
    ("Mirai.Botnet", "c2.mirai.example"),
    ("Zeus.Botnet", "cnc.zeus.example"),
    ("Emotet.C2", "e5.example"),
]
_SITES = ["www.example.co.jp", "mail.example.com", "cdn.example.net", "api.example.org"]


def _ip(rng: random.Random, internal: bool) -> str:
    if internal:
        # A few hosts behind each unit make most of its threat logs, again and again.
        return f"192.168.1.{10 + rng.randrange(HOSTS_PER_UNIT)}"
    return f"203.0.113.{rng.randint(1, 254)}"


def json_event(serial: str, kind: str, rng: random.Random, now: datetime) -> bytes:
    """One record in the project's JSON format."""
    record: dict[str, object] = {
        "format": "watch.utm-event",
        "version": 1,
        "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "serial_number": serial,
        "occurred_at": now.astimezone(UTC).isoformat(),
        "kind": kind,
    }
    if kind == "traffic":
        record.update(src_ip=_ip(rng, True), dst_ip=_ip(rng, False), action="accept", url=rng.choice(_SITES))
    elif kind == "webfilter":
        cat, host, path, action, level = rng.choices(_WEB, _WEB_WEIGHTS)[0]
        record.update(action=action, level=level, signature=cat, url=host + path, details={"group": cat})
    elif kind == "virus":
        name, action = rng.choice(_VIRUS)
        record.update(action=action, level="warning", signature=name, details={"group": "Virus"})
    elif kind == "ips":
        attack, severity, action = rng.choices(_IPS, _IPS_WEIGHTS)[0]
        record.update(action=action, level=severity, signature=attack)
    elif kind == "app-ctrl":
        app, cat, action = rng.choices(_APPS, _APP_WEIGHTS)[0]
        record.update(action=action, level="warning", signature=app, details={"group": cat})
    elif kind == "botnet":
        name, domain = rng.choice(_BOTNETS)
        record.update(action="blocked", level="critical", signature=name, url=domain)
    if kind not in ("traffic", "heartbeat"):
        record.update(src_ip=_ip(rng, True), dst_ip=_ip(rng, False))
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def fortigate_line(serial: str, kind: str, rng: random.Random, now: datetime) -> bytes:
    """One FortiGate-style syslog line (FortiOS log reference field names)."""
    local = now.astimezone(JST)
    head = (
        f'<189>date={local:%Y-%m-%d} time={local:%H:%M:%S} devname="{serial[:8]}" devid="{serial}" '
        f'eventtime={int(now.timestamp() * 1e9) + rng.randint(0, 999_999)} tz="+0900" vd="root" '
    )
    src, dst = _ip(rng, True), _ip(rng, False)
    port = rng.randint(1024, 65535)
    if kind == "traffic":
        body = (
            f'logid="0000000013" type="traffic" subtype="forward" level="notice" srcip={src} srcport={port} '
            f'dstip={dst} dstport=443 proto=6 action="accept" policyid=1 service="HTTPS" '
            f"sentbyte={rng.randint(100, 90000)}"
        )
    elif kind == "heartbeat":
        body = (
            'logid="0100032001" type="event" subtype="system" level="information" msg="Fortigate heartbeat"'
        )
    elif kind == "webfilter":
        cat, host, path, action, level = rng.choices(_WEB, _WEB_WEIGHTS)[0]
        body = (
            f'logid="0316013056" type="utm" subtype="webfilter" eventtype="ftgd_blk" level="{level}" '
            f'srcip={src} srcport={port} dstip={dst} dstport=80 proto=6 action="{action}" '
            f'hostname="{host}" url="{path}" catdesc="{cat}" msg="URL belongs to a denied category in policy"'
        )
    elif kind == "virus":
        name, action = rng.choice(_VIRUS)
        body = (
            f'logid="0211008192" type="utm" subtype="virus" eventtype="infected" level="warning" '
            f'srcip={dst} dstip={src} srcport=80 dstport={port} action="{action}" virus="{name}" '
            f'dtype="Virus" '
            f'filename="invoice.zip" msg="File is infected."'
        )
    elif kind == "ips":
        attack, severity, action = rng.choices(_IPS, _IPS_WEIGHTS)[0]
        body = (
            f'logid="0419016384" type="utm" subtype="ips" eventtype="signature" level="alert" '
            f'severity="{severity}" srcip={dst} dstip={src} srcport={port} dstport=443 action="{action}" '
            f'attack="{attack}" attackid={rng.randint(10000, 60000)} msg="web_server: {attack}"'
        )
    elif kind == "app-ctrl":
        app, cat, action = rng.choices(_APPS, _APP_WEIGHTS)[0]
        body = (
            f'logid="1059028704" type="utm" subtype="app-ctrl" eventtype="signature" level="warning" '
            f'srcip={src} dstip={dst} action="{action}" app="{app}" appcat="{cat}" msg="{cat}: {app},"'
        )
    else:
        name, domain = rng.choice(_BOTNETS)
        body = (
            f'logid="1501054802" type="utm" subtype="dns" eventtype="dns-response" level="warning" '
            f'srcip={src} dstip=8.8.8.8 action="block" qname="{domain}" botnetdomain="{domain}" '
            f'catdesc="Botnet" msg="Domain was blocked because it is in the botnet database"'
        )
    return (head + body).encode()


def events(
    serials: Sequence[str],
    *,
    threat_ratio: float = 0.05,
    fmt: str = "mixed",
    heartbeat_every: int = 200,
    seed: int | None = None,
) -> Iterator[tuple[str, str, bytes]]:
    """An endless stream of (serial, kind, record) in the chosen format and mix."""
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
        use_json = fmt == "json" or (fmt == "mixed" and rng.random() < 0.5)
        now = datetime.now(UTC)
        record = json_event(serial, kind, rng, now) if use_json else fortigate_line(serial, kind, rng, now)
        yield serial, kind, record


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
) -> dict[str, int]:
    """Send events at about ``rate`` per second until ``count`` or ``duration`` is reached."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    sent: dict[str, int] = {}
    started = time.monotonic()
    try:
        for i, (serial, kind, record) in enumerate(
            events(serials, threat_ratio=threat_ratio, fmt=fmt, seed=seed)
        ):
            if (count and i >= count) or (duration and time.monotonic() - started >= duration):
                break
            await producer.send(topic, record, key=serial.encode())
            sent[kind] = sent.get(kind, 0) + 1
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
) -> dict[str, int]:
    """Like ``stream``, to a syslog collector: each record behind a syslog header naming its unit."""
    sent: dict[str, int] = {}
    started = time.monotonic()
    pending: list[bytes] = []
    with sender:
        for i, (serial, kind, record) in enumerate(
            events(serials, threat_ratio=threat_ratio, fmt=fmt, seed=seed)
        ):
            if (count and i >= count) or (duration and time.monotonic() - started >= duration):
                break
            pending.append(with_header(record, hostname=serial, header=header))
            sent[kind] = sent.get(kind, 0) + 1
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
    parser.add_argument("--format", choices=("json", "fortigate", "mixed"), default="mixed")
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
    if sender:
        try:
            sent = stream_syslog(
                sender, serials, rate=args.rate, count=args.count, duration=args.duration,
                threat_ratio=args.threats, fmt=args.format, header=args.header, seed=args.seed,
            )  # fmt: skip
        except OSError as exc:  # refused, unreachable, or a TLS certificate the CA does not vouch for
            print(f"utm-simulator: cannot send to the syslog collector {args.syslog}: {exc}", file=sys.stderr)
            return 1
    else:
        sent = asyncio.run(
            stream(
                args.bootstrap, serials, rate=args.rate, count=args.count, duration=args.duration,
                threat_ratio=args.threats, fmt=args.format, seed=args.seed,
            )
        )  # fmt: skip
    print(json.dumps({"units": len(serials), "sent": sent, "total": sum(sent.values())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
