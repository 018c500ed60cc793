"""Storage of applications and of the operator's additional questions (MongoDB, and in memory for tests)."""

import copy
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.queries import newest_first
from signup.models import (
    Answer,
    Application,
    ApplicationForm,
    ApplicationStatus,
    Company,
    Condition,
    Destination,
    Page,
    Question,
    User,
)


class DuplicateApplication(Exception):
    """An application with the same unique field (``application_number`` or ``idempotency_key``) exists."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class ApplicationRepository(Protocol):
    """Where applications are kept."""

    async def add(self, application: Application) -> None:
        """Insert; raise ``DuplicateApplication`` naming the unique field that collided."""

    async def by_idempotency_key(self, key: str) -> Application | None: ...

    async def by_number(self, number: str) -> Application | None: ...

    async def by_token_hash(self, token_hash: str) -> Application | None: ...

    async def replace_token(
        self, number: str, *, old_hash: str, token_hash: str, expires_at: datetime
    ) -> bool:
        """Give a still pending application a new token, if its token is still ``old_hash``."""

    async def mark_confirmation_published(self, number: str) -> None: ...

    async def mark_confirmation_failed(self, number: str) -> None: ...

    async def confirm(self, token_hash: str, *, now: datetime, event_id: str) -> Application | None:
        """Atomically move the pending, unexpired application of this token to confirmed.

        Returns the confirmed application, or ``None`` when no such pending application exists.
        """

    async def mark_submitted_published(self, number: str) -> None: ...

    async def unpublished_submissions(self, limit: int = 100) -> list[Application]:
        """Confirmed applications whose ``application-submitted`` event is not yet published."""

    async def page(self, *, status: ApplicationStatus | None, now: datetime, offset: int, limit: int) -> Page:
        """Newest first; ``status`` as a person sees it at ``now``."""


class QuestionRepository(Protocol):
    """Where the operator's additional questions are kept."""

    async def get(self) -> list[Question] | None:
        """The configured questions, or ``None`` if the operator never set any."""

    async def put(self, questions: list[Question]) -> None: ...


# --- documents ---------------------------------------------------------------------------------


def _to_document(application: Application) -> dict[str, Any]:
    form = application.form
    return {
        "_id": application.application_number,
        "application_number": application.application_number,
        "idempotency_key": application.idempotency_key,
        "token_hash": application.token_hash,
        "status": application.status.value,
        "created_at": application.created_at,
        "expires_at": application.expires_at,
        "confirmation_published": application.confirmation_published,
        "confirmation_failed": application.confirmation_failed,
        "confirmed_at": application.confirmed_at,
        "submitted_event_id": application.submitted_event_id,
        "submitted_published": application.submitted_published,
        "company": asdict(form.company),
        "destinations": [asdict(d) for d in form.destinations],
        "login_users": [asdict(u) for u in form.login_users],
        "answers": [asdict(a) for a in form.answers],
        "total_units": form.total_units,
    }


