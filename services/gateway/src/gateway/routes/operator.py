"""Operator pages for UTM shipments: pick a company's expected unit, record serial, MAC and code."""

import contextlib
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.backends import BackendsDep, BackendUnavailable
from gateway.clients import device_registry, support
from gateway.clients._base import BackendRefused
from gateway.csrf import CsrfProtected
from gateway.session import CurrentOperatorUser
from gateway.web import error_page, render

router = APIRouter(tags=["operator"], include_in_schema=False)
STATUS_LABELS = {"expected": "出荷待ち", "shipped": "出荷済み(未登録)", "registered": "登録済み"}


async def _units(
    request: Request, backends: Any, user: Any, company_id: str, status: str
) -> list[device_registry.Unit] | None:
    try:
        units = await device_registry.operator_units(backends, user, company_id=company_id, status=status)
    except BackendRefused:
        return None
    return units


@router.get("/operator/shipments", response_class=HTMLResponse)
async def shipments(
    request: Request,
    user: CurrentOperatorUser,
    backends: BackendsDep,
    company_id: Annotated[str, Query(max_length=40)] = "",
    status: Annotated[str, Query(max_length=20)] = "expected",
) -> Response:
    """UTM出荷登録: the units waiting for shipment (or all), each with a form to record it."""
    status = status if status in STATUS_LABELS or status == "" else "expected"
    units = await _units(request, backends, user, company_id, status)
    if units is None:
        return error_page(
            request, status_code=502, title="UTM出荷登録", message="UTMの情報を取得できませんでした。"
        )
    return render(
        request, "operator/shipments.html", units=units, company_id=company_id, status=status,
        statuses=STATUS_LABELS, saved=request.query_params.get("saved"), error=None, form={},
    )  # fmt: skip


@router.post("/operator/shipments/{unit_id}", response_class=HTMLResponse)
async def record_shipment(
    request: Request,
    user: CurrentOperatorUser,
    backends: BackendsDep,
    _: CsrfProtected,
    unit_id: str,
    serial_number: Annotated[str, Form(max_length=64)] = "",
    mac_address: Annotated[str, Form(max_length=32)] = "",
    registration_code: Annotated[str, Form(max_length=64)] = "",
    company_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Record one shipment; errors come back on the page in Japanese."""
    try:
        await device_registry.record_shipment(
            backends, user, unit_id, serial_number=serial_number, mac_address=mac_address,
            registration_code=registration_code,
        )  # fmt: skip
    except BackendRefused as exc:
        refused: BackendRefused | None = exc
    else:
        refused = None
    if refused is None:
        summary = f"シリアル番号 {serial_number} / MACアドレス {mac_address}"
        with contextlib.suppress(BackendUnavailable, BackendRefused):
            await support.record_audit(backends, user, "shipment.record", unit_id, summary)
        query = {"saved": unit_id, **({"company_id": company_id} if company_id else {})}
        return RedirectResponse(f"/operator/shipments?{urlencode(query)}", status_code=303)
    error = refused.detail or "シリアル番号・MACアドレス・登録コードを正しく入力してください。"
    units = await _units(request, backends, user, company_id, "expected") or []
    form = {"unit_id": unit_id, "serial_number": serial_number, "mac_address": mac_address}
    status = refused.status_code if refused.status_code < 500 else 502
    return render(
        request, "operator/shipments.html", status_code=status, units=units, company_id=company_id,
        status="expected", statuses=STATUS_LABELS, saved=None, error=f"{unit_id}: {error}", form=form,
    )  # fmt: skip
