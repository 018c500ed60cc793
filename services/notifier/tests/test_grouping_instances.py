"""Two notifier processes over one ``alert_groups`` collection (real MongoDB): each closing window is
reported by one of them only, and a repeat that races a closing window is mailed, never dropped."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from notifier_factories import alert
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from notifier.grouping import AlertGrouper, MongoAlertGroupStore, OpenGroup
from support.servers import Servers

pytestmark = pytest.mark.integration

WINDOW = timedelta(minutes=10)
OPENED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = OPENED) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def database(servers: Servers) -> AsyncIterator[AsyncDatabase]:
    client: AsyncMongoClient = AsyncMongoClient(servers.mongodb_uri, tz_aware=True)
    db = client[f"notifier-groups-{uuid.uuid4().hex[:8]}"]
    await MongoAlertGroupStore(db).ensure_indexes()
    try:
        yield db
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_windows_closing_at_once_are_claimed_by_one_process_each(database: AsyncDatabase) -> None:
    clock = Clock()
    one = AlertGrouper(MongoAlertGroupStore(database), window=WINDOW, clock=clock)
    two = AlertGrouper(MongoAlertGroupStore(database), window=WINDOW, clock=clock)
    batch = [alert(source=f"10.0.0.{i}") for i in range(30)]
    await one.observe_many([*batch, alert(source="10.0.0.0")])  # 30 groups, the first with a repeat
    clock.now = OPENED + WINDOW + timedelta(seconds=1)

    mine, theirs = await asyncio.gather(one.claim_due("process-1"), two.claim_due("process-2"))

    ids_one = {group.group_id for group in mine}
    ids_two = {group.group_id for group in theirs}
    assert not ids_one & ids_two
    assert len(ids_one | ids_two) == 30
    assert sum(group.repeat_count for group in [*mine, *theirs]) == 1
    assert await one.claim_due("process-1") == []
    assert await two.claim_due("process-2") == []


class RacedStore(MongoAlertGroupStore):
    """Another process claims the due groups right after this one has read them as open."""

    def __init__(self, database: AsyncDatabase, other: AlertGrouper) -> None:
        super().__init__(database)
        self.other = other
        self.claimed: list[str] = []

    async def open_groups(self, keys: list[str], *, now: datetime) -> dict[str, OpenGroup]:
        found = await super().open_groups(keys, now=now)
        if not self.claimed:
            self.claimed = [g.group_id for g in await self.other.claim_due("process-2")]
        return found


async def test_a_repeat_racing_the_claim_of_its_group_opens_a_new_group_and_is_mailed(
    database: AsyncDatabase,
) -> None:
    first_alert = alert(source="10.0.0.1")
    early = Clock()
    one = AlertGrouper(MongoAlertGroupStore(database), window=WINDOW, clock=early)
    [first] = await one.observe_many([first_alert])
    # Process 1 still sees the window open (its clock one second behind); process 2 has closed it.
    early.now = OPENED + WINDOW - timedelta(seconds=1)
    two = AlertGrouper(MongoAlertGroupStore(database), window=WINDOW, clock=Clock(OPENED + WINDOW))
    raced = RacedStore(database, two)
    late = AlertGrouper(raced, window=WINDOW, clock=early)

    [seen] = await late.observe_many([alert(source="10.0.0.1")])

    assert raced.claimed == [first.group_id]
    assert seen.first  # mailed as the first of a new group, not counted in the one being reported
    assert seen.group_id != first.group_id
    reported = await database["alert_groups"].find_one({"_id": first.group_id})
    assert reported is not None
    assert reported["status"] == "closing"
    assert reported["repeat_event_ids"] == []
    opened = await database["alert_groups"].find_one({"_id": seen.group_id})
    assert opened is not None
    assert opened["status"] == "open"


async def test_a_claim_left_by_a_dead_process_is_taken_over_after_the_timeout(
    database: AsyncDatabase,
) -> None:
    clock = Clock()
    dead = AlertGrouper(MongoAlertGroupStore(database), window=WINDOW, clock=clock)
    alive = AlertGrouper(
        MongoAlertGroupStore(database), window=WINDOW, clock=clock, claim_timeout=timedelta(minutes=2)
    )
    [seen] = await dead.observe_many([alert()])
    clock.now = OPENED + WINDOW
    assert [g.group_id for g in await dead.claim_due("dead")] == [seen.group_id]

    clock.now = OPENED + WINDOW + timedelta(minutes=1)
    assert await alive.claim_due("alive") == []
    clock.now = OPENED + WINDOW + timedelta(minutes=2, seconds=1)
    assert [g.group_id for g in await alive.claim_due("alive")] == [seen.group_id]


async def test_released_groups_are_open_again_and_claimed_later(database: AsyncDatabase) -> None:
    clock = Clock()
    grouper = AlertGrouper(MongoAlertGroupStore(database), window=WINDOW, clock=clock)
    [seen] = await grouper.observe_many([alert()])
    clock.now = OPENED + WINDOW
    [claimed] = await grouper.claim_due("process-1")
    await grouper.release([claimed.group_id], owner="process-2")  # not its claim: nothing happens
    assert await grouper.claim_due("process-2") == []

    await grouper.release([claimed.group_id], owner="process-1")

    assert [g.group_id for g in await grouper.claim_due("process-2")] == [seen.group_id]
