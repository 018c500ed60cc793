"""Index upkeep shared by the services' stores."""

from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection


async def drop_indexes(collection: AsyncCollection[Any], names: Iterable[str]) -> None:
    """Drop those of ``names`` the collection has: indexes of an earlier version that no query needs
    any more, which every write would otherwise still pay for."""
    existing = {ix["name"] async for ix in await collection.list_indexes()}
    for name in sorted(set(names) & existing):
        await collection.drop_index(name)
