"""The user's own mail preferences: the monthly report mail opt-out (ユーザ情報)."""

from fastapi import APIRouter, Request
from pydantic import BaseModel

from notifier.monthly import MonthlyReportPreferences
from shared.auth import CurrentPrincipal
from shared.events import utc_now

router = APIRouter(tags=["preferences"])


class MonthlyReportPreference(BaseModel):
    """Whether the user receives 月次セキュリティレポート mails."""

    opted_out: bool


def _preferences(request: Request) -> MonthlyReportPreferences:
    preferences: MonthlyReportPreferences = request.app.state.report_preferences
    return preferences


@router.get("/preferences/monthly-report", response_model=MonthlyReportPreference)
async def get_preference(request: Request, principal: CurrentPrincipal) -> MonthlyReportPreference:
    return MonthlyReportPreference(opted_out=await _preferences(request).opted_out(principal.account_id))


@router.put("/preferences/monthly-report", response_model=MonthlyReportPreference)
async def set_preference(
    request: Request, principal: CurrentPrincipal, body: MonthlyReportPreference
) -> MonthlyReportPreference:
    await _preferences(request).set_opt_out(
        principal.account_id, principal.company_id, body.opted_out, utc_now()
    )
    return body
