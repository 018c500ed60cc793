"""Portal load while the pipeline ingests (``make load``; not a test).

What it builds, on the servers of scripts/bench.sh (Kafka, MongoDB and SMTP of its own):

- 100 companies × 2 registered units, written into the services' own stores: the device registry's
  units, the alert pipeline's unit projection, 30 days of alerts per unit (``--alerts-per-unit-day``)
  with their tallies (as the counts' transactions keep them)
  and the report aggregates of those days exactly as ``make bench-reports`` writes them
  (benchmarks/reports_bench.py); one customer account per company for the first 50 companies in
  identity's store, each with a password and an authenticator (TOTP) secret;
- every service as a process (tests/support/processes.py starts them as the tests do);
- the UTM simulator producing ``--rate`` events/s (2,000) to utm-events for every registered unit,
  from before the users log in until they stop;
- locust, headless, with ``--users`` (50) portal users (benchmarks/locustfile.py) for ``--duration``
  seconds: login with TOTP, dashboard, alert log with filters, alert detail, threat report page.

It prints locust's table per page, what the pipeline counted while the users ran (ingest_eps), the
share of the processors each kind of process used over the middle of the run and the database's
time by collection (its ``top``): what limited it; and as the last line one JSON object: users,
requests, errors, p50_ms, p95_ms, p99_ms, rps (locust's aggregate over every request, logins
included) and ingest_eps.
"""

import argparse
import asyncio
import csv
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient, MongoClient, UpdateOne
from pymongo.errors import PyMongoError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from reports_bench import _seed as seed_report_aggregates  # noqa: E402

from alert_pipeline import tallies  # noqa: E402
from alert_pipeline.models import Alert  # noqa: E402
from alert_pipeline.monthly import month_key  # noqa: E402
from alert_pipeline.repository import MongoPipelineStore  # noqa: E402
from identity import totp  # noqa: E402
from identity.crypto import SecretBox  # noqa: E402
from identity.models import Account, TwoStep, provisioning_key  # noqa: E402
from identity.passwords import Hasher  # noqa: E402
from identity.repository import MongoRepository  # noqa: E402
from identity.settings import Settings as IdentitySettings  # noqa: E402
from shared.labels import JST, THREAT_CATEGORIES  # noqa: E402
from shared.periods import Period, jst_today, previous_month  # noqa: E402
from support.processes import Stack  # noqa: E402
from support.servers import Servers  # noqa: E402

STATE = ROOT / ".state" / "bench"
PASSWORD = "Load#test-2026"
METRIC = re.compile(r"^alert_pipeline_events_total (\S+)$", re.MULTILINE)
# (category code, severity, weight): mostly routine ★☆☆ web-filter and IPS entries, as in the field.
ALERT_MIX = (
    ("webfilter", 1, 40), ("webfilter", 2, 8), ("webfilter", 3, 2), ("ips", 1, 20), ("ips", 2, 6),
    ("ips", 3, 3), ("app-control", 1, 10), ("app-control", 2, 4), ("antivirus", 2, 4),
    ("antivirus", 3, 2), ("botnet", 3, 1),
)  # fmt: skip
CHARTS = ("daily", "categories")


def _serial(c: int, u: int) -> str:
    return f"SER-{c}-{u}"  # the serials reports_bench gives the units it writes


def _mac(c: int, u: int) -> str:
    return f"00:09:0F:AA:{c:02X}:{u:02X}"


async def _seed_registry(db: Any, companies: int, units: int, now: datetime) -> None:
    """Registered units in the device registry's ``units`` collection (the shape registration leaves)."""
    docs = [
        {
            "_id": f"U-{c}-{u}", "company_id": f"C-{c:03d}", "company_name": f"負荷試験{c:03d}株式会社",
            "application_number": f"APP-LOAD-{c:03d}", "destination_id": "D1",
            "destination_label": "東京都千代田区", "number": u + 1, "name": f"拠点{u + 1}",
            "status": "registered", "serial_number": _serial(c, u), "mac_address": _mac(c, u),
            "created_at": now - timedelta(days=90), "shipped_at": now - timedelta(days=80),
            "registered_at": now - timedelta(days=75), "online": True, "last_seen_at": now,
        }
        for c in range(companies)
        for u in range(units)
    ]  # fmt: skip
    await db["units"].insert_many(docs)


