"""Composition root of the identity service."""

from datetime import timedelta

from fastapi import FastAPI

from identity import api, api_internal, handlers
from identity.browser_sessions import BrowserSessions
from identity.context import Clock
from identity.repository import MongoRepository
from identity.service import IdentityService
from identity.settings import Settings
from shared.app import ServiceRuntime, build_app, create_runtime
from shared.events import (
    AccountEmailChanged,
    AccountProvisioned,
    NotificationRequested,
    PasswordReissued,
    SendSmsCode,
    utc_now,
)

SERVICE = "identity"


def create_app(settings: Settings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    """Build the identity app; nothing connects until its lifespan starts."""
    settings = settings or Settings()
    runtime = create_runtime(
        SERVICE,
        settings,
        publishes=[
            AccountProvisioned,
            AccountEmailChanged,
            PasswordReissued,
            SendSmsCode,
            NotificationRequested,
        ],
    )
    repository = MongoRepository(runtime.db)
    service = IdentityService(repo=repository, settings=settings, publish=runtime.publish, clock=clock)
    handlers.register(runtime, service)
    browser_sessions = BrowserSessions(
        runtime.db,
        repository,
        service.ctx.sealer,
        clock,
        timedelta(seconds=settings.browser_session_max_age_seconds),
    )

    async def prepare(_: ServiceRuntime) -> None:
        await repository.create_indexes()
        await browser_sessions.create_indexes()
        await service.provisioning.seed_operator()

    async def finish(_: ServiceRuntime) -> None:
        await service.reissue.drain()

    app = build_app(
        runtime,
        title="Identity",
        routers=[api.router, api_internal.router],
        on_startup=[prepare],
        on_shutdown=[finish],
    )
    app.state.identity = service
    app.state.browser_sessions = browser_sessions
    api.install_error_handlers(app)
    return app
