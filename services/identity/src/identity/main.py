"""Composition root of the identity service."""

from fastapi import FastAPI

from identity import api, handlers
from identity.repository import MongoRepository
from identity.service import Clock, IdentityService
from identity.settings import Settings
from shared.app import ServiceRuntime, build_app, create_runtime
from shared.events import AccountEmailChanged, AccountProvisioned, PasswordReissued, SendSmsCode, utc_now

SERVICE = "identity"


def create_app(settings: Settings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    """Build the identity app; nothing connects until its lifespan starts."""
    settings = settings or Settings()
    runtime = create_runtime(
        SERVICE,
        settings,
        publishes=[AccountProvisioned, AccountEmailChanged, PasswordReissued, SendSmsCode],
    )
    repository = MongoRepository(runtime.db)
    service = IdentityService(repo=repository, settings=settings, publish=runtime.publish, clock=clock)
    handlers.register(runtime, service)

    async def prepare(_: ServiceRuntime) -> None:
        await repository.create_indexes()
        await service.seed_operator()

    app = build_app(runtime, title="Identity", routers=[api.router], on_startup=[prepare])
    app.state.identity = service
    api.install_error_handlers(app)
    return app
