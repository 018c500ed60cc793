"""Composition root of the identity service."""

from fastapi import FastAPI

from identity import api, handlers
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

    async def prepare(_: ServiceRuntime) -> None:
        await repository.create_indexes()
        await service.provisioning.seed_operator()

    async def finish(_: ServiceRuntime) -> None:
        await service.reissue.drain()

    app = build_app(
        runtime, title="Identity", routers=[api.router], on_startup=[prepare], on_shutdown=[finish]
    )
    app.state.identity = service
    api.install_error_handlers(app)
    return app
