"""Who receives a company's alert mails: a projection of the portal users, kept from identity's events.

The notifier keeps its own copy so that alert mails still go out while identity is down.
"""

import contextlib
from datetime import datetime

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.queries import find_in


class RecipientDirectory:
    """account_id → (company, name, email), in the ``recipients`` collection."""

    def __init__(self, database: AsyncDatabase) -> None:
        self._collection = database["recipients"]

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("company_id", ASCENDING)])

    async def upsert(
        self, *, account_id: str, company_id: str, name: str, email: str, at: datetime, company_name: str = ""
    ) -> None:
        """Record the user's address as of ``at``; an older event never overwrites a newer one."""
        # A duplicate key means the stored entry is newer than this event: it stays.
        with contextlib.suppress(DuplicateKeyError):
            await self._collection.update_one(
                # Older or missing; not an ``$or``, which SecantusDB reads the whole collection for.
                {"_id": account_id, "updated_at": {"$not": {"$gte": at}}},
                {
                    "$set": {
                        "company_id": company_id,
                        "name": name,
                        "email": email,
                        "updated_at": at,
                        **({"company_name": company_name} if company_name else {}),
                    }
                },
                upsert=True,
            )

    async def emails_by_company(self, company_ids: list[str]) -> dict[str, list[str]]:
        """Distinct addresses of the portal users of each company, in one query."""
        found: dict[str, dict[str, None]] = {company_id: {} for company_id in company_ids}
        if not company_ids:
            return {}
        for doc in await find_in(
            self._collection, "company_id", company_ids, projection={"email": 1, "company_id": 1}
        ):
            if doc.get("email") and doc.get("company_id") in found:
                found[doc["company_id"]][doc["email"].strip()] = None
        return {company_id: list(emails) for company_id, emails in found.items()}

    async def people_of(self, company_ids: list[str] | None) -> list[tuple[str, str, str]]:
        """(company, name, email) of each portal user of the companies (None: all), one per address."""
        query = {"company_id": {"$in": company_ids}} if company_ids is not None else {}
        people: dict[str, tuple[str, str, str]] = {}
        async for doc in self._collection.find(query, {"email": 1, "company_id": 1, "name": 1}):
            email = (doc.get("email") or "").strip()
            if email and email.lower() not in people:
                people[email.lower()] = (doc.get("company_id", ""), doc.get("name", ""), email)
        return list(people.values())
