"""Device names and sending hosts in MongoDB: every serial seen with one is kept, whichever instance
saw it, and a database of an earlier version (one serial per alias) is read alike."""

from collections.abc import AsyncIterator

import pytest

from alert_pipeline.ingest import UnitDirectory
from alert_pipeline.models import Unit
from alert_pipeline.repository import MongoPipelineStore
from support.servers import Servers
from support.service_api import scratch_database

pytestmark = pytest.mark.integration

FIRST = Unit("FGT60FTK2109AAAA", "U-1", "C-1", "本社", "00:09:0F:00:00:01")
SECOND = Unit("FGT60FTK2109BBBB", "U-2", "C-2", "他社", "00:09:0F:00:00:02")


@pytest.fixture
async def store(servers: Servers) -> AsyncIterator[MongoPipelineStore]:
    async with scratch_database(servers.mongodb_uri, "repository-aliases") as db:
        store = MongoPipelineStore(db)
        for unit in (FIRST, SECOND):
            await store.upsert_unit(unit)
        yield store


async def test_every_serial_seen_with_an_alias_is_kept(store: MongoPipelineStore) -> None:
    assert await store.learn_aliases({"devname:HQ": {FIRST.serial_number}}) == {
        "devname:HQ": {FIRST.serial_number}
    }
    # Another instance, which never read it, sees it with another unit; and the first one again.
    assert await store.learn_aliases({"devname:HQ": [SECOND.serial_number], "sender:10.0.0.1": ["X"]}) == {
        "devname:HQ": {FIRST.serial_number, SECOND.serial_number},
        "sender:10.0.0.1": {"X"},
    }
    await store.learn_aliases({"devname:HQ": [FIRST.serial_number]})
    assert await store.find_aliases(["devname:HQ", "devname:unknown"]) == {
        "devname:HQ": {FIRST.serial_number, SECOND.serial_number}
    }


async def test_an_alias_of_an_earlier_version_keeps_its_serial(store: MongoPipelineStore) -> None:
    await store.aliases.insert_one({"_id": "devname:HQ", "serial_number": FIRST.serial_number})
    directory = UnitDirectory(store)
    assert await directory.resolve({"devname:HQ"}) == {"devname:HQ": FIRST}

    await UnitDirectory(store).learn([(SECOND.serial_number, "HQ", "")], {SECOND.serial_number: SECOND})

    assert await store.find_aliases(["devname:HQ"]) == {
        "devname:HQ": {FIRST.serial_number, SECOND.serial_number}
    }
    assert await UnitDirectory(store).resolve({"devname:HQ"}) == {}
