"""Sending with retries and back-off; the outcome of every delivery is recorded."""

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import Message

from prometheus_client import CollectorRegistry

from notifier.dispatcher import Dispatcher, DispatcherStopped, NotifierMetrics, RetryPolicy
from notifier.messages import Outgoing
from notifier.senders import SendError


@dataclass
class FakeLog:
    events: list[tuple[str, dict[str, object]]] = field(default_factory=list)

    async def attempt(self, delivery_id: str, *, attempt: int, now: datetime, error: str = "") -> None:
        self.events.append(("attempt", {"attempt": attempt, "error": error}))

    async def mark_sent(self, delivery_id: str, *, attempts: int, now: datetime, message_id: str) -> None:
        self.events.append(("sent", {"attempts": attempts, "message_id": message_id}))

    async def mark_failed(self, delivery_id: str, *, attempts: int, now: datetime, error: str) -> None:
        self.events.append(("failed", {"attempts": attempts, "error": error}))

    async def release(self, delivery_ids: list[str], *, owner: str) -> None:
        self.events.append(("release", {"ids": delivery_ids}))


class FlakyMailer:
    def __init__(self, failures: list[SendError]) -> None:
        self.failures = failures
        self.sent: list[Message] = []

    async def send(self, mail: Message) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(mail)


class NoSms:
    async def send(self, *, to: str, body: str, message_id: str, now: datetime) -> None:
        raise AssertionError("no SMS expected")


def dispatcher(
    mailer: FlakyMailer, log: FakeLog, pauses: list[float], registry: CollectorRegistry, workers: int = 4
) -> Dispatcher:
    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    return Dispatcher(
        deliveries=log,
        mailer=mailer,
        sms=NoSms(),
        mail_from="Portal <noreply@watch.example.jp>",
        owner="test",
        metrics=NotifierMetrics(registry),
        retry=RetryPolicy(max_attempts=5, backoff_seconds=1.0, backoff_max_seconds=30),
        clock=lambda: datetime(2026, 11, 25, 3, 0, tzinfo=UTC),
        sleep=sleep,
        workers=workers,
    )


MESSAGE = Outgoing(
    source_key="event-1",
    channel="email",
    recipient="user@example.com",
    template="alert_detected",
    subject="脅威検出通知(Webガード) 重要度:★★☆(中)",
    body="本文",
    stored_body="本文",
)


async def test_transient_failures_are_retried_with_doubling_pauses_then_sent() -> None:
    log, registry = FakeLog(), CollectorRegistry()
    pauses: list[float] = []
    mailer = FlakyMailer([SendError("refused"), SendError("refused")])
    status = await dispatcher(mailer, log, pauses, registry).deliver(MESSAGE)
    assert status == "sent"
    assert pauses == [1.0, 2.0]
    assert len(mailer.sent) == 1
    assert mailer.sent[0]["Message-ID"] == f"<{MESSAGE.delivery_id}@watch.example.jp>"
    assert log.events[-1] == (
        "sent",
        {"attempts": 3, "message_id": f"<{MESSAGE.delivery_id}@watch.example.jp>"},
    )
    assert (
        registry.get_sample_value(
            "notifier_messages_sent_total", {"channel": "email", "template": "alert_detected"}
        )
        == 1
    )


async def test_after_the_last_try_the_delivery_is_recorded_failed_with_the_error() -> None:
    log, registry = FakeLog(), CollectorRegistry()
    pauses: list[float] = []
    mailer = FlakyMailer([SendError(f"down {i}") for i in range(5)])
    status = await dispatcher(mailer, log, pauses, registry).deliver(MESSAGE)
    assert status == "failed"
    assert pauses == [1.0, 2.0, 4.0, 8.0]
    assert log.events[-1] == ("failed", {"attempts": 5, "error": "down 4"})
    assert (
        registry.get_sample_value(
            "notifier_messages_failed_total", {"channel": "email", "template": "alert_detected"}
        )
        == 1
    )


async def test_a_relay_down_for_minutes_delays_the_mail_but_does_not_fail_it() -> None:
    log, registry = FakeLog(), CollectorRegistry()
    now = [datetime(2026, 11, 25, 3, 0, tzinfo=UTC)]
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += timedelta(seconds=seconds)

    down = [SendError("SMTP unavailable: ConnectionRefusedError", unavailable=True) for _ in range(9)]
    mailer = FlakyMailer(down)
    sender = Dispatcher(
        deliveries=log, mailer=mailer, sms=NoSms(), mail_from="Portal <noreply@watch.example.jp>",
        owner="test", metrics=NotifierMetrics(registry),
        retry=RetryPolicy(max_attempts=5, backoff_seconds=1.0, backoff_max_seconds=30, outage_seconds=600),
        clock=lambda: now[0], sleep=sleep,
    )  # fmt: skip
    assert await sender.deliver(MESSAGE) == "sent"  # 9 failed tries over about 3 minutes, then sent
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    assert log.events[-1][0] == "sent"
    assert log.events[-1][1]["attempts"] == 10