async def _seed_alerts(
    db: Any, companies: int, units: int, days: int, per_day: int, now: datetime
) -> dict[str, list[str]]:
    """``per_day`` alerts per unit and day over ``days`` days; returns some alert ids per company."""
    rng = random.Random(11)
    codes, severities, weights = zip(*((c, s, w) for c, s, w in ALERT_MIX), strict=True)
    await db["units"].bulk_write(
        [
            UpdateOne({"_id": _serial(c, u)}, {"$set": {"mac_address": _mac(c, u)}})
            for c in range(companies)
            for u in range(units)
        ]
    )
    samples: dict[str, list[str]] = {}
    store = MongoPipelineStore(db)  # as the ingest stores and counts them, with the open ★★★ ones noted
    for c in range(companies):
        company, alerts = f"C-{c:03d}", list[Alert]()
        for u in range(units):
            for day in range(days):
                for n in range(per_day):
                    i = rng.choices(range(len(codes)), weights)[0]
                    detected = now - timedelta(days=day, seconds=rng.randrange(86_400))
                    name = THREAT_CATEGORIES[codes[i]]
                    alert = Alert(
                        alert_id=f"ALT-{detected.astimezone(JST):%Y%m%d}-L{c:03d}{u}{day:02d}{n:03d}",
                        company_id=company, unit_id=f"U-{c}-{u}", unit_name=f"拠点{u + 1}",
                        serial_number=_serial(c, u), mac_address=_mac(c, u), detected_at=detected,
                        received_at=detected, category=name, category_key=codes[i], severity=severities[i],
                        summary=f"{name}で検知しました", explanation="負荷試験用のアラートです。",
                        remedy="対処は不要です。", source_event="load", source_format="json", kind=codes[i],
                        action="blocked", signature=f"load-{i}", source=f"192.168.1.{10 + n % 12}",
                        destination="203.0.113.7",
                    )  # fmt: skip
                    alerts.append(alert)
        await store.insert_alerts(alerts)
        await store.tallies.add(tallies.counted(alerts))  # as the counts' transactions tally them
        samples[company] = [a.alert_id for a in rng.sample(alerts, min(30, len(alerts)))]
    await store.tallies.declare_since(jst_today(now - timedelta(days=days)))  # every seeded alert is tallied
    return samples


async def _seed_accounts(db: Any, users: int, now: datetime) -> list[dict[str, Any]]:
    """One customer account per company (first ``users`` companies) with a TOTP second factor."""
    repo = MongoRepository(db)
    await repo.create_indexes()
    box = SecretBox(IdentitySettings().totp_keys)
    hasher = Hasher()
    accounts = []
    for c in range(users):
        account_id, application = f"A-LOAD-{c:03d}", f"APP-LOAD-{c:03d}"
        secret = totp.new_secret()
        email = f"user{c:03d}@load.example"
        await repo.insert_account(
            Account(
                account_id=account_id, company_id=f"C-{c:03d}", company_name=f"負荷試験{c:03d}株式会社",
                application_number=application, provisioning_key=provisioning_key(application, email),
                name=f"負荷 太郎{c:03d}", email=email, login_id=f"load{c:03d}",
                password_hash=await asyncio.to_thread(hasher.hash, PASSWORD), temporary=False,
                user_id_set=True, provisioning_notified=True, created_at=now, updated_at=now,
                two_step=TwoStep(method="totp", totp_secret=box.seal(secret, bound_to=account_id)),
            )
        )  # fmt: skip
        accounts.append({"login_id": f"load{c:03d}", "password": PASSWORD, "totp_secret": secret})
    return accounts


def _seeded_period(args: argparse.Namespace) -> Period:
    """The JST days the seed fills: the last ``--days`` up to today."""
    today = datetime.now(UTC).astimezone(JST).date()
    return Period(today - timedelta(days=args.days - 1), today)


