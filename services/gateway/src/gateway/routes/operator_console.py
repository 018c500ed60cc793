"""運用ダッシュボード: every company at a glance, a company page, and the wizard's additional questions."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.backends import BackendsDep, BackendUnavailable
from gateway.clients import alert_pipeline, device_registry, signup, support
from gateway.clients._base import BackendRefused
from gateway.clients.device_registry import Unit
from gateway.csrf import CsrfProtected
from gateway.pages import not_found
from gateway.routes import operator
from gateway.routes import units as units_page
from gateway.session import CurrentOperatorUser, PortalUser
from gateway.web import render

router = APIRouter(tags=["operator"], include_in_schema=False)

UNIT_STATUS = operator.STATUS_LABELS
CONNECTION = units_page.CONNECTION_LABELS
MAX_QUESTIONS = 10
COUNTS = ("expected", "shipped", "registered", "online", "offline")


def company_rows(units: list[Unit]) -> list[dict[str, Any]]:
    """Per company: units expected / shipped / registered / online / offline."""
    rows: dict[str, dict[str, Any]] = {}
    for unit in units:
        row = rows.setdefault(
            unit.company_id,
            {"company_id": unit.company_id, "company_name": unit.company_name, **dict.fromkeys(COUNTS, 0)},
        )
        row["expected"] += 1
        if unit.status in ("shipped", "registered"):
            row["shipped"] += 1
        if unit.status == "registered":
            row["registered"] += 1
            if unit.connection in ("online", "offline"):
                row[unit.connection] += 1
    return sorted(rows.values(), key=lambda r: r["company_name"])


async def _optional(call: Any) -> Any:
    """A figure from another service, or None when it cannot say (the page still renders)."""
    try:
        return await call
    except (BackendUnavailable, BackendRefused):
        return None


@router.get("/operator", response_class=HTMLResponse)
async def home(request: Request, user: CurrentOperatorUser, backends: BackendsDep) -> Response:
    """Every company with its units, ★★★ alerts not yet resolved and open inquiries."""
    units = await _optional(device_registry.operator_units(backends, user))
    serious = await _optional(alert_pipeline.open_serious_counts(backends, user))
    inquiries = await _optional(support.open_inquiry_counts(backends, user))
    rows = company_rows(units or [])
    for row in rows:
        row["serious"] = None if serious is None else serious.get(row["company_id"], 0)
        row["inquiries"] = None if inquiries is None else inquiries.get(row["company_id"], 0)
    return render(
        request, "operator/home.html", companies=rows, units_missing=units is None,
        totals={k: sum(r[k] for r in rows) for k in COUNTS},
    )  # fmt: skip


@router.get("/operator/companies/{company_id}", response_class=HTMLResponse)
async def company(
    request: Request, user: CurrentOperatorUser, backends: BackendsDep, company_id: str
) -> Response:
    """One company: its units with their state, its inquiries."""
    units = await device_registry.operator_units(backends, user, company_id=company_id)
    if not units:
        return not_found(request, "会社")
    inquiries = await _optional(support.search_inquiries(backends, user, company=company_id))
    serious = await _optional(alert_pipeline.open_serious_counts(backends, user))
    return render(
        request, "operator/company.html", company=company_rows(units)[0], units=units, statuses=UNIT_STATUS,
        connections=CONNECTION, inquiries=inquiries,
        serious=None if serious is None else serious.get(company_id, 0),
    )  # fmt: skip


async def _questions_page(
    request: Request, user: PortalUser, backends: Any, items: list[dict[str, Any]], *, errors: list[str],
    saved: bool = False, status_code: int = 200,
) -> Response:  # fmt: skip
    rows = [{**q, "options_text": "、".join(q.get("options", []))} for q in items] + [
        {"question_id": "", "text": "", "kind": "text", "options_text": "", "required": False}
    ] * 2
    return render(
        request, "operator/questions.html", status_code=status_code, rows=rows[: MAX_QUESTIONS + 2],
        errors=errors, saved=saved,
    )  # fmt: skip


@router.get("/operator/questions", response_class=HTMLResponse)
async def questions(request: Request, user: CurrentOperatorUser, backends: BackendsDep) -> Response:
    """申込みの追加質問: the wizard's step 3, edited by operators."""
    items = await signup.questions(backends, user)
    return await _questions_page(
        request, user, backends, items, errors=[], saved="saved" in request.query_params
    )


@router.post("/operator/questions", response_class=HTMLResponse)
async def save_questions(
    request: Request, user: CurrentOperatorUser, backends: BackendsDep, _: CsrfProtected
) -> Response:
    """Replace the questions with the rows filled in (a row without text is dropped)."""
    form = await request.form()
    current = {q["question_id"]: q for q in await signup.questions(backends, user)}
    items: list[dict[str, Any]] = []
    for index in range(MAX_QUESTIONS + 2):
        text = str(form.get(f"text_{index}", "")).strip()
        if not text:
            continue
        question_id = str(form.get(f"id_{index}", "")).strip() or f"q{index + 1}"
        kind = "choice" if form.get(f"kind_{index}") == "choice" else "text"
        options = [o.strip() for o in str(form.get(f"options_{index}", "")).replace(",", "、").split("、")]
        item: dict[str, Any] = {
            "question_id": question_id[:40], "text": text[:200], "kind": kind,
            "options": [o for o in options if o][:20] if kind == "choice" else [],
            "required": form.get(f"required_{index}") == "on",
        }  # fmt: skip
        previous = current.get(question_id)
        if previous and previous.get("required_when"):
            item["required_when"] = previous["required_when"]
        items.append(item)
    try:
        await signup.replace_questions(backends, user, items)
    except BackendRefused as exc:
        errors = exc.messages() or ["追加質問を保存できませんでした。入力内容をご確認ください。"]
        return await _questions_page(request, user, backends, items, errors=errors, status_code=422)
    await _optional(support.record_audit(backends, user, "questions.update", "追加質問", f"{len(items)}問"))
    return RedirectResponse("/operator/questions?saved=1", status_code=303)
