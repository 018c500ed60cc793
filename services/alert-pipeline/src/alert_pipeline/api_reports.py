"""Report API of the alert pipeline: threat report, company comparison, own-unit comparison.

Every route is scoped to the company of the verified token. The only parameters are the period's
first and last JST dates: nothing narrows the population a comparison is made against, and any
other query parameter is refused.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from alert_pipeline.reports import ReportReader, unit_comparison
from shared.auth import CurrentOperator, CurrentPrincipal
from shared.periods import Period, PeriodError, parse_day

router = APIRouter(prefix="/reports", tags=["reports"])
ALLOWED_PARAMS = frozenset({"first", "last"})


def _reader(request: Request) -> ReportReader:
    reader: ReportReader = request.app.state.report_reader
    return reader


def _names(request: Request) -> Mapping[str, str]:
    names: Mapping[str, str] = request.app.state.category_names
    return names


def _period(request: Request, first: str, last: str) -> Period:
    unknown = set(request.query_params) - ALLOWED_PARAMS
    if unknown:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "指定できない条件が含まれています: " + ", ".join(sorted(unknown)),
        )
    try:
        return Period(parse_day(first), parse_day(last))
    except PeriodError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


First = Annotated[str, Query(max_length=10, description="First JST date of the period (YYYY-MM-DD).")]
Last = Annotated[str, Query(max_length=10, description="Last JST date of the period, inclusive.")]


@dataclass(frozen=True, slots=True)
class _Asked:
    """What a report route works from: the caller's company, the period, the reader and category names."""

    company_id: str
    period: Period
    reader: ReportReader
    names: Mapping[str, str]

    async def threat_report(self) -> dict[str, Any]:
        return await self.reader.threat_report(self.company_id, self.period, self.names)


async def _asked(request: Request, principal: CurrentPrincipal, first: First, last: Last) -> _Asked:
    return _Asked(principal.company_id, _period(request, first, last), _reader(request), _names(request))


Asked = Annotated[_Asked, Depends(_asked)]


@router.get("/threats")
async def threat_report(asked: Asked) -> dict[str, Any]:
    """UTM脅威レポート of the caller's company."""
    return {"company_id": asked.company_id, **await asked.threat_report()}


@router.get("/compare")
async def company_comparison(asked: Asked) -> dict[str, Any]:
    """参加企業平均との比較: own rates against aggregates of all participating companies (k ≥ 5)."""
    result = await asked.reader.company_comparison(asked.company_id, asked.period, asked.names)
    return {"company_id": asked.company_id, **result}


@router.get("/units")
async def units_comparison(asked: Asked) -> dict[str, Any]:
    """自社UTM同士の比較."""
    return {"company_id": asked.company_id, **unit_comparison(await asked.threat_report(), asked.names)}


@router.post("/monthly/{company_id}/{month}/resend")
async def resend_monthly_report(
    request: Request, operator: CurrentOperator, company_id: str, month: str
) -> dict[str, Any]:
    """Operator: mail one company's monthly report (YYYY-MM) again to its users (not opted out)."""
    try:
        year, number = (int(part) for part in month.split("-"))
        if not 1 <= number <= 12:
            raise ValueError(month)
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "月はYYYY-MMの形式で指定してください。"
        ) from None
    units = await _reader(request).company_units(company_id)
    if not units:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "UTMが登録された企業が見つかりません。")
    event = await request.app.state.monthly_reports.resend(company_id, year, number)
    return {"company_id": company_id, "month": event.month, "resend": event.resend}
