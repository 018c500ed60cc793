"""Sending claimed deliveries concurrently, with retries and back-off, recording each outcome.

Handlers claim a delivery in MongoDB first, then hand it here. A few workers, one per warm SMTP
connection, send in parallel so that a slow or failing message never holds up an alert behind it.
When messages come faster than the relay takes them, they wait in a queue by priority
(``Outgoing.priority``; a message with a secret first): the first mail of a ★★★ alert is not
held up behind a burst of ★★☆ mails.
"""

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram

from notifier.messages import PRIORITY_WAITED, Outgoing
from notifier.senders import MailSender, SendError, SmsSender, build_email, message_id_for
from shared.events import utc_now

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


class DeliveryLog(Protocol):
    """Where the dispatcher records each try and outcome (MongoDB in service, a fake in tests)."""

    async def attempt(self, delivery_id: str, *, attempt: int, now: datetime, error: str = "") -> None: ...
    async def mark_sent(self, delivery_id: str, *, attempts: int, now: datetime, message_id: str) -> None: ...
    async def mark_failed(self, delivery_id: str, *, attempts: int, now: datetime, error: str) -> None: ...
    async def release(self, delivery_ids: list[str], *, owner: str) -> None: ...


class DispatcherStopped(RuntimeError):
    """The service is shutting down; the delivery was handed back unsent."""


