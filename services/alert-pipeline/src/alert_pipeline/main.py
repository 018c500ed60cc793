"""Composition root of the alert-pipeline service."""

from fastapi import FastAPI

from alert_pipeline.settings import Settings
from shared.app import build_app, create_runtime

SERVICE = "alert-pipeline"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the alert-pipeline app; nothing connects until its lifespan starts."""
    runtime = create_runtime(SERVICE, settings or Settings())
    return build_app(runtime, title="Alert pipeline")
