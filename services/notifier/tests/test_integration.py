"""The notifier against the real Kafka, MongoDB and SMTP server: events in, real mails and SMS out.

Each app instance runs in-process through its lifespan (consumers, background loops and all) with its
own database and consumer group; the group starts at the end of every topic, so events of other tests
are never replayed by it.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from notifier_factories import alert, confirmation, provisioned, reissued, sms_code
from pymongo import AsyncMongoClient

from notifier.main import create_app
from notifier.messages import delivery_id
from notifier.settings import Settings
from shared.auth import Principal, issue_token
from shared.events import AccountEmailChanged, AccountProvisioned, Event, NotificationRequested
from shared.settings import DEV_TOKEN_PRIVATE_KEY
from support.kafka import producer, start_group_at_end
from support.maildir import matching, wait_for_mail
from support.servers import Servers
from support.sms import wait_for_sms

pytestmark = pytest.mark.integration

T = TypeVar("T")


class Harness:
    """One isolated notifier namespace (database, consumer group, SMS folder) on the real servers."""

    def __init__(self, servers: Servers, tmp: Path) -> None:
        self.servers = servers
        self.run = uuid.uuid4().hex[:8]
        self.database = f"notifier-it-{self.run}"
        self.group = f"notifier-it-{self.run}"
        self.sms_outbox = tmp / "sms"
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_uri, tz_aware=True)
        self.producer = producer(servers.kafka)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database": self.database,
            "consumer_group": self.group,
            "smtp_host": self.servers.smtp_host,
            "smtp_port": self.servers.smtp_port,
            "sms_outbox_dir": str(self.sms_outbox),
            "alert_group_window_seconds": 3.0,
            "alert_group_check_seconds": 0.3,
            "sweep_interval_seconds": 0.5,
            "stale_sending_seconds": 5.0,
        }
        return Settings(**(values | overrides))

    @asynccontextmanager
    async def notifier(self, **overrides: Any) -> AsyncIterator[FastAPI]:
        app = create_app(self.settings(**overrides))
        async with app.router.lifespan_context(app):
            yield app

    async def publish(self, event: Event, key: str = "k") -> None:
        await self.producer.send_and_wait(event.TOPIC, event.model_dump_json().encode(), key=key.encode())

    @property
    def deliveries(self) -> Any:
        return self.mongo[self.database]["deliveries"]

    async def delivery(self, event: Event, *, status: str, within: float = 30) -> dict[str, Any]:
        """The delivery record of ``event`` once it reached ``status``."""

        async def probe() -> dict[str, Any] | None:
            return await self.deliveries.find_one({"event_id": str(event.event_id), "status": status})

        return await eventually(probe, within)


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float = 30) -> T:
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.1)


async def mail_to(servers: Servers, to: str, subject_contains: str, within: float = 30) -> Any:
    return await asyncio.to_thread(
        wait_for_mail, servers.maildir, to=to, subject_contains=subject_contains, timeout=within
    )


@pytest.fixture
async def harness(servers: Servers, tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(servers, tmp_path)
    await start_group_at_end(servers.kafka, h.group)
    await h.producer.start()
    try:
        yield h
    finally:
        await h.producer.stop()
        await h.mongo.drop_database(h.database)
        await h.mongo.close()


async def add_recipient(h: Harness, company_id: str) -> AccountProvisioned:
    """Provision a user of ``company_id`` and wait for their welcome mail (which also fills recipients)."""
    user = provisioned(company_id=company_id)
    await h.publish(user, key=company_id)
    await h.delivery(user, status="sent")
    return user


async def warm_up_alerts(h: Harness, company: str) -> None:
    """Once an alert of another kind is mailed, both consumers of the group have joined: no more rebalance."""
    warm_up = alert(company_id=company, source="10.9.9.9", signature="warm-up")
    await h.publish(warm_up, key=company)
    await h.delivery(warm_up, status="sent")


async def test_each_event_becomes_its_real_mail_or_sms(harness: Harness) -> None:
    h = harness
    async with h.notifier():
        application = confirmation()
        user = provisioned("Tmp#pw-83kd")
        reissue = reissued("Re#issued-55x")
        code = sms_code("654321")
        for event in (application, user, reissue, code):
            await h.publish(event)

        mail = await mail_to(h.servers, application.email, "お申込みのご案内")
        assert mail.subject == "お申込みのご案内(申請番号:AAP-7K2M9QXD)"
        assert "URL : https://portal.example.jp/signup/confirm/3f1c0a" in mail.text
        assert mail["From"].addresses[0].display_name == "セキュリティサービスポータル"

        welcome = await mail_to(h.servers, user.email, "仮登録完了のお知らせ")
        assert "ユーザID : u7k2m9qxd4ab" in welcome.text
        assert "仮パスワード : Tmp#pw-83kd" in welcome.text

        again = await mail_to(h.servers, reissue.email, "パスワード再発行のお知らせ")
        assert "仮パスワード : Re#issued-55x" in again.text

        sms = await asyncio.to_thread(wait_for_sms, h.sms_outbox, to=code.phone, timeout=30)
        assert sms["body"] == "セキュリティサービスポータルの認証コード：654321（5分間有効）"

        for event, secret in ((user, "Tmp#pw-83kd"), (reissue, "Re#issued-55x"), (code, "654321")):
            record = await h.delivery(event, status="sent")
            assert secret not in str(record), "a secret reached the delivery record"
        record = await h.delivery(user, status="sent")
        assert welcome["Message-ID"] == record["message_id"]


async def test_an_alert_is_mailed_to_every_user_of_the_company_and_repeats_make_one_follow_up(
    harness: Harness,
) -> None:
    h = harness
    company = f"C-{h.run}"
    async with h.notifier(alert_group_window_seconds=5.0):
        first_user = await add_recipient(h, company)
        second_user = await add_recipient(h, company)
        moved = AccountEmailChanged(
            company_id=company,
            account_id=second_user.account_id,
            name=second_user.name,
            email=f"moved-{h.run}@example.com",
        )
        await h.publish(moved, key=company)
        await asyncio.sleep(1.0)
        await warm_up_alerts(h, company)

        opening = alert(company_id=company)
        await h.publish(opening, key=company)
        for _ in range(3):
            await h.publish(alert(company_id=company), key=company)

        subject = "脅威検出通知(Webガード) 重要度:★★☆(中)"
        for address in (first_user.email, moved.email):

            async def first_mails(address: str = address) -> list[Any]:
                found = matching(h.servers.maildir, to=address, subject_contains=subject)
                return [m for m in found if m.text.startswith("UTMが") and opening.alert_id in m.text]

            [mail] = await eventually(first_mails)
            assert mail.subject == subject
            assert mail.text.startswith("UTMが有害サイトへのアクセスを検知したため通信をブロックしました。")
            assert f"アラートID : {opening.alert_id}" in mail.text
            assert "検出日時 : 2026/11/25 12:04" in mail.text

        async def follow_ups() -> list[Any]:
            return [
                m
                for m in matching(h.servers.maildir, to=first_user.email)
                if m.text.startswith("同一の脅威が")
            ]

        follow_up = await eventually(follow_ups, within=20)
        assert len(follow_up) == 1
        assert follow_up[0].text.startswith("同一の脅威が 3 件検出されました。")
        # A marker group opened after the first one: once its own follow-up is mailed, the window
        # check has gone past the first group again, and a second follow-up of it would be there.
        marker = alert(company_id=company, signature="marker", source="10.8.8.8")
        await h.publish(marker, key=company)
        await h.publish(alert(company_id=company, signature="marker", source="10.8.8.8"), key=company)

        async def marker_follow_up() -> list[Any]:
            return [m for m in await follow_ups() if marker.alert_id in m.text]

        await eventually(marker_follow_up, within=20)
        alert_mails = [
            m for m in matching(h.servers.maildir, to=first_user.email) if opening.alert_id in m.text
        ]
        assert len(alert_mails) == 2  # the first at once, then a single follow-up
        assert matching(h.servers.maildir, to=second_user.email, subject_contains="脅威検出通知") == []


async def test_many_follow_ups_at_once_are_gathered_into_one_digest(harness: Harness) -> None:
    h = harness
    company = f"C-{h.run}"
    # The window is long enough for the eight events to arrive within it on a busy machine.
    async with h.notifier(alert_group_window_seconds=10.0, alert_digest_threshold=3):
        user = await add_recipient(h, company)
        await warm_up_alerts(h, company)
        signatures = [f"burst-{i}" for i in range(4)]
        for signature in signatures:  # four different threats, each seen twice
            await h.publish(alert(company_id=company, signature=signature), key=company)
            await h.publish(alert(company_id=company, signature=signature), key=company)

        digest = await mail_to(h.servers, user.email, "【続報まとめ】", within=30)
        assert digest.subject == "【続報まとめ】脅威検出通知 4種類の脅威が計4件 再検出されました"
        assert digest.text.count("同一の脅威 1件") == 4
        follow_ups = matching(h.servers.maildir, to=user.email, subject_contains="【続報】")
        assert follow_ups == []  # gathered, not one mail per alert


async def test_redelivery_and_a_restarted_instance_never_send_twice(harness: Harness) -> None:
    h = harness
    application = confirmation()
    async with h.notifier():
        await h.publish(application)
        await h.publish(application)  # the same event again, as a redelivery would bring it
        await mail_to(h.servers, application.email, "お申込みのご案内")
        await asyncio.sleep(1.0)
    async with h.notifier():  # a second instance, same database and group
        await h.publish(application)
        marker = confirmation()
        await h.publish(marker)
        await mail_to(h.servers, marker.email, "お申込みのご案内")  # the later event got through
    assert len(matching(h.servers.maildir, to=application.email)) == 1


async def test_a_claim_left_by_a_dead_process_is_sent_by_the_next_one(harness: Harness) -> None:
    h = harness
    recipient = f"orphan-{h.run}@example.com"
    now = datetime.now(UTC)
    orphan = delivery_id(f"event-{h.run}", recipient)
    await h.deliveries.insert_one(
        {
            "_id": orphan,
            "event_id": f"event-{h.run}",
            "recipient": recipient,
            "channel": "email",
            "template": "alert_detected",
            "company_id": "C-1",
            "subject": "脅威検出通知(Webガード) 重要度:★★★(高)",
            "body": "UTMがウイルスを検知しました。\n",
            "resendable": True,
            "status": "sending",
            "owner": "a process that was killed",
            "attempts": 1,
            "created_at": now - timedelta(minutes=5),
            "claimed_at": now - timedelta(minutes=5),
        }
    )
    async with h.notifier():
        mail = await mail_to(h.servers, recipient, "脅威検出通知")
        assert mail.text == "UTMがウイルスを検知しました。\n"
        await eventually(lambda: h.deliveries.find_one({"_id": orphan, "status": "sent"}))


async def test_smtp_down_is_retried_then_recorded_failed_and_the_consumer_goes_on(harness: Harness) -> None:
    h = harness
    closed_port = 9  # discard: nobody listens there on this machine
    # No patience for the outage here: every try counts at once.
    async with h.notifier(
        smtp_port=closed_port, send_backoff_seconds=0.05, send_max_attempts=3, send_outage_seconds=0
    ) as app:
        first, second = confirmation(), confirmation()
        await h.publish(first)
        await h.publish(second)
        failed = await h.delivery(first, status="failed")
        assert failed["attempts"] == 3
        assert "SMTP unavailable" in failed["last_error"]
        await h.delivery(second, status="failed")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as client:
            metrics = (await client.get("/metrics")).text
        assert (
            'notifier_messages_failed_total{channel="email",template="application_confirmation"} 2.0'
            in metrics
        )
        assert 'notifier_send_retries_total{channel="email"} 4.0' in metrics


async def test_operators_see_deliveries_and_customers_do_not(harness: Harness) -> None:
    h = harness
    async with h.notifier() as app:
        event = NotificationRequested(
            channel="email",
            template="inquiry_received",
            recipient=f"desk-{h.run}@example.com",
            company_id=f"C-{h.run}",
            context={
                "audience": "desk",
                "name": "日電 太郎",
                "email": "taro@example.com",
                "company_name": "日本電気株式会社",
                "message": "質問です。",
            },
        )
        await h.publish(event)
        await mail_to(h.servers, event.recipient, "お問い合わせ受付")
        await h.delivery(event, status="sent")

        operator = issue_token(Principal("op-1", "", "operator"), private_key=DEV_TOKEN_PRIVATE_KEY)
        customer = issue_token(Principal("u-1", f"C-{h.run}", "customer"), private_key=DEV_TOKEN_PRIVATE_KEY)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as client:
            listed = await client.get(
                "/deliveries",
                params={"company_id": f"C-{h.run}", "status": "sent"},
                headers={"Authorization": f"Bearer {operator}"},
            )
            assert listed.status_code == 200
            [row] = listed.json()
            assert row["recipient"] == event.recipient
            assert row["status"] == "sent"
            assert "body" not in row
            bad = await client.get(
                "/deliveries", params={"status": "lost"}, headers={"Authorization": f"Bearer {operator}"}
            )
            assert bad.status_code == 422
            forbidden = await client.get("/deliveries", headers={"Authorization": f"Bearer {customer}"})
            assert forbidden.status_code == 403
            assert (await client.get("/deliveries")).status_code == 401
            metrics = (await client.get("/metrics")).text
            assert 'notifier_messages_sent_total{channel="email",template="inquiry_received"} 1.0' in metrics


async def test_a_user_provisioned_after_an_alert_still_receives_it_within_its_window(
    harness: Harness,
) -> None:
    h = harness
    company = f"C-late-{h.run}"
    async with h.notifier(alert_group_window_seconds=60.0):
        early = alert(company_id=company, signature="before-any-account")
        await h.publish(early, key=company)
        await asyncio.sleep(1.0)  # consumed while the company has no recipient yet
        user = await add_recipient(h, company)

        async def alert_mails() -> list[Any]:
            found = matching(h.servers.maildir, to=user.email, subject_contains="脅威検出通知")
            return [m for m in found if early.alert_id in m.text]

        [mail] = await eventually(alert_mails)
        assert mail.text.startswith("UTMが有害サイトへのアクセスを検知したため通信をブロックしました。")
        # Provisioning the same user again (a redelivery) does not mail the alert twice. A second
        # user provisioned after it on the same partition is the marker: once they got the alert too,
        # the redelivery before them has been handled.
        await h.publish(user, key=company)
        marker = provisioned(company_id=company)
        await h.publish(marker, key=company)

        async def marker_mails() -> list[Any]:
            found = matching(h.servers.maildir, to=marker.email, subject_contains="脅威検出通知")
            return [m for m in found if early.alert_id in m.text]

        await eventually(marker_mails)
        assert len(await alert_mails()) == 1
