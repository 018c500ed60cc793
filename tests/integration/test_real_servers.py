"""The real servers behave as the services rely on: Kafka across processes, unique indexes, mail."""

import asyncio
import smtplib
import subprocess
import sys
import textwrap
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy

import pytest
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from shared.events import NotificationRequested
from shared.kafka import consumer_options
from shared.settings import KafkaSettings
from support.servers import Servers

pytestmark = pytest.mark.integration

PUBLISHER = textwrap.dedent(
    """
    import asyncio, sys
    from faststream.kafka import KafkaBroker
    from shared.events import NotificationRequested
    from shared.kafka import publish

    async def main() -> None:
        broker = KafkaBroker(sys.argv[1])
        await broker.connect()
        event = NotificationRequested(channel="email", template="probe", recipient=sys.argv[2])
        await publish(broker, event, key=sys.argv[2])
        await broker.stop()
        print(event.event_id)

    asyncio.run(main())
    """
)


async def test_event_published_by_another_process_reaches_a_subscriber(servers: Servers) -> None:
    marker = f"probe-{uuid.uuid4().hex}@example.jp"
    received: asyncio.Queue[NotificationRequested] = asyncio.Queue()
    broker = KafkaBroker(servers.kafka)
    settings = KafkaSettings(bootstrap_servers=servers.kafka, session_timeout_ms=6000)
    options = consumer_options(f"contract-test-{uuid.uuid4().hex[:6]}", settings)

    @broker.subscriber(NotificationRequested.TOPIC, **options)
    async def on_notification(event: NotificationRequested) -> None:
        if event.recipient == marker:
            await received.put(event)

    async with broker:
        await broker.start()
        await asyncio.sleep(4)  # the group join completes after about half the session timeout
        published = subprocess.run(  # noqa: ASYNC221 - the other process is the point of the test
            [sys.executable, "-c", PUBLISHER, servers.kafka, marker],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        event = await asyncio.wait_for(received.get(), timeout=30)
    assert str(event.event_id) == published.stdout.strip()
    assert event.template == "probe"


async def test_unique_index_rejects_a_duplicate(servers: Servers) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(servers.mongodb_uri)
    database = client[f"contract-{uuid.uuid4().hex[:8]}"]
    try:
        await database.applications.create_index("application_number", unique=True)
        await database.applications.insert_one({"application_number": "AAP-7K2M9QXD"})
        with pytest.raises(DuplicateKeyError):
            await database.applications.insert_one({"application_number": "AAP-7K2M9QXD"})
        assert await database.applications.count_documents({}) == 1
    finally:
        await client.drop_database(database.name)
        await client.close()


def test_mail_sent_through_smtp_lands_in_the_maildir(servers: Servers) -> None:
    to = f"mail-{uuid.uuid4().hex[:8]}@example.jp"
    message = EmailMessage()
    message["From"] = "セキュリティサービスポータル <noreply@watch.example.jp>"
    message["To"] = to
    message["Subject"] = "仮登録完了のお知らせ"
    message.set_content("ご担当者様\n\nユーザID : u7k2m9qxd4ab\n")
    with smtplib.SMTP(servers.smtp_host, servers.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)

    found = []
    for path in (servers.maildir / "new").iterdir():
        parsed = BytesParser(policy=default_policy).parsebytes(path.read_bytes())
        if parsed["To"] == to:
            found.append(parsed)
    assert len(found) == 1
    assert found[0]["Subject"] == "仮登録完了のお知らせ"
    assert "u7k2m9qxd4ab" in found[0].get_content()
