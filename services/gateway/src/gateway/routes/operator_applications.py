"""Operator pages for applications: the list with status, and everything one application holds."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from gateway.backends import BackendsDep, BackendUnavailable
from gateway.clients import signup
from gateway.clients._base import BackendRefused
from gateway.session import CurrentOperatorUser
from gateway.web import error_page, render

router = APIRouter(tags=["operator"], include_in_schema=False)

PAGE_SIZE = 50
STATUS_LABELS = {"pending": "確認待ち", "confirmed": "申込み完了", "expired": "期限切れ"}


@router.get("/operator/applications", response_class=HTMLResponse)
async def application_list(
    request: Request,
    user: CurrentOperatorUser,
    backends: BackendsDep,
    status: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    """申込み一覧: newest first, filtered by status."""
    params: dict[str, Any] = {"offset": (page - 1) * PAGE_SIZE, "limit": PAGE_SIZE}
    if status in STATUS_LABELS:
        params["status"] = status
    try:
        body = await signup.applications(backends, user, params)
    except BackendRefused:
        raise BackendUnavailable(signup.SERVICE) from None
    return render(
        request,
        "signup/operator_list.html",
        items=body.items,
        total=body.total,
        page=page,
        pages=max(1, -(-body.total // PAGE_SIZE)),
        status=status if status in STATUS_LABELS else "",
        status_labels=STATUS_LABELS,
    )


@router.get("/operator/applications/{application_number}", response_class=HTMLResponse)
async def application_detail(
    request: Request, application_number: str, user: CurrentOperatorUser, backends: BackendsDep
) -> HTMLResponse:
    """申込み詳細: what the applicant entered, and whether the contract event went out."""
    try:
        application = await signup.application(backends, user, application_number[:20])
    except BackendRefused as exc:
        if exc.not_found:
            return error_page(
                request, status_code=404, title="申込み詳細", message="申込みが見つかりません。"
            )
        raise BackendUnavailable(signup.SERVICE) from None
    return render(
        request, "signup/operator_detail.html", application=application, status_labels=STATUS_LABELS
    )
