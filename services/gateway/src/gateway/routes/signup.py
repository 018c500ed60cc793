"""The service application wizard and its confirmation link (guide §3)."""

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup

from gateway.backends import BackendsDep, BackendUnavailable
from gateway.clients import signup
from gateway.clients._base import BackendRefused
from gateway.csrf import CsrfProtected
from gateway.web import render

log = logging.getLogger(__name__)

router = APIRouter(tags=["signup"])

FORM = "_form"
UNAVAILABLE = "ただいま申込みを受け付けられません。しばらくしてから再度お試しください。"
MAX_BODY = 64 * 1024

# What the confirmation page says for each outcome of the link (guide §3 ⑦).
CONFIRM_PAGES: dict[str, tuple[int, str, str]] = {
    "completed": (200, "申込み完了", "お申込みが完了しました。"),
    "already_completed": (200, "申込み完了済み", "このお申込みは既に完了しています。"),
    "expired": (410, "URLの有効期限切れ", "このURLは有効期限が切れています。"),
    "invalid": (404, "無効なURL", "このURLは無効です。"),
}


@router.get("/signup", response_class=HTMLResponse)
async def wizard(request: Request, backends: BackendsDep) -> HTMLResponse:
    """セキュリティサービスポータル - 申込み: the six steps on one page (guide §3 ①-⑥)."""
    try:
        config = {
            "prefectures": await signup.prefectures(backends),
            "questions": await signup.public_questions(backends),
        }
    except BackendRefused:
        raise BackendUnavailable(signup.SERVICE) from None
    # Escaped for a <script type="application/json"> block: no "</script>" can close it early.
    blob = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return render(
        request,
        "signup/wizard.html",
        prefectures=config["prefectures"],
        questions=config["questions"],
        config_json=Markup(blob),
    )


@router.post(
    "/signup/applications",
    status_code=201,
    responses={
        200: {"description": "A repeat of the same submission (same Idempotency-Key)."},
        201: {"description": "Accepted: the confirmation mail is on its way."},
        409: {"description": "The address already has an application awaiting its confirmation link."},
        422: {"description": "Invalid fields, each with its Japanese message."},
        429: {
            "description": "Too many confirmation mails for this client or address.",
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
        },
        502: {"description": "signup answered in a way the portal cannot show."},
    },
)
async def submit(request: Request, backends: BackendsDep, _: CsrfProtected) -> Response:
    """The wizard's 申込み: forwarded to signup with the wizard's idempotency key; answers are JSON."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse({"errors": {FORM: "入力内容が大きすぎます。"}}, status_code=413)
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return JSONResponse({"errors": {FORM: "入力形式が正しくありません。"}}, status_code=422)
    # Signup limits mails per client: it believes the address the gateway vouches for with its secret.
    try:
        result = await signup.submit_application(
            backends,
            payload,
            client=request.state.client_address,
            secret=request.app.state.settings.signup_secret,
            idempotency_key=request.headers.get("idempotency-key", ""),
        )
    except BackendUnavailable:
        return JSONResponse({"errors": {FORM: UNAVAILABLE}}, status_code=503)
    except BackendRefused as exc:
        log.warning("signup failed", extra={"status": exc.status_code})
        return JSONResponse({"errors": {FORM: UNAVAILABLE}}, status_code=502)
    answer = JSONResponse(result.body, status_code=result.status_code)
    if result.retry_after:
        answer.headers["Retry-After"] = result.retry_after
    return answer


@router.get(
    "/signup/confirm/{token}",
    response_class=HTMLResponse,
    responses={404: {"description": "Unknown link."}, 410: {"description": "The link expired."}},
)
async def confirm(request: Request, token: str, backends: BackendsDep) -> HTMLResponse:
    """The link of the 申込み確認 mail: completes the application once; later opens say so."""
    result = (await signup.confirm_application(backends, token)).body
    outcome = str(result.get("status", "invalid"))
    if outcome not in CONFIRM_PAGES:
        raise BackendUnavailable(signup.SERVICE)
    status_code, title, headline = CONFIRM_PAGES[outcome]
    return render(
        request,
        "signup/confirmed.html",
        status_code=status_code,
        outcome=outcome,
        title=title,
        headline=headline,
        application_number=result.get("application_number"),
        email=result.get("email"),
    )
