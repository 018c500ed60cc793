"""Persistence of accounts, sessions and rate-limit counters (MongoDB, and in memory for unit tests)."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from identity.models import Account, Session, provisioning_key
from shared.queries import newest_first


class DuplicateAccount(Exception):
    """An account with that user ID (or for that application user) already exists."""


class Repository(Protocol):
    """What the use cases need from storage."""

    async def insert_account(self, account: Account) -> None: ...
    async def save_account(self, account: Account) -> None: ...
    async def get_account(self, account_id: str) -> Account | None: ...
    async def account_by_login_id(self, login_id: str) -> Account | None: ...
    async def account_by_login_id_or_email(self, value: str) -> Account | None: ...
    async def account_for_application_user(self, application_number: str, email: str) -> Account | None: ...
    async def accounts_of_company(self, company_id: str) -> list[Account]: ...
    async def login_id_taken(self, login_id: str, *, except_account: str) -> bool: ...
    async def login_failures(self, login_id: str) -> tuple[int, datetime | None]: ...
    async def record_login_failure(
        self, login_id: str, *, now: datetime, wait_for: Callable[[int], timedelta]
    ) -> tuple[int, datetime | None]: ...
    async def clear_login_failures(self, login_id: str) -> None: ...
    async def insert_session(self, session: Session) -> None: ...
    async def get_session(self, session_hash: str) -> Session | None: ...
    async def save_session(self, session: Session) -> None: ...
    async def delete_session(self, session_hash: str) -> None: ...
    async def delete_sessions_of(self, account_id: str, *, keep: str | None = None) -> None: ...
    async def hit(self, key: str, *, now: datetime, window: timedelta) -> int: ...
    async def count(self, key: str, *, now: datetime, window: timedelta) -> int: ...
    async def add_audit(self, entry: dict[str, Any]) -> None: ...
    async def audit_entries(self, *, limit: int) -> list[dict[str, Any]]: ...


def _account_doc(account: Account) -> dict[str, Any]:
    doc = account.model_dump()
    doc["_id"] = doc.pop("account_id")
    doc["email_lower"] = account.email.lower()
    return doc


def _account(doc: dict[str, Any] | None) -> Account | None:
    if doc is None:
        return None
    doc = dict(doc)
    doc["account_id"] = doc.pop("_id")
    return Account.model_validate(doc)


FAILURES_KEPT = timedelta(hours=24)


def _aware(value: datetime | None) -> datetime | None:
    # MongoDB gives back naive UTC datetimes unless the client is tz-aware.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _window_key(key: str, now: datetime, window: timedelta) -> tuple[str, datetime]:
    seconds = int(window.total_seconds())
    start = int(now.timestamp()) // seconds * seconds
    return f"{key}:{start}", datetime.fromtimestamp(start + seconds, tz=now.tzinfo)


class MongoRepository:
    """Accounts, sessions and counters in the identity database."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._accounts = db["accounts"]
        self._sessions = db["sessions"]
        self._counters = db["rate_counters"]
        self._failures = db["login_failures"]
        self._audit = db["audit_log"]

    async def create_indexes(self) -> None:
        """Indexes the queries rely on; TTL indexes clean expired sessions and counters."""
        await self._accounts.create_index([("login_id", ASCENDING)], unique=True, name="login_id_unique")
        await self._accounts.create_index(
            [("provisioning_key", ASCENDING)], unique=True, name="provisioning_key_unique"
        )
        await self._accounts.create_index([("company_id", ASCENDING)], name="company")
        await self._accounts.create_index([("email_lower", ASCENDING)], name="email")
        await self._sessions.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl")
        await self._sessions.create_index([("account_id", ASCENDING)], name="account")
        await self._counters.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl")
        await self._failures.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl")
        await self._audit.create_index([("at", ASCENDING)], name="at")

    async def insert_account(self, account: Account) -> None:
        try:
            await self._accounts.insert_one(_account_doc(account))
        except DuplicateKeyError as exc:
            raise DuplicateAccount(str(exc)) from exc

    async def save_account(self, account: Account) -> None:
        try:
            await self._accounts.replace_one({"_id": account.account_id}, _account_doc(account))
        except DuplicateKeyError as exc:
            raise DuplicateAccount(str(exc)) from exc

    async def get_account(self, account_id: str) -> Account | None:
        return _account(await self._accounts.find_one({"_id": account_id}))

    async def account_by_login_id(self, login_id: str) -> Account | None:
        return _account(await self._accounts.find_one({"login_id": login_id.strip().lower()}))

    async def account_by_login_id_or_email(self, value: str) -> Account | None:
        value = value.strip().lower()
        doc = await self._accounts.find_one({"login_id": value})
        if doc is None:
            doc = await self._accounts.find_one({"email_lower": value}, sort=[("created_at", ASCENDING)])
        return _account(doc)

    async def account_for_application_user(self, application_number: str, email: str) -> Account | None:
        key = provisioning_key(application_number, email)
        return _account(await self._accounts.find_one({"provisioning_key": key}))

    async def accounts_of_company(self, company_id: str) -> list[Account]:
        cursor = self._accounts.find({"company_id": company_id}).sort("created_at", ASCENDING)
        return [a for a in [_account(doc) async for doc in cursor] if a is not None]

    async def login_id_taken(self, login_id: str, *, except_account: str) -> bool:
        doc = await self._accounts.find_one(
            {"login_id": login_id.lower(), "_id": {"$ne": except_account}}, {"_id": 1}
        )
        return doc is not None

    async def login_failures(self, login_id: str) -> tuple[int, datetime | None]:
        doc = await self._failures.find_one({"_id": login_id})
        if doc is None:
            return 0, None
        return int(doc["failures"]), _aware(doc.get("wait_until"))

    async def record_login_failure(
        self, login_id: str, *, now: datetime, wait_for: Callable[[int], timedelta]
    ) -> tuple[int, datetime | None]:
        doc = await self._failures.find_one_and_update(
            {"_id": login_id},
            {"$inc": {"failures": 1}, "$set": {"expires_at": now + FAILURES_KEPT}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        failures = int(doc["failures"]) if doc else 1
        wait = wait_for(failures)
        wait_until = now + wait if wait else None
        await self._failures.update_one({"_id": login_id}, {"$set": {"wait_until": wait_until}})
        return failures, wait_until

    async def clear_login_failures(self, login_id: str) -> None:
        await self._failures.delete_one({"_id": login_id})

    async def insert_session(self, session: Session) -> None:
        doc = session.model_dump()
        doc["_id"] = doc.pop("session_hash")
        await self._sessions.insert_one(doc)

    async def get_session(self, session_hash: str) -> Session | None:
        doc = await self._sessions.find_one({"_id": session_hash})
        if doc is None:
            return None
        doc["session_hash"] = doc.pop("_id")
        return Session.model_validate(doc)

    async def save_session(self, session: Session) -> None:
        doc = session.model_dump()
        doc["_id"] = doc.pop("session_hash")
        await self._sessions.replace_one({"_id": doc["_id"]}, doc)

    async def delete_session(self, session_hash: str) -> None:
        await self._sessions.delete_one({"_id": session_hash})

    async def delete_sessions_of(self, account_id: str, *, keep: str | None = None) -> None:
        query: dict[str, Any] = {"account_id": account_id}
        if keep is not None:
            query["_id"] = {"$ne": keep}
        await self._sessions.delete_many(query)

    async def hit(self, key: str, *, now: datetime, window: timedelta) -> int:
        window_key, expires_at = _window_key(key, now, window)
        doc = await self._counters.find_one_and_update(
            {"_id": window_key},
            {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires_at}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["count"]) if doc else 1

    async def count(self, key: str, *, now: datetime, window: timedelta) -> int:
        window_key, _ = _window_key(key, now, window)
        doc = await self._counters.find_one({"_id": window_key})
        return int(doc["count"]) if doc else 0

    async def add_audit(self, entry: dict[str, Any]) -> None:
        await self._audit.insert_one({"_id": entry["audit_id"], **entry})

    async def audit_entries(self, *, limit: int) -> list[dict[str, Any]]:
        return await newest_first(
            self._audit, "at", now=datetime.now(UTC), limit=limit, projection={"_id": 0}
        )


class InMemoryRepository:
    """The same behaviour in dictionaries, for unit tests of the use cases."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.sessions: dict[str, Session] = {}
        self.counters: dict[str, int] = {}
        self.failures: dict[str, tuple[int, datetime | None]] = {}
        self.audit: list[dict[str, Any]] = []

    def _check_unique(self, account: Account) -> None:
        for other in self.accounts.values():
            if other.account_id == account.account_id:
                continue
            if other.login_id == account.login_id or other.provisioning_key == account.provisioning_key:
                raise DuplicateAccount(account.login_id)

    async def insert_account(self, account: Account) -> None:
        if account.account_id in self.accounts:
            raise DuplicateAccount(account.account_id)
        self._check_unique(account)
        self.accounts[account.account_id] = account

    async def save_account(self, account: Account) -> None:
        self._check_unique(account)
        self.accounts[account.account_id] = account

    async def get_account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    async def account_by_login_id(self, login_id: str) -> Account | None:
        login_id = login_id.strip().lower()
        return next((a for a in self.accounts.values() if a.login_id == login_id), None)

    async def account_by_login_id_or_email(self, value: str) -> Account | None:
        value = value.strip().lower()
        return await self.account_by_login_id(value) or next(
            (a for a in self.accounts.values() if a.email.lower() == value), None
        )

    async def account_for_application_user(self, application_number: str, email: str) -> Account | None:
        key = provisioning_key(application_number, email)
        return next((a for a in self.accounts.values() if a.provisioning_key == key), None)

    async def accounts_of_company(self, company_id: str) -> list[Account]:
        return sorted(
            (a for a in self.accounts.values() if a.company_id == company_id), key=lambda a: a.created_at
        )

    async def login_id_taken(self, login_id: str, *, except_account: str) -> bool:
        return any(
            a.login_id == login_id.lower() and a.account_id != except_account for a in self.accounts.values()
        )

    async def login_failures(self, login_id: str) -> tuple[int, datetime | None]:
        return self.failures.get(login_id, (0, None))

    async def record_login_failure(
        self, login_id: str, *, now: datetime, wait_for: Callable[[int], timedelta]
    ) -> tuple[int, datetime | None]:
        failures = self.failures.get(login_id, (0, None))[0] + 1
        wait = wait_for(failures)
        self.failures[login_id] = (failures, now + wait if wait else None)
        return self.failures[login_id]

    async def clear_login_failures(self, login_id: str) -> None:
        self.failures.pop(login_id, None)

    async def insert_session(self, session: Session) -> None:
        self.sessions[session.session_hash] = session

    async def get_session(self, session_hash: str) -> Session | None:
        return self.sessions.get(session_hash)

    async def save_session(self, session: Session) -> None:
        self.sessions[session.session_hash] = session

    async def delete_session(self, session_hash: str) -> None:
        self.sessions.pop(session_hash, None)

    async def delete_sessions_of(self, account_id: str, *, keep: str | None = None) -> None:
        self.sessions = {k: s for k, s in self.sessions.items() if s.account_id != account_id or k == keep}

    async def hit(self, key: str, *, now: datetime, window: timedelta) -> int:
        window_key, _ = _window_key(key, now, window)
        self.counters[window_key] = self.counters.get(window_key, 0) + 1
        return self.counters[window_key]

    async def count(self, key: str, *, now: datetime, window: timedelta) -> int:
        return self.counters.get(_window_key(key, now, window)[0], 0)

    async def add_audit(self, entry: dict[str, Any]) -> None:
        self.audit.append(dict(entry))

    async def audit_entries(self, *, limit: int) -> list[dict[str, Any]]:
        return list(reversed(self.audit))[:limit]
