"""Portal account pages: login, first-login setup, 2-step verification, reissue, logout (guide §4)."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway import csrf
from gateway.backends import BackendsDep
from gateway.csrf import CsrfProtected
from gateway.session import (
    SETUP_PAGES,
    CurrentUser,
    end_session,
    session_headers,
    session_id,
    start_session,
)
from gateway.web import render

router = APIRouter(tags=["account"])

# A form field that may be left empty (the backend answers with the message for it).
FormText = Annotated[str, Form()]


def _page_for(next_step: str) -> str:
    return "/" if next_step == "complete" else SETUP_PAGES.get(next_step, "/login")


def _see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def _client(request: Request) -> str:
    """The browser's address (behind a trusted proxy, the one it reports), for identity's limits."""
    return str(
        getattr(request.state, "client_address", "") or (request.client.host if request.client else "")
    )


def _renewed(request: Request, response: Response, body: dict[str, Any]) -> Response:
    """Identity renewed the session id at a change of privilege: the browser gets the new one."""
    new_id = body.get("session_id")
    if isinstance(new_id, str) and new_id:
        end_session(request, response)
        start_session(request, response, new_id)
    return response


def _problem(response: httpx.Response) -> dict[str, Any]:
    """The identity error body: code, message and field errors."""
    try:
        detail = response.json().get("detail", {})
    except ValueError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    detail.setdefault("message", "入力内容をご確認ください。")
    detail.setdefault("errors", {})
    detail.setdefault("code", "error")
    return detail


async def _current_session(request: Request, backends: BackendsDep) -> dict[str, Any] | None:
    """What identity knows of this browser's session, or None when there is none."""
    if not session_id(request):
        return None
    response = await backends.call("identity", "GET", "/sessions/current", headers=session_headers(request))
    if response.status_code != 200:
        return None
    body: dict[str, Any] = response.json()
    return body


async def _session_at(
    request: Request, backends: BackendsDep, *stages: str
) -> tuple[dict[str, Any] | None, Response | None]:
    """The session when it stands at one of ``stages``; otherwise where to send the browser."""
    view = await _current_session(request, backends)
    if view is None:
        return None, _see_other("/login")
    if view["stage"] not in stages:
        return None, _see_other(_page_for(view["stage"]))
    return view, None


# --- login -----------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, backends: BackendsDep) -> Response:
    """ログイン (guide §4 ②)."""
    view = await _current_session(request, backends)
    if view is not None and view["stage"] == "complete":
        return _see_other("/")
    notice = "ログアウトしました。" if request.query_params.get("logged_out") else None
    return render(request, "account/login.html", login_id="", error=None, notice=notice)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    backends: BackendsDep,
    _: CsrfProtected,
    login_id: FormText = "",
    password: FormText = "",
) -> Response:
    """Check the user ID and password with identity; go on to the next step."""
    response = await backends.call(
        "identity",
        "POST",
        "/login",
        json={"login_id": login_id, "password": password},
        client=_client(request),
    )
    if response.status_code != 200:
        problem = _problem(response)
        return render(
            request,
            "account/login.html",
            status_code=response.status_code if response.status_code < 500 else 503,
            login_id=login_id,
            error=problem["message"],
            expired=problem["code"] == "credentials_expired",
            notice=None,
        )
    body = response.json()
    redirect = _see_other(_page_for(body["next_step"]))
    end_session(request, redirect)
    start_session(request, redirect, body["session_id"])
    csrf.rotate(request)
    return redirect


@router.post("/logout")
async def logout(request: Request, backends: BackendsDep, _: CsrfProtected) -> Response:
    """ログアウト."""
    if session_id(request):
        await backends.call("identity", "DELETE", "/sessions/current", headers=session_headers(request))
    redirect = _see_other("/login?logged_out=1")
    end_session(request, redirect)
    csrf.rotate(request)
    return redirect


