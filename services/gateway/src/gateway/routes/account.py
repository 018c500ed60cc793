"""Portal account pages: login, first-login setup, 2-step verification, reissue, logout (guide §4)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway import csrf
from gateway.backends import BackendsDep
from gateway.clients import identity
from gateway.clients.identity import IdentityRefused, Problem, SessionView, Step
from gateway.csrf import CsrfProtected
from gateway.session import SETUP_PAGES, CurrentUser, end_session, session_id, start_session
from gateway.web import render

router = APIRouter(tags=["account"])

# A form field that may be left empty (the backend answers with the message for it).
FormText = Annotated[str, Form()]
View = SessionView | None


def _page_for(next_step: str) -> str:
    return "/" if next_step == "complete" else SETUP_PAGES.get(next_step, "/login")


def _see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def _client(request: Request) -> str:
    """The browser's address (behind a trusted proxy, the one it reports), for identity's limits."""
    return str(
        getattr(request.state, "client_address", "") or (request.client.host if request.client else "")
    )


def _renewed(request: Request, response: Response, step: Step) -> Response:
    """Identity renewed the session id at a change of privilege: the browser gets the new one."""
    if step.session_id:
        end_session(request, response)
        start_session(request, response, step.session_id)
    return response


def _done(request: Request, step: Step, title: str, message: str) -> Response:
    """After a setup step: its 完了 page when setup is complete, else the next step's page."""
    if step.next_step == "complete":
        return _renewed(request, render(request, "account/done.html", title=title, message=message), step)
    return _renewed(request, _see_other(_page_for(step.next_step)), step)


def _field_errors(problem: Problem) -> dict[str, object]:
    """The form's field messages, or the one message when no field is named."""
    return {"errors": problem.errors, "error": None if problem.errors else problem.message}


async def _current_session(request: Request, backends: BackendsDep) -> View:
    """What identity knows of this browser's session, or None when there is none."""
    sid = session_id(request)
    if not sid:
        return None
    try:
        return await identity.current_session(backends, sid)
    except IdentityRefused:
        return None


async def _session_at(request: Request, backends: BackendsDep, *stages: str) -> tuple[View, Response | None]:
    """The session when it stands at one of ``stages``; otherwise where to send the browser."""
    view = await _current_session(request, backends)
    if view is None:
        return None, _see_other("/login")
    if view.stage not in stages:
        return None, _see_other(_page_for(view.stage))
    return view, None


async def _stage_page(
    request: Request,
    backends: BackendsDep,
    stages: tuple[str, ...],
    template: str,
    *,
    status_code: int = 200,
    **context: object,
) -> Response:
    """A step's page (again, with the reason in ``context``) while the session stands at ``stages``."""
    view, elsewhere = await _session_at(request, backends, *stages)
    return elsewhere or render(request, template, status_code=status_code, view=view, **context)


@dataclass(frozen=True, slots=True)
class CodePage:
    """A page where a code sent by mail or SMS is entered."""

    stages: tuple[str, ...]
    template: str
    sent: Callable[[SessionView], object]  # what the session knows of the code that is out
    back: str  # the page that sends one


async def _code_page(
    request: Request, backends: BackendsDep, page: CodePage, *, status_code: int = 200, **context: object
) -> Response:
    """A code entry page while a code is out; else back to the page that sends one."""
    view, elsewhere = await _session_at(request, backends, *page.stages)
    if elsewhere:
        return elsewhere
    if view is None or not page.sent(view):
        return _see_other(page.back)
    return render(request, page.template, status_code=status_code, view=view, **context)


# --- login -----------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, backends: BackendsDep) -> Response:
    """ログイン (guide §4 ②)."""
    view = await _current_session(request, backends)
    if view is not None and view.stage == "complete":
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
    try:
        result = await identity.login(backends, login_id, password, client=_client(request))
    except IdentityRefused as exc:
        return render(
            request,
            "account/login.html",
            status_code=exc.status_code if exc.status_code < 500 else 503,
            login_id=login_id,
            error=exc.problem.message,
            expired=exc.problem.code == "credentials_expired",
            notice=None,
        )
    redirect = _see_other(_page_for(result.next_step))
    end_session(request, redirect)
    start_session(request, redirect, result.session_id)
    csrf.rotate(request)
    return redirect


