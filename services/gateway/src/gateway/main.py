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
from gateway.web import STATIC_DIR, error_page, set_brand
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
    app.state.session_store = IdentitySessionStore(app.state)
    app.state.token_cache = TokenCache(max_age_seconds=settings.session_revalidate_seconds)
    # The portal is for browsers under a strict CSP: no interactive docs pages (their CDN scripts).
    app.router.routes[:] = [
        route for route in app.router.routes if getattr(route, "path", "") not in PUBLIC_DOCS_PAGES
    ]
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
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

    @app.exception_handler(OperatorRequired)
    async def _operator_only(request: Request, exc: OperatorRequired) -> Response:
        return error_page(
            request, status_code=403, title="アクセスできません", message="このページは運用担当者専用です。"
        )

    @app.exception_handler(csrf.CsrfRejected)
    async def _csrf_rejected(request: Request, exc: csrf.CsrfRejected) -> Response:
        return error_page(
            request,
            status_code=403,
            title="画面の有効期限が切れました",
            message="お手数ですが、前の画面に戻り、ページを再読み込みしてからもう一度操作してください。",
        )

    @app.exception_handler(BackendUnavailable)
    async def _backend_down(request: Request, exc: BackendUnavailable) -> Response:
        label = SERVICE_LABELS.get(exc.service, exc.service)
        return error_page(
            request,
            status_code=503,
            title="ただいまご利用いただけません",
            message=f"{label}サービスに接続できません。しばらくしてから再度お試しください。",
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith(("/api/", "/health", "/metrics")):
            return await request_validation_exception_handler(request, exc)
        return error_page(
            request,
            status_code=422,
            title="入力内容をご確認ください",
            message="入力された値が長すぎるか、形式が正しくありません。前の画面に戻って確認してください。",
        )

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path})
        await _known_user(request)
        return error_page(
            request,
            status_code=500,
            title="エラーが発生しました",
            message="申し訳ありません。処理中にエラーが発生しました。しばらくしてから再度お試しください。",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(("/api/", "/health", "/metrics")):
            return await http_exception_handler(request, exc)
        await _known_user(request)
        messages = {404: "お探しのページは見つかりませんでした。", 405: "この操作はできません。"}
        return error_page(
            request,
            status_code=exc.status_code,
            title="エラー",
            message=messages.get(exc.status_code, "リクエストを処理できませんでした。"),
        )


async def _known_user(request: Request) -> None:
    """Find the logged-in user for an error page (its navigation), when no route did; never fails."""
    if getattr(request.state, "portal_user", None) is not None:
        return
    try:
        await optional_user(request, request.app.state.backends)
    except Exception:  # an error page must render whatever the session's state
        log.info("no user for the error page", exc_info=True)