# --- second factor at login -------------------------------------------------------------------


@router.get("/login/verify", response_class=HTMLResponse)
async def verify_page(request: Request, backends: BackendsDep) -> Response:
    """認証コード入力 at login (authenticator app or SMS)."""
    view, elsewhere = await _session_at(request, backends, "second_factor")
    if elsewhere:
        return elsewhere
    assert view is not None
    return render(request, "account/verify.html", view=view, error=None)


@router.post("/login/verify", response_class=HTMLResponse)
async def verify(request: Request, backends: BackendsDep, _: CsrfProtected, code: FormText = "") -> Response:
    """Check the second factor."""
    response = await backends.call(
        "identity", "POST", "/sessions/current/verify", json={"code": code}, headers=session_headers(request)
    )
    if response.status_code == 200:
        body = response.json()
        return _renewed(request, _see_other(_page_for(body["next_step"])), body)
    if response.status_code in (401, 429):
        return render(
            request,
            "account/login.html",
            status_code=response.status_code,
            login_id="",
            error=_problem(response)["message"],
            notice=None,
        )
    view, elsewhere = await _session_at(request, backends, "second_factor")
    if elsewhere:
        return elsewhere
    return render(
        request, "account/verify.html", status_code=422, view=view, error=_problem(response)["message"]
    )


@router.post("/login/verify/resend", response_class=HTMLResponse)
async def verify_resend(request: Request, backends: BackendsDep, _: CsrfProtected) -> Response:
    """Send a new SMS code at login."""
    response = await backends.call(
        "identity", "POST", "/sessions/current/sms/resend", headers=session_headers(request)
    )
    view, elsewhere = await _session_at(request, backends, "second_factor")
    if elsewhere:
        return elsewhere
    if response.status_code == 200:
        return render(
            request, "account/verify.html", view=view, error=None, notice="認証コードを再送信しました。"
        )
    return render(
        request,
        "account/verify.html",
        status_code=response.status_code,
        view=view,
        error=_problem(response)["message"],
    )


# --- first-login setup: password, user ID -----------------------------------------------------


@router.get("/account/password", response_class=HTMLResponse)
async def password_page(request: Request, backends: BackendsDep) -> Response:
    """パスワード変更 (guide §4 ③)."""
    view, elsewhere = await _session_at(request, backends, "password_change", "complete")
    if elsewhere:
        return elsewhere
    return render(request, "account/password.html", view=view, errors={}, error=None)


@router.post("/account/password", response_class=HTMLResponse)
async def change_password(
    request: Request,
    backends: BackendsDep,
    _: CsrfProtected,
    new_password: FormText = "",
    new_password_confirm: FormText = "",
) -> Response:
    """Replace the temporary password."""
    response = await backends.call(
        "identity",
        "POST",
        "/sessions/current/password",
        json={"new_password": new_password, "new_password_confirm": new_password_confirm},
        headers=session_headers(request),
    )
    if response.status_code == 200:
        body = response.json()
        if body["next_step"] == "complete":
            done = render(
                request, "account/done.html", title="パスワード変更", message="パスワードを変更しました。"
            )
            return _renewed(request, done, body)
        return _renewed(request, _see_other(_page_for(body["next_step"])), body)
    if response.status_code == 401:
        return _see_other("/login")
    problem = _problem(response)
    view, elsewhere = await _session_at(request, backends, "password_change", "complete")
    if elsewhere:
        return elsewhere
    return render(
        request,
        "account/password.html",
        status_code=422,
        view=view,
        errors=problem["errors"],
        error=None if problem["errors"] else problem["message"],
    )


USER_ID_STAGES = ("user_id_setup", "complete")


@router.get("/account/user-id", response_class=HTMLResponse)
async def user_id_page(request: Request, backends: BackendsDep) -> Response:
    """ユーザID設定 (guide §4 ④), also ユーザID変更 from ユーザ情報."""
    view, elsewhere = await _session_at(request, backends, *USER_ID_STAGES)
    if elsewhere:
        return elsewhere
    return render(request, "account/user_id.html", view=view, value="", errors={}, error=None)


