"""Composition root of the device-registry service."""

from datetime import timedelta

from fastapi import FastAPI

from device_registry import api, handlers
from device_registry.service import DeviceRegistry
from device_registry.settings import Settings
from shared.app import ServiceRuntime, build_app, create_runtime
from shared.events import Event, UtmRegistered, UtmShipped, UtmStatusChanged
from shared.kafka import publish

SERVICE = "device-registry"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the device-registry app; nothing connects until its lifespan starts."""
    settings = settings or Settings()
    runtime = create_runtime(SERVICE, settings, publishes=[UtmShipped, UtmRegistered, UtmStatusChanged])

    async def publish_event(event: Event, key: str) -> None:
        await publish(runtime.broker, event, key=key)

    registry = DeviceRegistry(
        runtime.db,
        publish=publish_event,
        offline_after=timedelta(minutes=settings.offline_after_minutes),
        failure_limit=settings.registration_failure_limit,
        failure_window=timedelta(minutes=settings.registration_failure_window_minutes),
    )
    handlers.register(runtime, settings, registry)

    async def start(rt: ServiceRuntime) -> None:
        await registry.create_indexes()
        rt.spawn(handlers.sweep_offline(registry, settings.sweep_seconds), name="offline-sweep")

    app = build_app(runtime, title="Device registry", routers=[api.router], on_startup=[start])
    app.state.registry = registry
    return app
