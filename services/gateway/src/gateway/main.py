"""Composition root of the gateway service: the portal pages over the backend services."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import csrf, security, session
from gateway.backends import SERVICE_LABELS, Backends, BackendUnavailable
from gateway.clients import identity
from gateway.documents import DocumentCache
from gateway.pages import NOT_FOUND
from gateway.routes import (
    account,
    alerts,
    dashboard,
    operator,
    operator_applications,
    operator_console,
    operator_support,
    reports,
    signup,
    support,
    units,
)
from gateway.session import OperatorRequired, RedirectRequired, TokenCache, optional_user
from gateway.session_store import IdentitySessionStore
from gateway.settings import Settings
from gateway.web import STATIC_DIR, STATIC_PATH, error_page, set_brand
from shared.app import ServiceRuntime, build_app, create_runtime

SERVICE = "gateway"
log = logging.getLogger(__name__)
PUBLIC_DOCS_PAGES = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
# What any portal page may answer besides its own statuses (declared for the OpenAPI document).
PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {"description": "Not logged in, or a first-login step comes first: the page in Location."},
    403: {"description": "Another origin, a missing or foreign CSRF token, or an operator-only page."},
    503: {"description": "A backend service cannot be reached."},
}
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"description": "The body is larger than the limit."},
    422: {"description": "The body is malformed or nested too deeply."},
}

CSRF_MESSAGE = "お手数ですが、前の画面に戻り、ページを再読み込みしてからもう一度操作してください。"
INVALID_MESSAGE = "入力された値が長すぎるか、形式が正しくありません。前の画面に戻って確認してください。"
SERVER_ERROR_MESSAGE = "申し訳ありません。処理中にエラーが発生しました。しばらくしてから再度お試しください。"
HTTP_MESSAGES = {404: NOT_FOUND, 405: "この操作はできません。"}
# Paths that answer JSON errors (FastAPI's own), not the portal's error page.
API_PATHS = ("/api/", "/health", "/metrics")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway app; nothing connects until its lifespan starts."""
    settings = settings or Settings()
    runtime = create_runtime(SERVICE, settings)
    backends = Backends(
        settings.backend_urls(),
        timeout=settings.backend_timeout_seconds,
        service_tokens={identity.SERVICE: settings.identity_secret},
    )

    documents = DocumentCache(settings.brand)

    async def prepare(rt: ServiceRuntime) -> None:
        rt.spawn(documents.warm(), name="documents-warm-up")

    async def close_backends(_: ServiceRuntime) -> None:
        await backends.aclose()

    routers = [
        account.router,
        dashboard.router,
        signup.router,
        operator_applications.router,
        units.router,
        alerts.router,
        reports.router,
        operator.router,
        support.router,
        operator_support.router,
        operator_console.router,
    ]
    for router in routers:
        _declare_page_responses(router)
    app = build_app(
        runtime,
        title="Gateway",
        routers=routers,
        on_startup=[prepare],
        on_shutdown=[close_backends],
        # Browser sessions are kept by identity; the gateway uses neither Kafka nor MongoDB.
        dependencies=(),
    )
    app.state.settings = settings
    app.state.backends = backends
    app.state.documents = documents
    set_brand(settings.brand)
    app.state.token_cache = TokenCache(max_age_seconds=settings.session_revalidate_seconds)
    # A handle looked up again brings the session's token along, for the same seconds.
    app.state.session_store = IdentitySessionStore(
        app.state,
        max_age_seconds=settings.session_revalidate_seconds,
        on_token=app.state.token_cache.put_grant,
    )
    app.state.report_cache = reports.ReportCache()
    # The portal is for browsers under a strict CSP: no interactive docs pages (their CDN scripts).
    app.router.routes[:] = [
        route for route in app.router.routes if getattr(route, "path", "") not in PUBLIC_DOCS_PAGES
    ]
    app.mount(STATIC_PATH, StaticFiles(directory=str(STATIC_DIR)), name="static")
    _install_handlers(app)
    return app


