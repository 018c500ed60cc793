"""Composition root of the support service."""

import asyncio
import logging

from fastapi import FastAPI

from shared.app import ServiceRuntime, build_app, create_runtime
from shared.events import NoticePublished, NotificationRequested
from support_desk import api, handlers
from support_desk.service import SupportDesk
from support_desk.settings import Settings

SERVICE = "support"
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the support app; nothing connects until its lifespan starts."""
    settings = settings or Settings()
    runtime = create_runtime(SERVICE, settings, publishes=[NotificationRequested, NoticePublished])
    desk = SupportDesk(
        runtime.db,
        publish=runtime.publish,
        brand=settings.brand,
        attachment_max_bytes=settings.attachment_max_bytes,
    )

    handlers.register(runtime, desk, group=settings.consumer_group)

    async def start(rt: ServiceRuntime) -> None:
        await desk.create_indexes()
        rt.spawn(_mail_due_notices(desk, settings.notice_sweep_seconds), name="notice-mails")

    app = build_app(runtime, title="Support", routers=[api.router], on_startup=[start])
    app.state.desk = desk
    return app


async def _mail_due_notices(desk: SupportDesk, interval: float) -> None:
    """Mail 重要 notices whose publication time has come (those saved for later), and inquiry mails
    left in their outbox."""
    while True:
        await asyncio.sleep(interval)
        try:
            await desk.mail_due_notices()
            await desk.publish_outbox()
        except Exception:
            log.exception("notice mail pass failed")