def _from_document(doc: dict[str, Any]) -> Application:
    form = ApplicationForm(
        company=Company(**doc["company"]),
        destinations=tuple(Destination(**d) for d in doc["destinations"]),
        login_users=tuple(User(**u) for u in doc["login_users"]),
        answers=tuple(Answer(**a) for a in doc["answers"]),
    )
    return Application(
        application_number=doc["application_number"],
        form=form,
        status=ApplicationStatus(doc["status"]),
        token_hash=doc["token_hash"],
        idempotency_key=doc["idempotency_key"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        confirmation_published=doc.get("confirmation_published", False),
        confirmation_failed=doc.get("confirmation_failed", False),
        confirmed_at=doc.get("confirmed_at"),
        submitted_event_id=doc.get("submitted_event_id"),
        submitted_published=doc.get("submitted_published", False),
    )


def _question_to_document(question: Question) -> dict[str, Any]:
    return {
        "question_id": question.question_id,
        "text": question.text,
        "kind": question.kind,
        "options": list(question.options),
        "required": question.required,
        "required_when": asdict(question.required_when) if question.required_when else None,
    }


def _question_from_document(doc: dict[str, Any]) -> Question:
    condition = doc.get("required_when")
    return Question(
        question_id=doc["question_id"],
        text=doc["text"],
        kind=doc.get("kind", "text"),
        options=tuple(doc.get("options", ())),
        required=doc.get("required", False),
        required_when=Condition(**condition) if condition else None,
    )


def _status_filter(status: ApplicationStatus | None, now: datetime) -> dict[str, Any]:
    if status is None:
        return {}
    if status == ApplicationStatus.PENDING:
        return {"status": "pending", "expires_at": {"$gt": now}}
    if status == ApplicationStatus.EXPIRED:
        return {"status": "pending", "expires_at": {"$lte": now}}
    return {"status": status.value}


# --- MongoDB -----------------------------------------------------------------------------------


class MongoApplicationRepository:
    """Applications in the ``applications`` collection."""

    def __init__(self, database: AsyncDatabase) -> None:
        self._collection = database["applications"]

    async def create_indexes(self) -> None:
        """Unique application numbers, idempotency keys and token hashes; lookups for the outbox."""
        await self._collection.create_index("application_number", unique=True, name="application_number")
        await self._collection.create_index("idempotency_key", unique=True, name="idempotency_key")
        await self._collection.create_index("token_hash", unique=True, name="token_hash")
        await self._collection.create_index(
            [("status", ASCENDING), ("submitted_published", ASCENDING)], name="outbox"
        )
        await self._collection.create_index([("created_at", DESCENDING)], name="created_at")

    async def add(self, application: Application) -> None:
        try:
            await self._collection.insert_one(_to_document(application))
        except DuplicateKeyError as exc:
            raise DuplicateApplication(_duplicate_field(exc)) from exc

    async def by_idempotency_key(self, key: str) -> Application | None:
        return await self._one({"idempotency_key": key})

    async def by_number(self, number: str) -> Application | None:
        return await self._one({"_id": number})

    async def by_token_hash(self, token_hash: str) -> Application | None:
        return await self._one({"token_hash": token_hash})

    async def replace_token(
        self, number: str, *, old_hash: str, token_hash: str, expires_at: datetime
    ) -> bool:
        result = await self._collection.update_one(
            {"_id": number, "status": "pending", "token_hash": old_hash},
            {"$set": {"token_hash": token_hash, "expires_at": expires_at}},
        )
        return result.modified_count == 1

    async def mark_confirmation_published(self, number: str) -> None:
        await self._collection.update_one(
            {"_id": number}, {"$set": {"confirmation_published": True, "confirmation_failed": False}}
        )

    async def mark_confirmation_failed(self, number: str) -> None:
        await self._collection.update_one({"_id": number}, {"$set": {"confirmation_failed": True}})

    async def confirm(self, token_hash: str, *, now: datetime, event_id: str) -> Application | None:
        doc = await self._collection.find_one_and_update(
            {"token_hash": token_hash, "status": "pending", "expires_at": {"$gt": now}},
            {
                "$set": {
                    "status": "confirmed",
                    "confirmed_at": now,
                    "submitted_event_id": event_id,
                    "submitted_published": False,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return _from_document(doc) if doc else None

    async def mark_submitted_published(self, number: str) -> None:
        await self._collection.update_one({"_id": number}, {"$set": {"submitted_published": True}})

    async def unpublished_submissions(self, limit: int = 100) -> list[Application]:
        cursor = self._collection.find({"status": "confirmed", "submitted_published": False}).limit(limit)
        return [_from_document(doc) async for doc in cursor]

    async def page(self, *, status: ApplicationStatus | None, now: datetime, offset: int, limit: int) -> Page:
        query = _status_filter(status, now)
        total = await self._collection.count_documents(query)
        docs = await newest_first(self._collection, "created_at", query, now=now, limit=limit, skip=offset)
        return Page(items=[_from_document(doc) for doc in docs], total=total)

    async def _one(self, query: dict[str, Any]) -> Application | None:
        doc = await self._collection.find_one(query)
        return _from_document(doc) if doc else None


def _duplicate_field(exc: DuplicateKeyError) -> str:
    details = exc.details or {}
    key_pattern = details.get("keyPattern") or details.get("keyValue") or {}
    if key_pattern:
        field = next(iter(key_pattern))
        return "application_number" if field == "_id" else str(field)
    message = str(exc)
    for field in ("idempotency_key", "token_hash", "application_number"):
        if field in message:
            return field
    return "application_number"


class MongoQuestionRepository:
    """The additional questions, one document in ``settings``."""

    _ID = "additional_questions"

    def __init__(self, database: AsyncDatabase) -> None:
        self._collection = database["settings"]

    async def get(self) -> list[Question] | None:
        doc = await self._collection.find_one({"_id": self._ID})
        if doc is None:
            return None
        return [_question_from_document(q) for q in doc["questions"]]

    async def put(self, questions: list[Question]) -> None:
        await self._collection.replace_one(
            {"_id": self._ID},
            {"_id": self._ID, "questions": [_question_to_document(q) for q in questions]},
            upsert=True,
        )


# --- in memory ---------------------------------------------------------------------------------


class InMemoryApplicationRepository:
    """Same behaviour as the MongoDB repository, including its unique indexes; for unit tests."""

    def __init__(self) -> None:
        self.items: dict[str, Application] = {}

    async def add(self, application: Application) -> None:
        for existing in self.items.values():
            if existing.idempotency_key == application.idempotency_key:
                raise DuplicateApplication("idempotency_key")
            if existing.token_hash == application.token_hash:
                raise DuplicateApplication("token_hash")
        if application.application_number in self.items:
            raise DuplicateApplication("application_number")
        self.items[application.application_number] = copy.deepcopy(application)

    async def by_idempotency_key(self, key: str) -> Application | None:
        return self._copy(next((a for a in self.items.values() if a.idempotency_key == key), None))

    async def by_number(self, number: str) -> Application | None:
        return self._copy(self.items.get(number))

    async def by_token_hash(self, token_hash: str) -> Application | None:
        return self._copy(next((a for a in self.items.values() if a.token_hash == token_hash), None))

    async def replace_token(
        self, number: str, *, old_hash: str, token_hash: str, expires_at: datetime
    ) -> bool:
        item = self.items[number]
        if item.status != ApplicationStatus.PENDING or item.token_hash != old_hash:
            return False
        item.token_hash, item.expires_at = token_hash, expires_at
        return True

    async def mark_confirmation_published(self, number: str) -> None:
        self.items[number].confirmation_published = True
        self.items[number].confirmation_failed = False

    async def mark_confirmation_failed(self, number: str) -> None:
        self.items[number].confirmation_failed = True

    async def confirm(self, token_hash: str, *, now: datetime, event_id: str) -> Application | None:
        for item in self.items.values():
            if (
                item.token_hash == token_hash
                and item.status == ApplicationStatus.PENDING
                and now < item.expires_at
            ):
                item.status = ApplicationStatus.CONFIRMED
                item.confirmed_at = now
                item.submitted_event_id = event_id
                item.submitted_published = False
                return self._copy(item)
        return None

    async def mark_submitted_published(self, number: str) -> None:
        self.items[number].submitted_published = True

    async def unpublished_submissions(self, limit: int = 100) -> list[Application]:
        found = [
            a
            for a in self.items.values()
            if a.status == ApplicationStatus.CONFIRMED and not a.submitted_published
        ]
        return [copy.deepcopy(a) for a in found[:limit]]

    async def page(self, *, status: ApplicationStatus | None, now: datetime, offset: int, limit: int) -> Page:
        items = sorted(self.items.values(), key=lambda a: a.created_at, reverse=True)
        if status is not None:
            items = [a for a in items if a.status_at(now) == status]
        return Page(items=[copy.deepcopy(a) for a in items[offset : offset + limit]], total=len(items))

    @staticmethod
    def _copy(application: Application | None) -> Application | None:
        return copy.deepcopy(application)


class InMemoryQuestionRepository:
    """Questions in memory; for unit tests."""

    def __init__(self) -> None:
        self.questions: list[Question] | None = None

    async def get(self) -> list[Question] | None:
        return None if self.questions is None else list(self.questions)

    async def put(self, questions: list[Question]) -> None:
        self.questions = list(questions)