async def seed(stack: Stack, args: argparse.Namespace) -> list[dict[str, Any]]:
    env = stack.base_env()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URI"], tz_aware=True)
    now = datetime.now(UTC)
    today = now.astimezone(JST).date()
    period = _seeded_period(args)
    try:
        pipeline_db = mongo[env["ALERT_PIPELINE_DATABASE"]]
        started = time.perf_counter()
        hourly, daily = await seed_report_aggregates(
            pipeline_db, period.dates(), args.companies, args.units, args.events_per_unit_day
        )
        samples = await _seed_alerts(
            pipeline_db, args.companies, args.units, args.days, args.alerts_per_unit_day, now
        )
        await _seed_registry(mongo[env["DEVICE_REGISTRY_DATABASE"]], args.companies, args.units, now)
        accounts = await _seed_accounts(mongo[env["IDENTITY_DATABASE"]], args.users, now)
        alerts = args.companies * args.units * args.days * args.alerts_per_unit_day
        print(
            f"seeded {args.companies} companies × {args.units} units: {alerts} alerts, {hourly} hourly and"
            f" {daily} daily report documents, {len(accounts)} accounts"
            f" in {time.perf_counter() - started:.0f}s",
            flush=True,
        )
    finally:
        await mongo.close()
    week_ago = (today - timedelta(days=7)).isoformat()
    for c, account in enumerate(accounts):
        company = f"C-{c:03d}"
        account.update(
            alert_ids=samples[company], unit_ids=[f"U-{c}-{u}" for u in range(args.units)],
            week_ago=week_ago, charts=CHARTS,
        )  # fmt: skip
    return accounts


async def _catch_up(database: str, companies: int, seeded: Period, within: float = 600) -> float:
    """Wait until the pipeline's start-up catch-up is over; returns how long it took.

    The seeded month is new to the pipeline: its first roll-up run rebuilds the seeded days (their
    hourly counters were just written) and, when the seeded days reach into last month, it announces
    last month's report of every company. A service in use did that work long before; the users come
    once it is done, so that they meet the steady state.
    """
    last_month = previous_month(datetime.now(UTC).astimezone(JST).date())
    reports = companies if seeded.first <= last_month.last else 0
    month = month_key(last_month)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URI"], tz_aware=True)
    started = time.perf_counter()
    try:
        db = mongo[database]
        while time.perf_counter() - started < within:
            scanned = await db["rollup_state"].find_one({"scanned_at": {"$exists": True}})
            published = await db["monthly_reports"].count_documents({"month": month, "published": True})
            if scanned is not None and published >= reports:
                return time.perf_counter() - started
            await asyncio.sleep(2)
        raise TimeoutError(f"the pipeline's start-up catch-up did not finish within {within:.0f}s")
    finally:
        await mongo.close()


def _events_counted(url: str) -> float:
    match = METRIC.search(httpx.get(f"{url}/metrics", timeout=10).text)
    return float(match.group(1)) if match else 0.0


def _row_ms(row: dict[str, str], column: str) -> float:
    value = row.get(column, "")
    return float(value) if value not in ("", "N/A") else 0.0


# What each process is, by a part of its command line (the first that matches).
PROCESS_NAMES = (
    ("secantusd", "MongoDB (SecantusDB)"), ("kafka.Kafka", "Kafka"), ("gateway.main", "gateway"),
    ("alert_pipeline.main", "alert pipeline"), ("identity.main", "identity"),
    ("device_registry.main", "device registry"), ("support_desk.main", "support"),
    ("notifier.main", "notifier"), ("alert_pipeline.simulator", "UTM simulator (the load)"),
    ("locust", "locust (the load)"), ("rsyslogd", "syslog collector"), ("aiosmtpd", "SMTP"),
)  # fmt: skip


