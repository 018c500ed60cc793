"""The notifier's conditional writes in real MongoDB: who may take a delivery or an alert group over,
which address event wins, and filters that an index serves on any server (never one ``$or``, which
SecantusDB answers by reading every document of the collection: every delivery ever sent)."""

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from notifier_factories import alert
from pymongo.asynchronous.database import AsyncDatabase

from notifier.deliveries import OLD_UNIQUE_INDEX, Claim, DeliveryRepository
from notifier.grouping import OLD_GROUP_INDEXES, AlertGrouper, MongoAlertGroupStore
from notifier.messages import Outgoing
from notifier.recipients import RecipientDirectory
from support.mongo_filters import FilterLog
from support.servers import Servers
from support.service_api import scratch_database

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
STALE = timedelta(minutes=5)


@pytest.fixture
async def listened(servers: Servers) -> AsyncIterator[tuple[AsyncDatabase, FilterLog]]:
    filters = FilterLog()
    async with scratch_database(servers.mongodb_uri, "notifier-claims", listeners=[filters]) as db:
        yield db, filters


@pytest.fixture
async def deliveries(listened: tuple[AsyncDatabase, FilterLog]) -> DeliveryRepository:
    repository = DeliveryRepository(listened[0], stale_after=STALE)
    await repository.ensure_indexes()
    return repository


def message(n: int, *, secret: bool = False) -> Outgoing:
    return Outgoing(
        source_key=f"event-{n}",
        channel="email",
        recipient=f"user{n}@example.jp",
        template="alert",
        subject="件名",
        body="本文 123456" if secret else "本文",
        stored_body="本文",
        company_id="C-1",
    )


async def test_a_delivery_is_taken_over_only_when_released_or_left_stale_by_another_process(
    listened: tuple[AsyncDatabase, FilterLog], deliveries: DeliveryRepository
) -> None:
    db, filters = listened
    first, second, third = message(1), message(2), message(3)
    claimed = await deliveries.claim_many([first, second, third], owner="a", now=NOW)
    assert set(claimed.values()) == {Claim.CLAIMED}

    # Fresh claims of another process are busy; our own claim is never taken over, however old.
    assert await deliveries.claim_many([first], owner="b", now=NOW + timedelta(minutes=1)) == {
        first.delivery_id: Claim.BUSY
    }
    later = NOW + STALE + timedelta(seconds=1)
    assert await deliveries.claim_many([first], owner="a", now=later) == {first.delivery_id: Claim.BUSY}
    # Stale in another process's hands: taken over, once.
    assert await deliveries.claim_many([first], owner="b", now=later) == {first.delivery_id: Claim.CLAIMED}
    assert await deliveries.claim_many([first], owner="c", now=later) == {first.delivery_id: Claim.BUSY}
    # Released at a shutdown: pending, taken at once.
    await deliveries.release([second.delivery_id], owner="a")
    assert await deliveries.claim_many([second], owner="b", now=NOW) == {second.delivery_id: Claim.CLAIMED}
    # Sent: done for everyone.
    await deliveries.mark_sent(third.delivery_id, attempts=1, now=NOW, message_id="<m@x>")
    assert await deliveries.claim_many([third], owner="b", now=later) == {third.delivery_id: Claim.DONE}

    taken = await db["deliveries"].find_one({"_id": first.delivery_id})
    assert taken is not None
    assert (taken["owner"], taken["reclaims"]) == ("b", 1)
    assert not filters.with_or()


async def test_the_sweep_claims_pending_and_stale_resendable_deliveries_of_other_processes(
    listened: tuple[AsyncDatabase, FilterLog], deliveries: DeliveryRepository
) -> None:
    _, filters = listened
    pending, stale, ours, fresh, secret = (message(n, secret=n == 5) for n in range(1, 6))
    await deliveries.claim_many([pending, stale, secret], owner="dead", now=NOW)
    await deliveries.claim_many([ours], owner="sweeper", now=NOW)
    await deliveries.claim_many([fresh], owner="alive", now=NOW + STALE)
    await deliveries.release([pending.delivery_id], owner="dead")

    swept = await deliveries.abandoned(owner="sweeper", now=NOW + STALE + timedelta(seconds=1))

    # A message holding a secret is never sent from its record; ours and a fresh claim are kept.
    assert sorted(d["_id"] for d in swept) == sorted([pending.delivery_id, stale.delivery_id])
    # Another process sees the sweeper's own stale claim as abandoned; what was just swept is fresh.
    swept_again = await deliveries.abandoned(owner="other", now=NOW + STALE + timedelta(seconds=1))
    assert [d["_id"] for d in swept_again] == [ours.delivery_id]
    assert not filters.with_or()


