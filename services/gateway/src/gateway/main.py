"""Composition root of the gateway service."""

from fastapi import FastAPI

from gateway.settings import Settings
from shared.app import build_app, create_runtime

SERVICE = "gateway"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway app; nothing connects until its lifespan starts."""
    runtime = create_runtime(SERVICE, settings or Settings())
    return build_app(runtime, title="Gateway")