def _processor_seconds() -> dict[tuple[int, str], float]:
    """Processor seconds (user and system) each running process has used, by (pid, what it is)."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[tuple[int, str], float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        name = next((label for part, label in PROCESS_NAMES if part in command), "other")
        used[int(entry.name), name] = (int(fields[11]) + int(fields[12])) / tick
    return used


def _processor_share(before: dict[tuple[int, str], float], seconds: float) -> list[tuple[str, float]]:
    """Per kind of process, the share of one core it used since ``before`` (largest first)."""
    share: dict[str, float] = {}
    for (pid, name), used in _processor_seconds().items():
        share[name] = share.get(name, 0.0) + (used - before.get((pid, name), 0.0)) / seconds * 100
    return sorted(share.items(), key=lambda item: -item[1])


def _database_time(uri: str) -> "Tops":
    """The database's ``top``: per collection, the time (µs) and operations so far ({} if refused)."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        totals = client.admin.command("top")["totals"]
    except PyMongoError:
        return {}
    finally:
        client.close()
    return {
        ns: (float(ops["total"]["time"]), int(ops["total"]["count"]))
        for ns, ops in totals.items()
        if isinstance(ops, dict) and isinstance(ops.get("total"), dict)
    }


Tops = dict[str, tuple[float, int]]


