"""Alert triage: 未対応 / 確認済み / 対応済み with who, when and a comment kept as history.

An alert without a ``status`` field is open (未対応). Every change appends to ``status_history``;
another company's alert answers exactly like an unknown one.
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field, StringConstraints

from alert_pipeline.repository import SERIOUS_SEVERITY, UNRESOLVED, MongoPipelineStore
from shared.auth import CurrentOperator, CurrentPrincipal, Principal
from shared.labels import TRIAGE_STATUSES

router = APIRouter(tags=["triage"])
MAX_BULK = 200
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class StatusChange(BaseModel):
    """A new status for one alert."""

    status: str = Field(examples=["acknowledged"], description="open, acknowledged or resolved.")
    comment: Comment = ""


class BulkAcknowledge(BaseModel):
    """Several alerts to mark 確認済み at once."""

    alert_ids: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        min_length=1, max_length=MAX_BULK
    )
    comment: Comment = ""


def _store(request: Request) -> MongoPipelineStore:
    store: MongoPipelineStore = request.app.state.pipeline_store
    return store


def history_entry(principal: Principal, new_status: str, comment: str, at: datetime) -> dict[str, Any]:
    return {
        "status": new_status,
        "by": principal.account_id,
        "by_name": principal.name or principal.email,
        "at": at,
        "comment": comment,
    }


async def _owned(request: Request, company_id: str) -> dict[str, Any]:
    unit_ids = await _store(request).company_unit_ids(company_id)
    return {"company_id": company_id, "unit_id": {"$in": unit_ids}}


@router.post("/alerts/{alert_id}/status")
async def change_status(
    request: Request, principal: CurrentPrincipal, alert_id: str, change: StatusChange
) -> dict[str, Any]:
    """Set one alert's status (and keep the change in its history)."""
    if change.status not in TRIAGE_STATUSES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "対応状況の指定が正しくありません。")
    entry = history_entry(principal, change.status, change.comment, datetime.now(UTC))
    store = _store(request)
    changed = await store.set_status(
        await _owned(request, principal.company_id), alert_id, change.status, entry
    )
    if changed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "アラートが見つかりません。")
    if changed.get("severity") == SERIOUS_SEVERITY and change.status in UNRESOLVED:
        # Open again: the operator's counts must see it (resolved ones are dropped as they are found).
        await store.note_serious([changed])
    return {"alert_id": alert_id, "status": change.status, "status_label": TRIAGE_STATUSES[change.status]}


@router.post("/alerts/acknowledge")
async def acknowledge(request: Request, principal: CurrentPrincipal, body: BulkAcknowledge) -> dict[str, int]:
    """Mark the company's open alerts among ``alert_ids`` 確認済み; others' ids are ignored."""
    entry = history_entry(principal, "acknowledged", body.comment, datetime.now(UTC))
    query = {"_id": {"$in": body.alert_ids}, **await _owned(request, principal.company_id)}
    return {"updated": await _store(request).acknowledge(query, entry)}


async def create_indexes(store: MongoPipelineStore) -> None:
    """Nothing of its own any more: the ★★★ alerts not known to be resolved are a small collection
    of the store (``MongoPipelineStore.open_serious``), kept without an index on ``alerts``."""


@router.get("/operator/alerts/open-serious-counts")
async def open_serious_counts(request: Request, operator: CurrentOperator) -> dict[str, int]:
    """Operator: per company id, its ★★★ alerts not yet resolved (未対応 or 確認済み); companies
    without one are left out.

    The candidates are the store's small collection of ★★★ alerts not known to be resolved; each is
    checked against its alert (by id), and those found resolved are forgotten."""
    store = _store(request)
    ids = await store.open_serious_ids()
    unresolved = await store.unresolved_serious(ids)
    found = {d["_id"] for d in unresolved}
    unresolved += await store.forget_serious([i for i in ids if i not in found])
    counts: dict[str, int] = {}
    for doc in {d["_id"]: d for d in unresolved}.values():
        counts[str(doc["company_id"])] = counts.get(str(doc["company_id"]), 0) + 1
    return counts
