"""Operator HTTP API: where each message is."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from notifier.deliveries import DeliveryRepository
from shared.auth import CurrentOperator

router = APIRouter(tags=["deliveries"])

DeliveryStatus = Literal["pending", "sending", "sent", "failed"]


class DeliveryView(BaseModel):
    """One message to one recipient, as operators see it (secrets are never stored)."""

    delivery_id: str
    event_id: str = Field(description="Event (or alert group) the message comes from.")
    channel: Literal["email", "sms"]
    template: str
    recipient: str
    company_id: str
    subject: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None = None
    created_at: datetime
    sent_at: datetime | None = None
    failed_at: datetime | None = None


def _view(doc: dict[str, Any]) -> DeliveryView:
    return DeliveryView(
        delivery_id=doc["_id"],
        event_id=doc["event_id"],
        channel=doc["channel"],
        template=doc["template"],
        recipient=doc["recipient"],
        company_id=doc.get("company_id", ""),
        subject=doc.get("subject", ""),
        status=doc["status"],
        attempts=doc.get("attempts", 0),
        last_error=doc.get("last_error"),
        created_at=doc["created_at"],
        sent_at=doc.get("sent_at"),
        failed_at=doc.get("failed_at"),
    )


@router.get("/deliveries", response_model=list[DeliveryView])
async def list_deliveries(
    request: Request,
    operator: CurrentOperator,
    status: Annotated[DeliveryStatus | None, Query(description="Only this status.")] = None,
    company_id: Annotated[str | None, Query(max_length=64, description="Only this company.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryView]:
    """Newest deliveries first (operators only)."""
    deliveries: DeliveryRepository = request.app.state.deliveries
    return [_view(doc) for doc in await deliveries.search(status=status, company_id=company_id, limit=limit)]