class NotifierMetrics:
    """Prometheus counters of the notifier."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "notifier_messages_sent_total",
            "Messages accepted by SMTP or the SMS backend",
            ["channel", "template"],
            registry=registry,
        )
        self.failed = Counter(
            "notifier_messages_failed_total",
            "Messages given up after retries",
            ["channel", "template"],
            registry=registry,
        )
        self.retries = Counter(
            "notifier_send_retries_total",
            "Send attempts that failed and were retried",
            ["channel"],
            registry=registry,
        )
        self.latency = Histogram(
            "notifier_event_to_send_seconds",
            "From the event's occurred_at to acceptance by SMTP/SMS",
            ["template"],
            registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )


@dataclass
class RetryPolicy:
    """How often and how patiently a send is retried."""

    max_attempts: int = 5
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 30.0
    # While the relay cannot be reached at all, tries are not counted against ``max_attempts`` for this
    # long after the first one: a mail relay down for minutes delays the mails, it does not fail them.
    outage_seconds: float = 3600.0

    def pause(self, attempt: int) -> float:
        """Pause after failed try number ``attempt`` (1-based): 1 s, 2 s, 4 s, …"""
        return float(min(self.backoff_seconds * 2 ** (attempt - 1), self.backoff_max_seconds))


@dataclass
class _Job:
    message: Outgoing
    done: asyncio.Future[str]


class Dispatcher:
    """Workers that send claimed deliveries and record ``sent`` or ``failed``."""

    def __init__(
        self,
        *,
        deliveries: DeliveryLog,
        mailer: MailSender,
        sms: SmsSender,
        mail_from: str,
        owner: str,
        metrics: NotifierMetrics,
        retry: RetryPolicy,
        workers: int = 4,
        queue_size: int = 10_000,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._deliveries = deliveries
        self._mailer = mailer
        self._sms = sms
        self._mail_from = mail_from
        self._owner = owner
        self._metrics = metrics
        self._retry = retry
        self._worker_count = workers
        # (priority, order of arrival, job): the most urgent first, first come first within one.
        self._queue: asyncio.PriorityQueue[tuple[int, int, _Job]] = asyncio.PriorityQueue(queue_size)
        self._arrivals = itertools.count()
        self._held: dict[str, _Job] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[Any]] = set()
        self._stopped = False
        self._clock = clock
        self._sleep = sleep

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"notifier-sender-{i}") for i in range(self._worker_count)
        ]

    async def stop(self, grace: float = 10.0) -> None:
        """Stop sending; claims not yet sent are handed back for the next process.

        Sends under way get ``grace`` seconds to finish: a mail the relay has taken is recorded sent,
        not handed back (the next process would send it again)."""
        self._stopped = True
        for task in self._workers:
            if task not in self._busy:
                task.cancel()
        busy = [task for task in self._workers if task in self._busy]
        if busy:
            await asyncio.wait(busy, timeout=grace)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        jobs = list(self._held.values())
        while not self._queue.empty():
            jobs.append(self._queue.get_nowait()[2])
        with contextlib.suppress(Exception):
            await self._deliveries.release([job.message.delivery_id for job in jobs], owner=self._owner)
        for job in jobs:
            if not job.done.done():
                job.done.set_exception(DispatcherStopped("the notifier is stopping"))

    async def submit(self, message: Outgoing) -> asyncio.Future[str]:
        """Queue a claimed delivery; the future gives ``sent`` or ``failed``."""
        if self._stopped:
            raise DispatcherStopped("the notifier is stopping")
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_consume_exception)
        priority = PRIORITY_WAITED if message.has_secret else message.priority
        await self._queue.put((priority, next(self._arrivals), _Job(message, done)))
        return done

    async def _work(self) -> None:
        worker = asyncio.current_task()
        assert worker is not None
        while not self._stopped:
            _, _, job = await self._queue.get()
            self._busy.add(worker)
            self._held[job.message.delivery_id] = job
            try:
                status = await self.deliver(job.message)
            except Exception as exc:
                log.exception(
                    "delivery could not be recorded", extra={"delivery_id": job.message.delivery_id}
                )
                if not job.done.done():
                    job.done.set_exception(exc)
            else:
                if not job.done.done():
                    job.done.set_result(status)
            finally:
                self._held.pop(job.message.delivery_id, None)
                self._busy.discard(worker)

    async def deliver(self, message: Outgoing) -> str:
        """Send a claimed delivery with retries; record and return its final status."""
        error = ""
        attempt = counted = 0
        first_try = self._clock()
        while counted < self._retry.max_attempts:
            attempt += 1
            if attempt > 1:
                await self._deliveries.attempt(
                    message.delivery_id, attempt=attempt, now=self._clock(), error=error
                )
            try:
                message_id = await self._send(message)
            except SendError as exc:
                error = str(exc)
                log.warning(
                    "send failed",
                    extra={
                        "delivery_id": message.delivery_id,
                        "channel": message.channel,
                        "attempt": attempt,
                        "error": error,
                        "permanent": exc.permanent,
                    },
                )
                waited = (self._clock() - first_try).total_seconds()
                if not (exc.unavailable and waited < self._retry.outage_seconds):
                    counted += 1
                if exc.permanent or counted >= self._retry.max_attempts:
                    break
                self._metrics.retries.labels(message.channel).inc()
                await self._sleep(self._retry.pause(attempt))
                continue
            now = self._clock()
            await self._deliveries.mark_sent(
                message.delivery_id, attempts=attempt, now=now, message_id=message_id
            )
            self._metrics.sent.labels(message.channel, message.template).inc()
            if message.event_time is not None:
                self._metrics.latency.labels(message.template).observe(
                    max(0.0, (now - message.event_time).total_seconds())
                )
            log.info(
                "message sent",
                extra={"delivery_id": message.delivery_id, "template": message.template, "attempt": attempt},
            )
            return "sent"
        await self._deliveries.mark_failed(
            message.delivery_id, attempts=attempt, now=self._clock(), error=error
        )
        self._metrics.failed.labels(message.channel, message.template).inc()
        log.error(
            "message given up", extra={"delivery_id": message.delivery_id, "template": message.template}
        )
        return "failed"

    async def _send(self, message: Outgoing) -> str:
        message_id = message_id_for(message.delivery_id, self._mail_from)
        if message.channel == "sms":
            await self._sms.send(
                to=message.recipient, body=message.body, message_id=message.delivery_id, now=self._clock()
            )
        else:
            await self._mailer.send(build_email(message, mail_from=self._mail_from, now=self._clock()))
        return message_id


def _consume_exception(future: asyncio.Future[str]) -> None:
    # Background deliveries are not awaited; their failures are logged by the worker already.
    if not future.cancelled():
        future.exception()
