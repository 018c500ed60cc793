"""Readiness probes for the local stack: poll a server until it really answers.

An open TCP port is not enough (Kafka accepts connections before its metadata is
ready, a JVM may still be loading), so each probe makes a real protocol call.
Runs with the helper venv's python (aiokafka, pymongo), so it works before the
project's own venv exists.

    probe.py kafka 127.0.0.1:9092 [--timeout 90]
    probe.py mongo 'mongodb://127.0.0.1:27017/?directConnection=true'
    probe.py smtp 127.0.0.1 1025
    probe.py http http://127.0.0.1:8000/health/ready
    probe.py tcp 127.0.0.1 5514               (the port accepts a connection)
    probe.py tls 127.0.0.1 6514 ca.pem        (a TLS handshake verified with the CA succeeds)

Exit 0 when ready, 1 on timeout (with the last error on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import smtplib
import socket
import ssl
import sys
import time
import urllib.request
from collections.abc import Callable


def kafka_ready(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    async def check() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        await admin.start()
        try:
            cluster = await admin.describe_cluster()
            if not cluster.get("brokers"):
                raise RuntimeError("no broker registered yet")
            await admin.list_topics()
        finally:
            await admin.close()

    asyncio.run(check())


def mongo_ready(uri: str) -> None:
    from pymongo import MongoClient

    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000)
    try:
        client.admin.command("ping")
    finally:
        client.close()


def smtp_ready(host: str, port: str) -> None:
    with smtplib.SMTP(host, int(port), timeout=3) as smtp:
        code, _ = smtp.noop()
        if code != 250:
            raise RuntimeError(f"NOOP answered {code}")


def http_ready(url: str) -> None:
    with urllib.request.urlopen(url, timeout=3) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")


def tcp_ready(host: str, port: str) -> None:
    with socket.create_connection((host, int(port)), timeout=3):
        pass


def tls_ready(host: str, port: str, cafile: str) -> None:
    context = ssl.create_default_context(cafile=cafile)
    with (
        socket.create_connection((host, int(port)), timeout=3) as sock,
        context.wrap_socket(sock, server_hostname=host),
    ):
        pass


PROBES: dict[str, Callable[..., None]] = {
    "kafka": kafka_ready,
    "mongo": mongo_ready,
    "smtp": smtp_ready,
    "http": http_ready,
    "tcp": tcp_ready,
    "tls": tls_ready,
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=sorted(PROBES))
    parser.add_argument("target", nargs="+")
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()

    # aiokafka logs every refused connection at ERROR while the broker boots: noise here.
    logging.basicConfig(level=logging.CRITICAL)
    probe = PROBES[args.kind]
    deadline = time.monotonic() + args.timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            probe(*args.target)
            return 0
        except Exception as exc:  # any failure means "not ready yet"
            last_error = exc
            time.sleep(args.interval)
    print(
        f"{args.kind} {' '.join(args.target)} not ready after {args.timeout:.0f}s: {last_error!r}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
