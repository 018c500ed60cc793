"""Reads and writes that stay cheap on SecantusDB as collections grow: ``$in`` slice by slice, and
newest-first pages read in time windows.

SecantusDB matches ``{field: {"$in": values}}`` in time that grows with the square of the list: on
20,000 documents with an index on the field, 100 keys took 37 ms, 500 took 0.57 s and 1,000 took
1.4 s, where ten queries of 100 keys took 0.2 s (3,000 ids by ``_id``: 8 s). MongoDB is linear either
way. A list whose length follows the data (the units heard in a batch, the alerts of a selection,
the companies of a batch of events) is therefore sent in slices of ``IN_SLICE``.

SecantusDB also reads every document a filter matches before it sorts them, however few are wanted:
the newest 50 of 50,000 audit entries took 1.2 s through an index on their time, where those of the
last day took 46 ms. ``newest_first`` reads a page back from now in windows, each as long as all
those before it together, so a page of recent documents reads only recent ones.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pymongo import DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

T = TypeVar("T")
IN_SLICE = 100
# ``newest_first``: the first window back from now, and how far back windows go before the rest is
# read at once (older documents, and those without the field).
FIRST_WINDOW = timedelta(days=1)
HORIZON = timedelta(days=3660)


def slices(values: Iterable[T], size: int = IN_SLICE) -> list[list[T]]:
    """The distinct ``values``, in their first order, as lists of at most ``size``."""
    distinct = list(dict.fromkeys(values))
    return [distinct[i : i + size] for i in range(0, len(distinct), size)]


async def find_in(
    collection: AsyncCollection[Any],
    field: str,
    values: Iterable[Any],
    query: Mapping[str, Any] | None = None,
    projection: Mapping[str, Any] | None = None,
    *,
    session: AsyncClientSession | None = None,
) -> list[dict[str, Any]]:
    """The documents whose ``field`` is one of ``values`` and which match ``query``, each once.

    ``field`` leads the filter: SecantusDB plans by the first field an index starts with."""
    found: dict[Any, dict[str, Any]] = {}
    for part in slices(values):
        cursor = collection.find({field: {"$in": part}, **(query or {})}, projection, session=session)
        async for doc in cursor:
            found.setdefault(doc["_id"], doc)
    return list(found.values())


async def update_in(
    collection: AsyncCollection[Any],
    field: str,
    values: Iterable[Any],
    query: Mapping[str, Any],
    update: Mapping[str, Any],
    *,
    session: AsyncClientSession | None = None,
) -> int:
    """``update_many`` of the documents whose ``field`` is one of ``values``; how many changed."""
    modified = 0
    for part in slices(values):
        result = await collection.update_many({field: {"$in": part}, **query}, update, session=session)
        modified += result.modified_count
    return modified


async def delete_in(
    collection: AsyncCollection[Any],
    field: str,
    values: Iterable[Any],
    *,
    session: AsyncClientSession | None = None,
) -> int:
    """``delete_many`` of the documents whose ``field`` is one of ``values``; how many went."""
    deleted = 0
    for part in slices(values):
        result = await collection.delete_many({field: {"$in": part}}, session=session)
        deleted += result.deleted_count
    return deleted


async def newest_first(
    collection: AsyncCollection[Any],
    field: str,
    query: Mapping[str, Any] | None = None,
    *,
    now: datetime,
    limit: int,
    skip: int = 0,
    projection: Mapping[str, Any] | None = None,
    lead: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Documents matching ``query``, newest first by ``field``: ``limit`` of them after ``skip``.

    The windows are ``[now - 1 day, ∞)``, then each one before the last as long as all of them
    together, until enough are found; past ``HORIZON`` the rest is read in one query. ``field``
    leads each filter, except the fields of ``query`` named in ``lead`` (those an index starts with,
    followed by ``field``): SecantusDB plans by the first field an index starts with. A query with
    ``$or``, which SecantusDB answers by reading the whole collection, is sent once, sorted."""
    wanted = skip + limit
    found: list[dict[str, Any]] = []
    if limit <= 0:
        return found
    order = [(field, DESCENDING), ("_id", DESCENDING)]
    if query and "$or" in query:
        return await collection.find(query, projection).sort(order).skip(skip).limit(limit).to_list()
    lower = now - FIRST_WINDOW
    window: dict[str, Any] = {"$gte": lower}
    while True:
        filter_ = _leading(query or {}, lead, field, window)
        cursor = collection.find(filter_, projection).sort(order)
        found.extend(await cursor.limit(wanted - len(found)).to_list())
        if len(found) >= wanted or "$not" in window:
            return found[skip:wanted]
        if lower <= now - HORIZON:
            window = {"$not": {"$gte": lower}}
        else:
            upper, lower = lower, lower - (now - lower)
            window = {"$gte": lower, "$lt": upper}


def _leading(
    query: Mapping[str, Any], lead: Sequence[str], field: str, window: Mapping[str, Any]
) -> dict[str, Any]:
    first = {name: query[name] for name in lead if name in query}
    return {**first, field: window, **{k: v for k, v in query.items() if k not in first}}
