"""Composition root of the signup service."""

import asyncio
import logging
from datetime import timedelta

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from shared.app import ServiceRuntime, build_app, create_runtime
from shared.events import ApplicationConfirmationRequested, ApplicationSubmitted
from signup.api import router, validation_error_handler
from signup.limits import MongoSubmissionLimits, Quota
from signup.repository import MongoApplicationRepository, MongoQuestionRepository
from signup.service import SignupService
from signup.settings import Settings

SERVICE = "signup"
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the signup app; nothing connects until its lifespan starts."""
    settings = settings or Settings()
    runtime = create_runtime(
        SERVICE, settings, publishes=[ApplicationConfirmationRequested, ApplicationSubmitted]
    )
    applications = MongoApplicationRepository(runtime.db)
    limits = MongoSubmissionLimits(runtime.db)
    service = SignupService(
        applications=applications,
        questions=MongoQuestionRepository(runtime.db),
        publish=runtime.publish,
        public_url=settings.public_url,
        confirmation_ttl=timedelta(hours=settings.confirmation_ttl_hours),
        limits=limits,
        client_quota=Quota(settings.mails_per_client_per_hour, timedelta(hours=1)),
        email_quota=Quota(settings.mails_per_email_per_hour, timedelta(hours=1)),
    )

    async def prepare(runtime: ServiceRuntime) -> None:
        await applications.create_indexes()
        await limits.create_indexes()
        runtime.spawn(_drain_outbox(service, settings.outbox_interval_seconds), name="signup-outbox")

    app = build_app(runtime, title="Signup", routers=[router], on_startup=[prepare])
    app.state.signup_service = service
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    return app


async def _drain_outbox(service: SignupService, interval: float) -> None:
    """Publish confirmed applications whose event did not reach Kafka (crash or outage after the write)."""
    while True:
        # The broker starts after the start-up hooks: wait a little before the first pass.
        await asyncio.sleep(min(interval, 1.0))
        try:
            published = await service.publish_pending_submissions()
            if published:
                log.info("outbox drained", extra={"published": published})
        except Exception:
            log.exception("outbox pass failed")
        await asyncio.sleep(max(0.0, interval - 1.0))