@router.post("/account/user-id", response_class=HTMLResponse)
async def set_user_id(
    request: Request, backends: BackendsDep, _: CsrfProtected, new_login_id: FormText = ""
) -> Response:
    """Mail a confirmation code to the address (or set it at once when it is the account's own)."""
    response = await backends.call(
        "identity",
        "POST",
        "/sessions/current/user-id",
        json={"new_login_id": new_login_id},
        headers=session_headers(request),
        client=_client(request),
    )
    if response.status_code == 200:
        body = response.json()
        if body.get("code_sent_to"):
            return _see_other("/account/user-id/confirm")
        if body["next_step"] == "complete":
            done = render(
                request, "account/done.html", title="ユーザID設定", message="ユーザIDを設定しました。"
            )
            return _renewed(request, done, body)
        return _renewed(request, _see_other(_page_for(body["next_step"])), body)
    if response.status_code == 401:
        return _see_other("/login")
    problem = _problem(response)
    view, elsewhere = await _session_at(request, backends, *USER_ID_STAGES)
    if elsewhere:
        return elsewhere
    return render(
        request,
        "account/user_id.html",
        status_code=response.status_code,
        view=view,
        value=new_login_id,
        errors=problem["errors"],
        error=None if problem["errors"] else problem["message"],
    )


@router.get("/account/user-id/confirm", response_class=HTMLResponse)
async def user_id_code_page(request: Request, backends: BackendsDep) -> Response:
    """確認コード入力: the code mailed to the new user ID."""
    view, elsewhere = await _session_at(request, backends, *USER_ID_STAGES)
    if elsewhere:
        return elsewhere
    assert view is not None
    if not view.get("login_id_pending"):
        return _see_other("/account/user-id")
    return render(request, "account/user_id_code.html", view=view, error=None)


@router.post("/account/user-id/confirm", response_class=HTMLResponse)
async def confirm_user_id(
    request: Request, backends: BackendsDep, _: CsrfProtected, code: FormText = ""
) -> Response:
    """The mailed code makes the address the user ID and contact address."""
    response = await backends.call(
        "identity",
        "POST",
        "/sessions/current/user-id/confirm",
        json={"code": code},
        headers=session_headers(request),
    )
    if response.status_code == 200:
        body = response.json()
        if body["next_step"] == "complete":
            done = render(
                request, "account/done.html", title="ユーザID設定", message="ユーザIDを設定しました。"
            )
            return _renewed(request, done, body)
        return _renewed(request, _see_other(_page_for(body["next_step"])), body)
    if response.status_code == 401:
        return _see_other("/login")
    view, elsewhere = await _session_at(request, backends, *USER_ID_STAGES)
    if elsewhere:
        return elsewhere
    assert view is not None
    problem = _problem(response)
    if response.status_code == 409 and problem["code"] == "login_id_taken":
        return render(
            request,
            "account/user_id.html",
            status_code=409,
            view=view,
            value="",
            errors=problem["errors"],
            error=None if problem["errors"] else problem["message"],
        )
    if not view.get("login_id_pending"):
        return _see_other("/account/user-id")
    return render(
        request,
        "account/user_id_code.html",
        status_code=response.status_code,
        view=view,
        error=problem["message"],
    )


# --- 2-step verification setup ----------------------------------------------------------------

TWO_STEP_STAGES = ("two_step_setup", "complete")


@router.get("/account/two-step", response_class=HTMLResponse)
async def two_step_page(request: Request, backends: BackendsDep) -> Response:
    """2段階認証設定 (guide §4 ⑤)."""
    view, elsewhere = await _session_at(request, backends, *TWO_STEP_STAGES)
    if elsewhere:
        return elsewhere
    return render(
        request,
        "account/two_step.html",
        view=view,
        form={"use": "yes", "method": "totp", "phone": view.get("application_mobile", "") if view else ""},
        errors={},
        error=None,
    )


