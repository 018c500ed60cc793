"""Composition root of the identity service."""

from fastapi import FastAPI

from identity.settings import Settings
from shared.app import build_app, create_runtime

SERVICE = "identity"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the identity app; nothing connects until its lifespan starts."""
    runtime = create_runtime(SERVICE, settings or Settings())
    return build_app(runtime, title="Identity")
