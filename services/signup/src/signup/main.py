"""Composition root of the signup service."""

from fastapi import FastAPI

from shared.app import build_app, create_runtime
from signup.settings import Settings

SERVICE = "signup"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the signup app; nothing connects until its lifespan starts."""
    runtime = create_runtime(SERVICE, settings or Settings())
    return build_app(runtime, title="Signup")
