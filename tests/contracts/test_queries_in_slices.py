"""Reads and writes by a long list of values, ``$in`` slice by slice, against the real database: the
same documents as one ``$in``, each once, and only within the other conditions."""

import pytest

from shared.queries import IN_SLICE, delete_in, find_in, slices, update_in
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
