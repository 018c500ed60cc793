"""Composition root of the notifier service."""

from fastapi import FastAPI

from notifier.settings import Settings
from shared.app import build_app, create_runtime

SERVICE = "notifier"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the notifier app; nothing connects until its lifespan starts."""
    runtime = create_runtime(SERVICE, settings or Settings())
    return build_app(runtime, title="Notifier")