async def test_the_sweep_claims_no_more_than_its_limit(deliveries: DeliveryRepository) -> None:
    messages = [message(n) for n in range(6)]
    await deliveries.claim_many(messages, owner="dead", now=NOW)
    await deliveries.release([m.delivery_id for m in messages[:3]], owner="dead")
    later = NOW + STALE + timedelta(seconds=1)

    assert len(await deliveries.abandoned(owner="sweeper", now=later, limit=2)) == 2
    assert len(await deliveries.abandoned(owner="sweeper", now=later, limit=3)) == 3
    assert len(await deliveries.abandoned(owner="sweeper", now=later, limit=3)) == 1


async def test_claiming_due_and_abandoned_groups_sends_no_or_filter_and_needs_no_index_of_its_own(
    listened: tuple[AsyncDatabase, FilterLog],
) -> None:
    db, filters = listened
    window = timedelta(minutes=10)
    clock = [NOW]
    store = MongoAlertGroupStore(db)
    # A database of an earlier version has more indexes, which every repeat rewrote: they go.
    await db["alert_groups"].create_index([("company_id", 1), ("status", 1)])
    await db["alert_groups"].create_index([("claim", 1)], sparse=True)
    await db["alert_groups"].create_index([("status", 1), ("key", 1)])
    await store.ensure_indexes()
    await store.ensure_indexes()
    assert not OLD_GROUP_INDEXES & {ix["name"] async for ix in await db["alert_groups"].list_indexes()}
    grouper = AlertGrouper(store, window=window, clock=lambda: clock[0], claim_timeout=timedelta(minutes=2))
    [dead_group] = await grouper.observe_many([alert(source="192.0.2.1")])
    clock[0] = NOW + window
    assert [g.group_id for g in await grouper.claim_due("dead")] == [dead_group.group_id]
    [due_group] = await grouper.observe_many([alert(source="192.0.2.2")])
    clock[0] = NOW + 2 * window + timedelta(minutes=3)

    claimed = await grouper.claim_due("alive")

    assert sorted(g.group_id for g in claimed) == sorted([dead_group.group_id, due_group.group_id])
    assert await grouper.claim_due("another") == []
    assert [f for collection, f in filters.sent if collection == "alert_groups"]
    assert not filters.with_or("alert_groups")


async def test_an_older_address_event_never_overwrites_a_newer_one(
    listened: tuple[AsyncDatabase, FilterLog],
) -> None:
    db, filters = listened
    recipients = RecipientDirectory(db)
    await recipients.ensure_indexes()
    entry = {"account_id": "A-1", "company_id": "C-1", "name": "山田"}
    await recipients.upsert(**entry, email="new@example.jp", at=NOW)
    await recipients.upsert(**entry, email="old@example.jp", at=NOW - timedelta(minutes=1))
    assert await recipients.emails_by_company(["C-1"]) == {"C-1": ["new@example.jp"]}

    await recipients.upsert(**entry, email="newer@example.jp", at=NOW + timedelta(minutes=1))
    assert await recipients.emails_by_company(["C-1"]) == {"C-1": ["newer@example.jp"]}
    # An entry written before ``updated_at`` was kept is overwritten by any event.
    await db["recipients"].update_one({"_id": "A-1"}, {"$unset": {"updated_at": ""}})
    await recipients.upsert(**entry, email="again@example.jp", at=NOW - timedelta(days=1))
    assert await recipients.emails_by_company(["C-1"]) == {"C-1": ["again@example.jp"]}
    assert not filters.with_or()


async def test_a_message_is_one_delivery_by_its_id_alone(listened: tuple[AsyncDatabase, FilterLog]) -> None:
    db, _ = listened
    deliveries = DeliveryRepository(db, stale_after=STALE)
    # A database of an earlier version has a unique index on (event, recipient): it goes.
    await db["deliveries"].create_index(
        [("event_id", 1), ("recipient", 1)], unique=True, name=OLD_UNIQUE_INDEX
    )
    await deliveries.ensure_indexes()
    await deliveries.ensure_indexes()
    assert OLD_UNIQUE_INDEX not in {ix["name"] async for ix in await db["deliveries"].list_indexes()}

    original = message(1)
    # The same event to the same address, however it is written, is the same delivery.
    shouted = dataclasses.replace(original, recipient=" USER1@Example.JP ")
    assert await deliveries.claim_many([original], owner="a", now=NOW) == {
        original.delivery_id: Claim.CLAIMED
    }
    assert shouted.delivery_id == original.delivery_id
    assert await deliveries.claim_many([shouted], owner="b", now=NOW) == {original.delivery_id: Claim.BUSY}
    assert await db["deliveries"].count_documents({}) == 1