@router.post("/logout")
async def logout(request: Request, backends: BackendsDep, _: CsrfProtected) -> Response:
    """ログアウト."""
    sid = session_id(request)
    if sid:
        await identity.logout(backends, sid)
    redirect = _see_other("/login?logged_out=1")
    end_session(request, redirect)
    csrf.rotate(request)
    return redirect


# --- second factor at login -------------------------------------------------------------------

VERIFY_STAGES = ("second_factor",)


@router.get("/login/verify", response_class=HTMLResponse)
async def verify_page(request: Request, backends: BackendsDep) -> Response:
    """認証コード入力 at login (authenticator app or SMS)."""
    return await _stage_page(request, backends, VERIFY_STAGES, "account/verify.html", error=None)


@router.post("/login/verify", response_class=HTMLResponse)
async def verify(request: Request, backends: BackendsDep, _: CsrfProtected, code: FormText = "") -> Response:
    """Check the second factor."""
    try:
        step = await identity.verify(backends, session_id(request), code)
    except IdentityRefused as exc:
        if exc.status_code in (401, 429):
            return render(
                request, "account/login.html", status_code=exc.status_code, login_id="",
                error=exc.problem.message, notice=None,
            )  # fmt: skip
        return await _stage_page(
            request,
            backends,
            VERIFY_STAGES,
            "account/verify.html",
            status_code=422,
            error=exc.problem.message,
        )
    return _renewed(request, _see_other(_page_for(step.next_step)), step)


async def _resend_sms(
    request: Request, backends: BackendsDep, template: str, stages: tuple[str, ...]
) -> Response:
    """Send a new SMS code (at login or during setup) and show the code page again."""
    try:
        await identity.resend_sms(backends, session_id(request))
    except IdentityRefused as exc:
        return await _stage_page(
            request, backends, stages, template, status_code=exc.status_code, error=exc.problem.message,
            notice=None,
        )  # fmt: skip
    return await _stage_page(
        request, backends, stages, template, error=None, notice="認証コードを再送信しました。"
    )


@router.post("/login/verify/resend", response_class=HTMLResponse)
async def verify_resend(request: Request, backends: BackendsDep, _: CsrfProtected) -> Response:
    """Send a new SMS code at login."""
    return await _resend_sms(request, backends, "account/verify.html", VERIFY_STAGES)


# --- first-login setup: password, user ID -----------------------------------------------------

PASSWORD_STAGES = ("password_change", "complete")
USER_ID_STAGES = ("user_id_setup", "complete")
USER_ID_CODE = CodePage(
    USER_ID_STAGES, "account/user_id_code.html", lambda view: view.login_id_pending, "/account/user-id"
)


@router.get("/account/password", response_class=HTMLResponse)
async def password_page(request: Request, backends: BackendsDep) -> Response:
    """パスワード変更 (guide §4 ③)."""
    return await _stage_page(
        request, backends, PASSWORD_STAGES, "account/password.html", errors={}, error=None
    )


@router.post("/account/password", response_class=HTMLResponse)
async def change_password(
    request: Request,
    backends: BackendsDep,
    _: CsrfProtected,
    new_password: FormText = "",
    new_password_confirm: FormText = "",
) -> Response:
    """Replace the temporary password."""
    try:
        step = await identity.change_password(
            backends, session_id(request), new_password, new_password_confirm
        )
    except IdentityRefused as exc:
        if exc.status_code == 401:
            return _see_other("/login")
        return await _stage_page(
            request, backends, PASSWORD_STAGES, "account/password.html", status_code=422,
            **_field_errors(exc.problem),
        )  # fmt: skip
    return _done(request, step, "パスワード変更", "パスワードを変更しました。")


@router.get("/account/user-id", response_class=HTMLResponse)
async def user_id_page(request: Request, backends: BackendsDep) -> Response:
    """ユーザID設定 (guide §4 ④), also ユーザID変更 from ユーザ情報."""
    return await _stage_page(
        request, backends, USER_ID_STAGES, "account/user_id.html", value="", errors={}, error=None
    )