def _declare_page_responses(router: APIRouter) -> None:
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        extra = {
            **PAGE_RESPONSES,
            **(BODY_RESPONSES if (route.methods or set()) & {"POST", "PUT", "PATCH"} else {}),
        }
        for code, spec in extra.items():
            route.responses.setdefault(code, spec)


def _install_handlers(app: FastAPI) -> None:
    @app.get("/favicon.ico", include_in_schema=False)
    async def _favicon() -> Response:
        return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon")

    def _foreign_origin(request: Request) -> Response:
        return error_page(
            request,
            status_code=403,
            title="アクセスできません",
            message="この操作は受け付けられません。ポータルの画面から操作してください。",
        )

    @app.middleware("http")
    async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        async def with_session(request: Request) -> Response:
            if request.url.path.startswith(("/static/", "/health/", "/metrics", *security.SERVICE_PATHS)):
                return await call_next(request)
            await session.resolve(request)
            response = await call_next(request)
            await session.settle(request, response)
            return response

        response = await security.guard(request, with_session, _foreign_origin)
        csrf.set_cookie(request, response)
        return response

    @app.exception_handler(RedirectRequired)
    async def _redirect(request: Request, exc: RedirectRequired) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    pages: list[tuple[type[Exception], ErrorPage]] = [
        (OperatorRequired, _page(403, "アクセスできません", "このページは運用担当者専用です。")),
        (csrf.CsrfRejected, _page(403, "画面の有効期限が切れました", CSRF_MESSAGE)),
        (BackendUnavailable, _page(503, "ただいまご利用いただけません", _backend_message)),
        (RequestValidationError, _page(422, "入力内容をご確認ください", INVALID_MESSAGE, api=_api_invalid)),
        (Exception, _page(500, "エラーが発生しました", SERVER_ERROR_MESSAGE, log_it=True, find_user=True)),
        (StarletteHTTPException, _page(_http_status, "エラー", _http_message, api=_api_http, find_user=True)),
    ]
    for exc_class, handler in pages:
        app.add_exception_handler(exc_class, handler)


ErrorPage = Callable[[Request, Any], Awaitable[Response]]
FromError = Callable[[Any], Any]


def _page(
    status_code: int | FromError,
    title: str,
    message: str | FromError,
    *,
    api: ErrorPage | None = None,
    log_it: bool = False,
    find_user: bool = False,
) -> ErrorPage:
    """An exception handler that shows the error page (``api``'s JSON answer on the API paths).

    ``status_code`` and ``message`` are fixed, or worked out from the exception; ``log_it`` logs
    the exception; ``find_user`` looks up the logged-in user for the page's navigation when no
    route did.
    """

    async def handler(request: Request, exc: Any) -> Response:
        if api is not None and request.url.path.startswith(API_PATHS):
            return await api(request, exc)
        if log_it:
            log.exception("unhandled error", extra={"path": request.url.path})
        if find_user:
            await _known_user(request)
        return error_page(
            request,
            status_code=status_code(exc) if callable(status_code) else status_code,
            title=title,
            message=message(exc) if callable(message) else message,
        )

    return handler


def _backend_message(exc: BackendUnavailable) -> str:
    label = SERVICE_LABELS.get(exc.service, exc.service)
    return f"{label}サービスに接続できません。しばらくしてから再度お試しください。"


def _http_status(exc: StarletteHTTPException) -> int:
    return exc.status_code


def _http_message(exc: StarletteHTTPException) -> str:
    return HTTP_MESSAGES.get(exc.status_code, "リクエストを処理できませんでした。")


async def _api_invalid(request: Request, exc: RequestValidationError) -> Response:
    return await request_validation_exception_handler(request, exc)


async def _api_http(request: Request, exc: StarletteHTTPException) -> Response:
    return await http_exception_handler(request, exc)


async def _known_user(request: Request) -> None:
    """Find the logged-in user for an error page (its navigation), when no route did; never fails."""
    if getattr(request.state, "portal_user", None) is not None:
        return
    try:
        await optional_user(request, request.app.state.backends)
    except Exception:  # an error page must render whatever the session's state
        log.info("no user for the error page", exc_info=True)