@router.post("/account/two-step", response_class=HTMLResponse)
async def choose_two_step(
    request: Request,
    backends: BackendsDep,
    _: CsrfProtected,
    use: FormText = "",
    method: FormText = "",
    phone: FormText = "",
) -> Response:
    """Start the authenticator or SMS setup, or turn 2-step verification off."""
    was_active = await _was_active(request, backends)
    body: dict[str, Any] = {"use": use != "no", "phone": phone}
    if use != "no":
        body["method"] = method if method in ("totp", "sms") else None
    response = await backends.call(
        "identity", "POST", "/sessions/current/two-step", json=body, headers=session_headers(request)
    )
    if response.status_code == 200:
        result = response.json()
        if result.get("totp"):
            return _see_other("/account/two-step/app")
        if result.get("sms_sent_to"):
            return _see_other("/account/two-step/sms")
        done = _two_step_done(
            request, was_active, result["next_step"], "2段階認証を利用しない設定にしました。"
        )
        return _renewed(request, done, result)
    if response.status_code == 401:
        return _see_other("/login")
    problem = _problem(response)
    view, elsewhere = await _session_at(request, backends, *TWO_STEP_STAGES)
    if elsewhere:
        return elsewhere
    return render(
        request,
        "account/two_step.html",
        status_code=422,
        view=view,
        form={"use": use or "yes", "method": method, "phone": phone},
        errors=problem["errors"],
        error=None if problem["errors"] else problem["message"],
    )


@router.get("/account/two-step/app", response_class=HTMLResponse)
async def totp_page(request: Request, backends: BackendsDep) -> Response:
    """認証アプリケーションの設定: the QR code and secret, confirmed by a code."""
    view, elsewhere = await _session_at(request, backends, *TWO_STEP_STAGES)
    if elsewhere:
        return elsewhere
    return await _render_totp(request, backends, view, error=None)


async def _render_totp(
    request: Request,
    backends: BackendsDep,
    view: dict[str, Any] | None,
    *,
    error: str | None,
    status_code: int = 200,
) -> Response:
    response = await backends.call(
        "identity", "GET", "/sessions/current/two-step/totp", headers=session_headers(request)
    )
    if response.status_code != 200:
        return _see_other("/account/two-step")
    return render(
        request, "account/totp.html", status_code=status_code, view=view, totp=response.json(), error=error
    )


@router.post("/account/two-step/app", response_class=HTMLResponse)
async def confirm_totp(
    request: Request, backends: BackendsDep, _: CsrfProtected, code: FormText = ""
) -> Response:
    """Confirm the authenticator with its current code."""

    async def refused(view: dict[str, Any] | None, message: str) -> Response:
        return await _render_totp(request, backends, view, error=message, status_code=422)

    return await _confirm_two_step(
        request,
        backends,
        method="totp",
        code=code,
        done_message="認証アプリケーションによる2段階認証を設定しました。",
        refused=refused,
    )


async def _confirm_two_step(
    request: Request,
    backends: BackendsDep,
    *,
    method: str,
    code: str,
    done_message: str,
    refused: Callable[[dict[str, Any] | None, str], Awaitable[Response]],
) -> Response:
    """Confirm a 2-step method with its code: done, back to login, or the page again with the reason."""
    was_active = await _was_active(request, backends)
    response = await backends.call(
        "identity",
        "POST",
        f"/sessions/current/two-step/{method}/confirm",
        json={"code": code},
        headers=session_headers(request),
    )
    if response.status_code == 200:
        body = response.json()
        return _renewed(request, _two_step_done(request, was_active, body["next_step"], done_message), body)
    if response.status_code == 401:
        return _see_other("/login")
    view, elsewhere = await _session_at(request, backends, *TWO_STEP_STAGES)
    if elsewhere:
        return elsewhere
    return await refused(view, _problem(response)["message"])