@router.post("/account/user-id", response_class=HTMLResponse)
async def set_user_id(
    request: Request, backends: BackendsDep, _: CsrfProtected, new_login_id: FormText = ""
) -> Response:
    """Mail a confirmation code to the address (or set it at once when it is the account's own)."""
    try:
        step = await identity.set_login_id(
            backends, session_id(request), new_login_id, client=_client(request)
        )
    except IdentityRefused as exc:
        if exc.status_code == 401:
            return _see_other("/login")
        return await _stage_page(
            request, backends, USER_ID_STAGES, "account/user_id.html", status_code=exc.status_code,
            value=new_login_id, **_field_errors(exc.problem),
        )  # fmt: skip
    if step.code_sent_to:
        return _see_other("/account/user-id/confirm")
    return _done(request, step, "ユーザID設定", "ユーザIDを設定しました。")


@router.get("/account/user-id/confirm", response_class=HTMLResponse)
async def user_id_code_page(request: Request, backends: BackendsDep) -> Response:
    """確認コード入力: the code mailed to the new user ID."""
    return await _code_page(request, backends, USER_ID_CODE, error=None)


@router.post("/account/user-id/confirm", response_class=HTMLResponse)
async def confirm_user_id(
    request: Request, backends: BackendsDep, _: CsrfProtected, code: FormText = ""
) -> Response:
    """The mailed code makes the address the user ID and contact address."""
    try:
        step = await identity.confirm_login_id(backends, session_id(request), code)
    except IdentityRefused as exc:
        if exc.status_code == 401:
            return _see_other("/login")
        if exc.status_code == 409 and exc.problem.code == "login_id_taken":
            return await _stage_page(
                request, backends, USER_ID_STAGES, "account/user_id.html", status_code=409, value="",
                **_field_errors(exc.problem),
            )  # fmt: skip
        return await _code_page(
            request, backends, USER_ID_CODE, status_code=exc.status_code, error=exc.problem.message
        )
    return _done(request, step, "ユーザID設定", "ユーザIDを設定しました。")


# --- 2-step verification setup ----------------------------------------------------------------

TWO_STEP_STAGES = ("two_step_setup", "complete")
SMS_CODE = CodePage(
    TWO_STEP_STAGES, "account/sms_code.html", lambda view: view.sms_sent_to, "/account/two-step"
)


@router.get("/account/two-step", response_class=HTMLResponse)
async def two_step_page(request: Request, backends: BackendsDep) -> Response:
    """2段階認証設定 (guide §4 ⑤)."""
    view, elsewhere = await _session_at(request, backends, *TWO_STEP_STAGES)
    if elsewhere:
        return elsewhere
    form = {"use": "yes", "method": "totp", "phone": view.application_mobile if view else ""}
    return render(request, "account/two_step.html", view=view, form=form, errors={}, error=None)


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
    try:
        chosen = method if method in ("totp", "sms") else None
        step = await identity.choose_two_step(
            backends, session_id(request), use=use != "no", method=chosen, phone=phone
        )
    except IdentityRefused as exc:
        if exc.status_code == 401:
            return _see_other("/login")
        return await _stage_page(
            request, backends, TWO_STEP_STAGES, "account/two_step.html", status_code=422,
            form={"use": use or "yes", "method": method, "phone": phone}, **_field_errors(exc.problem),
        )  # fmt: skip
    if step.totp:
        return _see_other("/account/two-step/app")
    if step.sms_sent_to:
        return _see_other("/account/two-step/sms")
    done = _two_step_done(request, was_active, step.next_step, "2段階認証を利用しない設定にしました。")
    return _renewed(request, done, step)


@router.get("/account/two-step/app", response_class=HTMLResponse)
async def totp_page(request: Request, backends: BackendsDep) -> Response:
    """認証アプリケーションの設定: the QR code and secret, confirmed by a code."""
    view, elsewhere = await _session_at(request, backends, *TWO_STEP_STAGES)
    return elsewhere or await _render_totp(request, backends, view, error=None)