async def test_a_relay_down_beyond_the_outage_limit_fails_after_the_counted_tries() -> None:
    log, registry = FakeLog(), CollectorRegistry()
    now = [datetime(2026, 11, 25, 3, 0, tzinfo=UTC)]

    async def sleep(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)

    mailer = FlakyMailer([SendError("SMTP unavailable", unavailable=True) for _ in range(100)])
    sender = Dispatcher(
        deliveries=log, mailer=mailer, sms=NoSms(), mail_from="Portal <noreply@watch.example.jp>",
        owner="test", metrics=NotifierMetrics(registry),
        retry=RetryPolicy(max_attempts=3, backoff_seconds=1.0, backoff_max_seconds=30, outage_seconds=60),
        clock=lambda: now[0], sleep=sleep,
    )  # fmt: skip
    assert await sender.deliver(MESSAGE) == "failed"
    # Uncounted tries at 0, 1, 3, 7, 15, 31 s; counted ones from 61 s on: the 7th, 8th and 9th.
    assert log.events[-1] == ("failed", {"attempts": 9, "error": "SMTP unavailable"})


async def test_a_permanent_refusal_is_not_retried() -> None:
    log, registry = FakeLog(), CollectorRegistry()
    pauses: list[float] = []
    mailer = FlakyMailer([SendError("550 no such user", permanent=True)])
    assert await dispatcher(mailer, log, pauses, registry).deliver(MESSAGE) == "failed"
    assert pauses == []
    assert log.events == [("failed", {"attempts": 1, "error": "550 no such user"})]


class SlowMailer(FlakyMailer):
    """Accepts a mail only once ``accept`` is set: a send under way when the notifier stops."""

    def __init__(self) -> None:
        super().__init__([])
        self.accept = asyncio.Event()
        self.started = asyncio.Event()

    async def send(self, mail: Message) -> None:
        self.started.set()
        await self.accept.wait()
        await super().send(mail)


async def test_a_send_under_way_at_stop_finishes_and_is_recorded_sent_not_handed_back() -> None:
    log, registry = FakeLog(), CollectorRegistry()
    mailer = SlowMailer()
    sender = dispatcher(mailer, log, [], registry, workers=1)
    sender.start()
    waiting = replace(MESSAGE, source_key="event-2")
    under_way = await sender.submit(MESSAGE)
    queued = await sender.submit(waiting)
    await mailer.started.wait()

    stopping = asyncio.create_task(sender.stop())
    await asyncio.sleep(0)
    mailer.accept.set()
    await stopping

    assert await under_way == "sent"
    assert len(mailer.sent) == 1
    # Only the mail that had not started is handed back (and its waiter told so).
    assert ("release", {"ids": [waiting.delivery_id]}) in log.events
    assert isinstance(queued.exception(), DispatcherStopped)


async def test_queued_deliveries_are_sent_by_the_workers_and_released_at_stop() -> None:
    log, registry = FakeLog(), CollectorRegistry()
    pauses: list[float] = []
    mailer = FlakyMailer([])
    sender = dispatcher(mailer, log, pauses, registry)
    sender.start()
    done = await sender.submit(MESSAGE)
    assert await done == "sent"
    await sender.stop()
    assert ("release", {"ids": []}) in log.events


async def test_while_the_relay_is_busy_the_most_urgent_waiting_message_goes_first() -> None:
    log, registry = FakeLog(), CollectorRegistry()
    mailer = SlowMailer()
    sender = dispatcher(mailer, log, [], registry, workers=1)
    sender.start()
    waiting = [
        replace(MESSAGE, source_key="busy", subject="送信中"),
        replace(MESSAGE, source_key="follow-up", subject="続報", priority=3),
        replace(MESSAGE, source_key="medium-1", subject="★★☆ 1", priority=2),
        replace(MESSAGE, source_key="high", subject="★★★", priority=1),
        replace(MESSAGE, source_key="medium-2", subject="★★☆ 2", priority=2),
        replace(MESSAGE, source_key="code", subject="認証コード", body="123456", stored_body="******"),
    ]
    done = [await sender.submit(waiting[0])]
    await mailer.started.wait()
    done += [await sender.submit(message) for message in waiting[1:]]
    mailer.accept.set()
    assert await asyncio.gather(*done) == ["sent"] * 6
    await sender.stop()

    assert [str(mail["Subject"]) for mail in mailer.sent] == [
        "送信中", "認証コード", "★★★", "★★☆ 1", "★★☆ 2", "続報",
    ]  # fmt: skip