async def _was_active(request: Request, backends: BackendsDep) -> bool:
    """Whether the user was already logged in (a change from ユーザ情報, not first-login setup)."""
    view = await _current_session(request, backends)
    return view is not None and view["stage"] == "complete"


def _two_step_done(request: Request, was_active: bool, next_step: str, message: str) -> Response:
    if next_step == "complete" and was_active:
        return render(request, "account/done.html", title="2段階認証設定", message=message)
    return _see_other(_page_for(next_step))


@router.get("/account/two-step/sms", response_class=HTMLResponse)
async def sms_page(request: Request, backends: BackendsDep) -> Response:
    """認証コード入力 (SMS setup, guide §4 ⑤ B 2/2)."""
    view, elsewhere = await _session_at(request, backends, *TWO_STEP_STAGES)
    if elsewhere:
        return elsewhere
    assert view is not None
    if not view.get("sms_sent_to"):
        return _see_other("/account/two-step")
    return render(request, "account/sms_code.html", view=view, error=None, notice=None)


@router.post("/account/two-step/sms", response_class=HTMLResponse)
async def confirm_sms(
    request: Request, backends: BackendsDep, _: CsrfProtected, code: FormText = ""
) -> Response:
    """Confirm the phone with the SMS code."""

    async def refused(view: dict[str, Any] | None, message: str) -> Response:
        return render(
            request, "account/sms_code.html", status_code=422, view=view, error=message, notice=None
        )

    return await _confirm_two_step(
        request,
        backends,
        method="sms",
        code=code,
        done_message="SMSによる2段階認証を設定しました。",
        refused=refused,
    )


@router.post("/account/two-step/sms/resend", response_class=HTMLResponse)
async def resend_sms(request: Request, backends: BackendsDep, _: CsrfProtected) -> Response:
    """Send a new SMS code during setup."""
    response = await backends.call(
        "identity", "POST", "/sessions/current/sms/resend", headers=session_headers(request)
    )
    view, elsewhere = await _session_at(request, backends, *TWO_STEP_STAGES)
    if elsewhere:
        return elsewhere
    if response.status_code == 200:
        return render(
            request, "account/sms_code.html", view=view, error=None, notice="認証コードを再送信しました。"
        )
    return render(
        request,
        "account/sms_code.html",
        status_code=response.status_code,
        view=view,
        error=_problem(response)["message"],
        notice=None,
    )


# --- reissue ----------------------------------------------------------------------------------


@router.get("/password/reissue", response_class=HTMLResponse)
async def reissue_page(request: Request) -> Response:
    """パスワードの再発行."""
    return render(request, "account/reissue.html", value="", error=None, done=None)


@router.post("/password/reissue", response_class=HTMLResponse)
async def reissue(
    request: Request, backends: BackendsDep, _: CsrfProtected, identifier: FormText = ""
) -> Response:
    """Ask identity for a new temporary password (same answer whether or not the account exists)."""
    response = await backends.call(
        "identity", "POST", "/password/reissue", json={"identifier": identifier}, client=_client(request)
    )
    if response.status_code == 202:
        return render(request, "account/reissue.html", value="", error=None, done=response.json()["message"])
    return render(
        request,
        "account/reissue.html",
        status_code=429 if response.status_code == 429 else 422,
        value=identifier,
        error=_problem(response)["message"],
        done=None,
    )


# --- users ------------------------------------------------------------------------------------


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, user: CurrentUser, backends: BackendsDep) -> Response:
    """ユーザ情報: the portal users of the company."""
    response = await backends.call("identity", "GET", "/users", user=user)
    users = response.json()["users"] if response.status_code == 200 else None
    return render(request, "account/users.html", users=users)
