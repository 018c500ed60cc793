"""The dashboard (guide §4 ⑥, §6)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from gateway.session import CurrentUser
from gateway.web import render

router = APIRouter(tags=["dashboard"])


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, user: CurrentUser) -> HTMLResponse:
    """ダッシュボード."""
    return render(request, "dashboard.html")
