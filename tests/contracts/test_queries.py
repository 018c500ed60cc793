"""Reads and writes shaped for SecantusDB, against the real database: ``$in`` slice by slice finds
the same documents as one ``$in``, each once; a newest-first page read in time windows is the page
one sorted query gives."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.queries import IN_SLICE, delete_in, find_in, newest_first, slices, update_in
from support.servers import Servers
from support.service_api import scratch_database

pytestmark = pytest.mark.integration


def test_slices_keep_the_first_order_of_distinct_values_within_the_size() -> None:
    assert slices(["b", "a", "b", "c", "a", "d"], size=2) == [["b", "a"], ["c", "d"]]
    assert slices([]) == []
    assert [len(s) for s in slices(range(250))] == [IN_SLICE, IN_SLICE, 50]


async def test_a_long_list_finds_updates_and_deletes_what_one_in_would(servers: Servers) -> None:
    async with scratch_database(servers.mongodb_uri, "queries") as db:
        docs = [{"_id": i, "key": f"k{i % 300}", "open": i % 2 == 0} for i in range(600)]
        await db.items.insert_many(docs)
        await db.items.create_index([("key", 1), ("open", 1)])
        # 450 keys over several slices, some named twice, some matching nothing.
        keys = [f"k{i}" for i in range(0, 400)] + [f"k{i}" for i in range(0, 50)]

        found = await find_in(db.items, "key", keys, {"open": True}, {"key": 1})
        whole = await db.items.find({"key": {"$in": keys}, "open": True}, {"key": 1}).to_list()

        assert sorted(d["_id"] for d in found) == sorted(d["_id"] for d in whole)
        assert len(found) == 300  # each of k0…k299 twice, half of them open
        assert await find_in(db.items, "key", []) == []

        ids = list(range(0, 600, 3))
        assert await update_in(db.items, "_id", ids, {"open": True}, {"$set": {"seen": 1}}) == 100
        assert await db.items.count_documents({"seen": 1}) == 100
        assert await delete_in(db.items, "_id", [*ids, 9999]) == 200
        assert await db.items.count_documents({}) == 400


async def test_a_newest_first_page_read_in_windows_is_the_page_of_one_sorted_query(servers: Servers) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    ages = [-1, 0, 0, 1, 5, 30, 47, 200, 1000, 5000, 20000, 200_000]  # hours before now (-1: ahead)
    docs = [
        {"_id": i, "at": now - timedelta(hours=h), "kind": "a" if i % 3 else "b"} for i, h in enumerate(ages)
    ]
    docs += [{"_id": 100, "kind": "a"}, {"_id": 101, "at": None, "kind": "b"}]  # never dated
    async with scratch_database(servers.mongodb_uri, "queries") as db:
        await db.log.insert_many(docs)
        await db.log.create_index([("at", -1)])
        await db.log.create_index([("kind", 1), ("at", -1)])
        for query, lead in (({}, ()), ({"kind": "a"}, ("kind",)), ({"kind": "b"}, ())):
            whole = [d["_id"] for d in await db.log.find(query).sort([("at", -1), ("_id", -1)]).to_list()]
            for skip, limit in ((0, 1), (0, 3), (2, 3), (0, 10), (4, 100), (len(whole), 5)):
                page = await newest_first(db.log, "at", query, now=now, limit=limit, skip=skip, lead=lead)
                assert [d["_id"] for d in page] == whole[skip : skip + limit], (query, skip, limit)
        assert await newest_first(db.log, "at", now=now, limit=0) == []
        either = {"$or": [{"kind": "b"}, {"_id": 1}]}
        whole = [d["_id"] for d in await db.log.find(either).sort([("at", -1), ("_id", -1)]).to_list()]
        page = await newest_first(db.log, "at", either, now=now, limit=3, skip=1)
        assert [d["_id"] for d in page] == whole[1:4]
