"""Composition root of the gateway service: the portal pages over the backend services."""

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import csrf
from gateway.backends import SERVICE_LABELS, Backends, BackendUnavailable
from gateway.routes import account, alerts, dashboard, operator, operator_applications, reports, signup, units
from gateway.session import OperatorRequired, RedirectRequired, TokenCache
from gateway.settings import Settings
from gateway.web import STATIC_DIR, error_page
from shared.app import ServiceRuntime, build_app, create_runtime

SERVICE = "gateway"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway app; nothing connects until its lifespan starts."""
    settings = settings or Settings()
    runtime = create_runtime(SERVICE, settings)
    backends = Backends(settings.backend_urls(), timeout=settings.backend_timeout_seconds)

    async def close_backends(_: ServiceRuntime) -> None:
        await backends.aclose()

    app = build_app(
        runtime,
        title="Gateway",
        routers=[
            account.router,
            dashboard.router,
            signup.router,
            operator_applications.router,
            units.router,
            alerts.router,
            reports.router,
            operator.router,
        ],
        on_shutdown=[close_backends],
    )
    app.state.settings = settings
    app.state.backends = backends
    app.state.token_cache = TokenCache()
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    _install_handlers(app)
    return app


def _install_handlers(app: FastAPI) -> None:
    @app.middleware("http")
    async def _csrf_cookie(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        csrf.set_cookie(request, response)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
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

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(("/api/", "/health", "/metrics")):
            return await http_exception_handler(request, exc)
        messages = {404: "お探しのページは見つかりませんでした。", 405: "この操作はできません。"}
        return error_page(
            request,
            status_code=exc.status_code,
            title="エラー",
            message=messages.get(exc.status_code, "リクエストを処理できませんでした。"),
        )
