"""Addresses of the real Kafka, MongoDB and SMTP servers the repository's scripts started."""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRED = ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "SMTP_HOST", "SMTP_PORT", "MAILDIR")


@dataclass(frozen=True)
class Servers:
    """Where the test servers listen."""

    kafka: str
    mongodb_uri: str
    smtp_host: str
    smtp_port: int
    maildir: Path
    sms_outbox: Path

    def env(self) -> dict[str, str]:
        """The environment a service process needs to reach them."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "MONGODB_URI": self.mongodb_uri,
            "SMTP_HOST": self.smtp_host,
            "SMTP_PORT": str(self.smtp_port),
            "MAILDIR": str(self.maildir),
            "SMS_OUTBOX_DIR": str(self.sms_outbox),
        }

    @classmethod
    def from_env(cls) -> "Servers":
        """The addresses the scripts exported (a KeyError names the first one missing)."""
        maildir = Path(os.environ["MAILDIR"])
        return cls(
            kafka=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
            mongodb_uri=os.environ["MONGODB_URI"],
            smtp_host=os.environ["SMTP_HOST"],
            smtp_port=int(os.environ["SMTP_PORT"]),
            maildir=maildir,
            sms_outbox=Path(os.environ.get("SMS_OUTBOX_DIR", str(maildir.parent / "sms"))),
        )


def servers_from_env() -> Servers:
    """Read the addresses; skip (or fail under `make test`) when they are not given."""
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        message = f"real servers not configured (missing {', '.join(missing)}); run `make test`"
        if os.environ.get("WATCH_REQUIRE_SERVERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return Servers.from_env()
