"""Which alerts' ``alert-detected`` the topic already holds, read back before announcing them again.

A batch publishes the ``alert-detected`` of its new important alerts, then records them in
``announced_alerts``. Between the two, an alert is announced but not known to be: a process killed
there has its batch redelivered, which finds the alert stored and unrecorded; so does a later batch
of this process holding the same source event (a line sent twice) while the first batch is still
recording. Such candidates are rare (after a crash, a rebalance or a repeated line), so before
announcing them the pipeline reads its own output back: the partitions of ``alert-detected`` that
hold the candidates' companies, from a little before the earliest candidate was first stored up to
the end they had when the read began. An alert found there is recorded as announced instead of
being announced again.

Each candidate's announcement, if any, was published after the alert was stored (``received_at``),
by the process that stored it, with that process's clock as its timestamp; ``margin`` covers a clock
stepped back in between. Only the last ``horizon`` is read: a candidate stored earlier and not found
is announced (its redelivery cannot be that old unless the pipeline was down that long).

What remains at least once: a process that lost its partitions while still working (stalled past
the session timeout) may publish after the new owner read the topic back. Consumers key what they do
by the event id, which a repeat keeps (the notifier mails once).
"""

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from alert_pipeline.lag import partitions_of
from alert_pipeline.models import Alert
from shared import topics

log = logging.getLogger(__name__)

MARGIN = timedelta(seconds=30)
HORIZON = timedelta(hours=1)
# The read is abandoned (and the batch retried) past this: the broker is unreachable.
TIMEOUT_SECONDS = 60.0
PARTITIONER = DefaultPartitioner()


class AnnouncementReadBack:
    """Reads ``alert-detected`` back for the alerts a batch would announce a second time."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic: str = topics.ALERT_DETECTED,
        margin: timedelta = MARGIN,
        horizon: timedelta = HORIZON,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.margin = margin
        self.horizon = horizon
        self.timeout_seconds = timeout_seconds
        self.reads = 0  # read-backs made (a figure for tests and logs)

    async def announced(self, alerts: Sequence[Alert]) -> set[str]:
        """The ids among ``alerts`` whose ``alert-detected`` the topic holds."""
        if not alerts:
            return set()
        wanted = {a.alert_id for a in alerts}
        keys = {a.company_id.encode() for a in alerts}
        oldest = min(a.received_at for a in alerts)
        since = max(oldest - self.margin, datetime.now(UTC) - self.horizon)
        self.reads += 1
        started = time.monotonic()
        found = await asyncio.wait_for(self._read(wanted, keys, since), self.timeout_seconds)
        # Found ones were announced by a batch that did not record so (a crash, most likely).
        (log.warning if found else log.info)(
            "alert-detected read back before announcing again",
            extra={
                "candidates": len(wanted),
                "already_announced": len(found),
                "since": since.isoformat(),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return found

    async def _read(self, wanted: set[str], keys: set[bytes], since: datetime) -> set[str]:
        """The partitions of the candidates' companies from ``since`` to their end when the read
        began; only the records keyed by one of those companies are decoded. The pipeline keys
        ``alert-detected`` by company, placed by the client's default partitioner (murmur2, as Java's
        client): should the topic get more partitions, an earlier announcement may be missed, and
        the alert announced again (the at-least-once fallback)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            client_id="alert-pipeline-readback",
            group_id=None,
            enable_auto_commit=False,
            # Assigned, it fetches at once from the end, where the broker holds the fetch this long
            # before the seek to ``since`` is read: short, so that the read does not wait for it.
            fetch_max_wait_ms=20,
        )
        try:
            await admin.start()
            every = await partitions_of(admin, self.topic)
            if not every:
                return set()
            numbers = [tp.partition for tp in every]
            tps = sorted({TopicPartition(self.topic, PARTITIONER(key, numbers, numbers)) for key in keys})
            await consumer.start()
            consumer.assign(tps)
            starts = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
            ends = await consumer.end_offsets(tps)
            pending: dict[TopicPartition, int] = {}
            for tp in tps:
                start = starts.get(tp)
                if start is not None and start.offset < ends[tp]:
                    consumer.seek(tp, start.offset)
                    pending[tp] = ends[tp]
            found: set[str] = set()
            while pending:
                batches = await consumer.getmany(*pending, timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset < pending.get(tp, 0) and record.key in keys:
                            alert_id = _alert_id(record.value)
                            if alert_id in wanted:
                                found.add(alert_id)
                for tp in list(pending):
                    if await consumer.position(tp) >= pending[tp]:
                        del pending[tp]
            return found
        finally:
            await asyncio.gather(admin.close(), consumer.stop(), return_exceptions=True)


def _alert_id(value: bytes | None) -> str:
    """The alert id an ``alert-detected`` record names ("" for a record that is not one: not JSON,
    nested past the parser's depth, or without the field)."""
    try:
        body = json.loads(value or b"")
    except (ValueError, RecursionError):
        return ""
    alert_id = body.get("alert_id") if isinstance(body, dict) else None
    return alert_id if isinstance(alert_id, str) else ""