class Usage(threading.Thread):
    """What each kind of process and each collection used over a window of the users' run: from
    ``lead`` seconds after it starts (the logins' burst over), for ``seconds``."""

    def __init__(self, mongodb_uri: str, lead: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.uri, self.lead, self.seconds = mongodb_uri, lead, seconds
        self.processors: list[tuple[str, float]] = []
        self.before: Tops = {}
        self.after: Tops = {}
        self.elapsed = 0.0

    def run(self) -> None:
        time.sleep(self.lead)
        processors, self.before, started = _processor_seconds(), _database_time(self.uri), time.perf_counter()
        time.sleep(self.seconds)
        self.elapsed = time.perf_counter() - started
        self.processors, self.after = _processor_share(processors, self.elapsed), _database_time(self.uri)

    def print(self) -> None:
        if self.elapsed:
            print(f"over {self.elapsed:.0f} s of the users' run:")
            _print_where_the_time_went(self.processors, self.before, self.after, self.elapsed)


def _print_where_the_time_went(
    processors: list[tuple[str, float]], before: Tops, after: Tops, seconds: float
) -> None:
    print(f"processor while the users ran, % of one core ({os.cpu_count()} cores):")
    for name, pct in processors:
        if pct >= 0.5:
            print(f"  {pct:6.1f}  {name}")
    print(f"  {sum(pct for _, pct in processors):6.1f}  all")
    spent = []
    for ns, (time_us, n) in after.items():
        was_us, was_n = before.get(ns, (0.0, 0))
        if n > was_n:
            spent.append(((time_us - was_us) / 1000 / seconds, (n - was_n) / seconds, ns))
    if spent:
        print("database time by collection (ms of operations per s, as the server's top counts them):")
        for ms, ops, ns in sorted(spent, reverse=True)[:10]:
            print(f"  {ms:8.1f} ms/s {ops:7.1f} ops/s  {ns}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=int, default=120, help="seconds the portal users run")
    parser.add_argument("--rate", type=int, default=2000, help="events/s the simulator produces")
    parser.add_argument("--companies", type=int, default=100)
    parser.add_argument("--units", type=int, default=2)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--alerts-per-unit-day", type=int, default=20)
    parser.add_argument("--events-per-unit-day", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=15, help="seconds of ingest before the users start")
    parser.add_argument(
        "--spawn-rate", type=float, default=2.0, help="users starting per second (each logs in once: argon2)"
    )
    args = parser.parse_args()
    if args.users > args.companies:
        parser.error("one account per company: --users must not exceed --companies")

    run = uuid.uuid4().hex[:8]
    logs = STATE / "logs"
    servers = Servers(
        kafka=os.environ["KAFKA_BOOTSTRAP_SERVERS"], mongodb_uri=os.environ["MONGODB_URI"],
        smtp_host=os.environ.get("SMTP_HOST", "127.0.0.1"), smtp_port=int(os.environ["SMTP_PORT"]),
        maildir=Path(os.environ.get("MAILDIR", str(STATE / "mail"))),
        sms_outbox=Path(os.environ.get("SMS_OUTBOX_DIR", str(STATE / "sms"))),
    )  # fmt: skip
    stack = Stack(servers, run_id=run)
    for name in ("identity", "device-registry", "alert-pipeline", "notifier", "support", "gateway"):
        stack.add(name, LOG_LEVEL="WARNING").log_path = logs / f"load-{name}.log"
    gateway = stack.services["gateway"]
    stack.services["identity"].env["IDENTITY_PORTAL_URL"] = f"{gateway.url}/"
    gateway.env["GATEWAY_COOKIE_SECURE"] = "false"

    accounts = asyncio.run(seed(stack, args))
    users_file = STATE / f"load-users-{run}.json"
    users_file.write_text(json.dumps(accounts, ensure_ascii=False), encoding="utf-8")
    simulator: subprocess.Popen[bytes] | None = None
    csv_prefix = STATE / f"load-{run}"
    try:
        started = time.perf_counter()
        stack.start(timeout=600)  # a busy two-core machine: seven imports and index builds
        print(f"services ready in {time.perf_counter() - started:.0f}s; gateway {gateway.url}", flush=True)
        pipeline_url = stack.services["alert-pipeline"].url
        simulator = subprocess.Popen(
            [
                sys.executable, "-m", "alert_pipeline.simulator", "--registered",
                "--registry-database", stack.base_env()["DEVICE_REGISTRY_DATABASE"],
                "--bootstrap", servers.kafka, "--mongodb-uri", servers.mongodb_uri,
                "--rate", str(args.rate), "--threats", "0.05", "--format", "mixed", "--seed", "5",
                # Stopped below once the users are done; the start-up catch-up comes before them.
                "--duration", str(args.warmup + args.duration + 900),
            ],
            cwd=ROOT, stdout=(logs / "load-simulator.log").open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        database = stack.base_env()["ALERT_PIPELINE_DATABASE"]
        caught_up = asyncio.run(_catch_up(database, args.companies, _seeded_period(args)))
        print(f"start-up roll-ups and last month's reports done in {caught_up:.0f}s", flush=True)
        time.sleep(args.warmup)  # ingest reaches its steady state before the users come
        counted_before, t_before = _events_counted(pipeline_url), time.perf_counter()
        usage = Usage(servers.mongodb_uri, lead=min(20.0, args.duration / 4), seconds=args.duration / 2)
        usage.start()
        locust = subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "locust"), "-f", str(ROOT / "benchmarks" / "locustfile.py"),
                "--headless", "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
                "--run-time", f"{args.duration}s", "--host", gateway.url, "--csv", str(csv_prefix),
                "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING",
                "--exit-code-on-error", "0",
            ],
            cwd=ROOT, env={**os.environ, "LOAD_USERS_FILE": str(users_file)}, check=False,
        )  # fmt: skip
        ingest_eps = (_events_counted(pipeline_url) - counted_before) / (time.perf_counter() - t_before)
        usage.join()
    finally:
        if simulator is not None and simulator.poll() is None:
            simulator.terminate()
            simulator.wait(timeout=30)
        stack.stop()
    if locust.returncode != 0:
        print(f"locust exited with {locust.returncode}", flush=True)
        return 1

    with open(f"{csv_prefix}_stats.csv", encoding="utf-8") as stats:
        rows = list(csv.DictReader(stats))
    print(f"{'request':42} {'n':>6} {'err':>5} {'p50':>6} {'p95':>6} {'p99':>6}")
    for row in rows:
        print(
            f"{row['Name'][:42]:42} {row['Request Count']:>6} {row['Failure Count']:>5}"
            f" {row['50%']:>6} {row['95%']:>6} {row['99%']:>6}"
        )
    with open(f"{csv_prefix}_failures.csv", encoding="utf-8") as failures:
        for failure in list(csv.DictReader(failures))[:10]:
            where = f"{failure['Method']} {failure['Name']}"
            print(f"failure: {where}: {failure['Error']} ×{failure['Occurrences']}")
    print(f"pipeline counted {ingest_eps:.0f} events/s while the users ran (simulator rate {args.rate}/s)")
    usage.print()
    total = next(row for row in rows if row["Name"] == "Aggregated")
    print(
        json.dumps(
            {
                "users": args.users,
                "requests": int(total["Request Count"]),
                "errors": int(total["Failure Count"]),
                "p50_ms": _row_ms(total, "50%"),
                "p95_ms": _row_ms(total, "95%"),
                "p99_ms": _row_ms(total, "99%"),
                "rps": round(float(total["Requests/s"]), 1),
                "ingest_eps": round(ingest_eps),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
