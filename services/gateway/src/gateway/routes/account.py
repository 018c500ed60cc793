"""Portal account pages: login, first-login setup, 2-step verification, reissue, logout (guide §4)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from gateway.web import render

router = APIRouter(tags=["account"])


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> HTMLResponse:
    """ログイン (guide §4 ②)."""
    return render(request, "account/login.html", login_id="", error=None)
