"""Composition root of the device-registry service."""

from fastapi import FastAPI

from device_registry.settings import Settings
from shared.app import build_app, create_runtime

SERVICE = "device-registry"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the device-registry app; nothing connects until its lifespan starts."""
    runtime = create_runtime(SERVICE, settings or Settings())
    return build_app(runtime, title="Device registry")