async def _render_totp(
    request: Request, backends: BackendsDep, view: View, *, error: str | None, status_code: int = 200
) -> Response:
    try:
        totp = await identity.pending_totp(backends, session_id(request))
    except IdentityRefused:
        return _see_other("/account/two-step")
    return render(request, "account/totp.html", status_code=status_code, view=view, totp=totp, error=error)


@router.post("/account/two-step/app", response_class=HTMLResponse)
async def confirm_totp(
    request: Request, backends: BackendsDep, _: CsrfProtected, code: FormText = ""
) -> Response:
    """Confirm the authenticator with its current code."""

    async def refused(view: View, message: str) -> Response:
        return await _render_totp(request, backends, view, error=message, status_code=422)

    done_message = "認証アプリケーションによる2段階認証を設定しました。"
    return await _confirm_two_step(request, backends, "totp", code, done_message, refused)


async def _confirm_two_step(
    request: Request,
    backends: BackendsDep,
    method: identity.TwoStepMethod,
    code: str,
    done_message: str,
    refused: Callable[[View, str], Awaitable[Response]],
) -> Response:
    """Confirm a 2-step method with its code: done, back to login, or the page again with the reason."""
    was_active = await _was_active(request, backends)
    try:
        step = await identity.confirm_two_step(backends, session_id(request), method, code)
    except IdentityRefused as exc:
        if exc.status_code == 401:
            return _see_other("/login")
        view, elsewhere = await _session_at(request, backends, *TWO_STEP_STAGES)
        return elsewhere or await refused(view, exc.problem.message)
    return _renewed(request, _two_step_done(request, was_active, step.next_step, done_message), step)


async def _was_active(request: Request, backends: BackendsDep) -> bool:
    """Whether the user was already logged in (a change from ユーザ情報, not first-login setup)."""
    view = await _current_session(request, backends)
    return view is not None and view.stage == "complete"


def _two_step_done(request: Request, was_active: bool, next_step: str, message: str) -> Response:
    if next_step == "complete" and was_active:
        return render(request, "account/done.html", title="2段階認証設定", message=message)
    return _see_other(_page_for(next_step))


@router.get("/account/two-step/sms", response_class=HTMLResponse)
async def sms_page(request: Request, backends: BackendsDep) -> Response:
    """認証コード入力 (SMS setup, guide §4 ⑤ B 2/2)."""
    return await _code_page(request, backends, SMS_CODE, error=None, notice=None)


@router.post("/account/two-step/sms", response_class=HTMLResponse)
async def confirm_sms(
    request: Request, backends: BackendsDep, _: CsrfProtected, code: FormText = ""
) -> Response:
    """Confirm the phone with the SMS code."""

    async def refused(view: View, message: str) -> Response:
        return render(
            request, "account/sms_code.html", status_code=422, view=view, error=message, notice=None
        )

    done_message = "SMSによる2段階認証を設定しました。"
    return await _confirm_two_step(request, backends, "sms", code, done_message, refused)


@router.post("/account/two-step/sms/resend", response_class=HTMLResponse)
async def resend_sms(request: Request, backends: BackendsDep, _: CsrfProtected) -> Response:
    """Send a new SMS code during setup."""
    return await _resend_sms(request, backends, "account/sms_code.html", TWO_STEP_STAGES)


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
    try:
        done = await identity.reissue(backends, identifier, client=_client(request))
    except IdentityRefused as exc:
        return render(
            request, "account/reissue.html", status_code=429 if exc.status_code == 429 else 422,
            value=identifier, error=exc.problem.message, done=None,
        )  # fmt: skip
    return render(request, "account/reissue.html", value="", error=None, done=done)


# --- users ------------------------------------------------------------------------------------


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, user: CurrentUser, backends: BackendsDep) -> Response:
    """ユーザ情報: the portal users of the company."""
    try:
        users: list[identity.Account] | None = await identity.users(backends, user)
    except IdentityRefused:
        users = None
    return render(request, "account/users.html", users=users)
