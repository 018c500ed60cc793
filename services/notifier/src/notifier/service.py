"""The notifier's use cases: from each event to claimed, sent and recorded messages."""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from notifier import messages
from notifier.deliveries import Claim, DeliveryRepository, stored_message
from notifier.dispatcher import Dispatcher
from notifier.grouping import AlertGrouper, Observation
from notifier.messages import Outgoing
from notifier.recipients import RecipientDirectory
from notifier.rendering import TemplateError
from shared.events import (
    AccountEmailChanged,
    AccountProvisioned,
    AlertDetected,
    ApplicationConfirmationRequested,
    NoticePublished,
    NotificationRequested,
    PasswordReissued,
    SendSmsCode,
)
from shared.kafka import PoisonMessage
from shared.sealing import Sealer, SealError

log = logging.getLogger(__name__)


class DeliveryInProgress(RuntimeError):
    """Another process holds the claim of a message that only this event can send; try again later."""


class Notifier:
    """Turns events into messages: claim each delivery, then send it through the dispatcher.

    Messages whose stored copy is complete are sent in the background (a crash is covered by the
    sweeper, which re-sends abandoned claims); messages with a secret are awaited, so the event is
    committed only once they are sent or failed, and a crash means the event itself comes again.
    """

    def __init__(
        self,
        *,
        deliveries: DeliveryRepository,
        dispatcher: Dispatcher,
        recipients: RecipientDirectory,
        grouper: AlertGrouper,
        sealer: Sealer,
        owner: str,
        portal_url: str,
        window_minutes: int,
        clock: Callable[[], datetime],
        digest_threshold: int = 3,
        digest_gather: timedelta = timedelta(seconds=5),
    ) -> None:
        self._deliveries = deliveries
        self._dispatcher = dispatcher
        self._recipients = recipients
        self._grouper = grouper
        self._sealer = sealer
        self._owner = owner
        self._portal_url = portal_url
        self._window_minutes = window_minutes
        self._digest_threshold = digest_threshold
        self._digest_gather = digest_gather
        self._clock = clock
        self._groups_lock = asyncio.Lock()

    async def application_confirmation_requested(self, event: ApplicationConfirmationRequested) -> None:
        await self._send([messages.confirmation_mail(event)])

    async def account_provisioned(self, event: AccountProvisioned) -> None:
        await self._recipients.upsert(
            account_id=event.account_id,
            company_id=event.company_id,
            name=event.name,
            email=event.email,
            at=event.occurred_at,
            company_name=event.company_name,
        )
        password = self._open(event.sealed_temporary_password)
        await self._send([messages.provisioned_mail(event, password)])
        await self._catch_up(event.company_id, event.email)

    async def account_email_changed(self, event: AccountEmailChanged) -> None:
        await self._recipients.upsert(
            account_id=event.account_id,
            company_id=event.company_id,
            name=event.name,
            email=event.email,
            at=event.occurred_at,
        )

    async def _catch_up(self, company_id: str, email: str) -> None:
        # Alerts that came before this user was known and are still in their grouping window (a new
        # contract's first alerts can outrun its account events): mail their first occurrence to them.
        alerts = await self._grouper.open_firsts(company_id)
        await self._send(
            [
                messages.alert_mail(
                    alert, email, portal_url=self._portal_url, window_minutes=self._window_minutes
                )
                for alert in alerts
            ]
        )

    async def password_reissued(self, event: PasswordReissued) -> None:
        password = self._open(event.sealed_temporary_password)
        await self._send([messages.reissued_mail(event, password)])

    async def send_sms_code(self, event: SendSmsCode) -> None:
        code = self._open(event.sealed_code)
        await self._send([messages.sms_code_message(event, code)])

    async def notification_requested(self, event: NotificationRequested) -> None:
        secrets = {
            key.removeprefix(messages.SEALED_PREFIX): self._open(str(value))
            for key, value in event.context.items()
            if key.startswith(messages.SEALED_PREFIX)
        }
        try:
            message = messages.requested_message(event, secrets)
        except TemplateError as exc:
            raise PoisonMessage(str(exc)) from exc
        await self._send([message])

    async def notice_published(self, event: NoticePublished) -> None:
        """Mail a 重要 notice to every portal user it targets, once per (notice, user)."""
        people = await self._recipients.people_of(event.company_ids or None)
        await self._send(
            [
                messages.notice_mail(event, company_id=company_id, name=name, recipient=email)
                for company_id, name, email in people
            ]
        )

    async def alerts_detected(self, alerts: list[AlertDetected]) -> None:
        """A batch of alerts, in a fixed number of MongoDB operations whatever its size.

        One read and one write of the group states (repeats of one alert placed in order), with one
        read of the recipients of the batch's companies beside them, then one insert claiming every
        delivery; then the mails are queued.
        """

        async def observe() -> list[Observation]:
            async with self._groups_lock:
                return await self._grouper.observe_many(alerts)

        observations, emails = await asyncio.gather(
            observe(), self._recipients.emails_by_company(sorted({alert.company_id for alert in alerts}))
        )
        firsts = [alert for alert, seen in zip(alerts, observations, strict=True) if seen.first]
        batch: list[Outgoing] = []
        for alert in firsts:
            if not emails[alert.company_id]:
                log.warning("no recipient for an alert", extra={"company_id": alert.company_id})
            batch.extend(
                messages.alert_mail(
                    alert, email, portal_url=self._portal_url, window_minutes=self._window_minutes
                )
                for email in emails[alert.company_id]
            )
        await self._send(batch)

    async def flush_alert_groups(self) -> int:
        """Send the follow-up of every group whose window has closed; returns how many groups closed."""
        # The claim keeps every other process (and, through the store, every later batch) away from
        # these groups: each is reported by this process alone, with what it held at the claim.
        async with self._groups_lock:
            claimed = await self._grouper.claim_due(self._owner)
            groups = claimed
            # While more of a company's groups are about to close (a burst), its follow-ups wait for them,
            # so that they leave together (as one digest) instead of one by one; never longer than twice
            # the gathering time.
            now = self._clock()
            waiting = await self._grouper.closing_soon(
                sorted({g.first.company_id for g in groups if g.repeat_count}), within=self._digest_gather
            )
            groups = [
                g
                for g in groups
                if not (
                    g.repeat_count
                    and g.first.company_id in waiting
                    and now - g.window_ends_at < 2 * self._digest_gather
                )
            ]
            kept = {group.group_id for group in groups}
            await self._grouper.release(
                [group.group_id for group in claimed if group.group_id not in kept], owner=self._owner
            )
            repeated = [group for group in groups if group.repeat_count]
            emails = await self._recipients.emails_by_company(
                sorted({group.first.company_id for group in repeated})
            )
            per_recipient: dict[str, list[Any]] = {}
            for group in repeated:
                for email in emails[group.first.company_id]:
                    per_recipient.setdefault(email, []).append(group)
            batch: list[Outgoing] = []
            for email, groups_of_email in per_recipient.items():
                if len(groups_of_email) > self._digest_threshold:
                    # A burst: one digest mail instead of a follow-up per alert.
                    batch.append(
                        messages.alert_digest_mail(
                            groups_of_email,
                            email,
                            portal_url=self._portal_url,
                            window_minutes=self._window_minutes,
                        )
                    )
                    continue
                batch.extend(
                    messages.alert_follow_up_mail(
                        group.latest_or_first,
                        email,
                        group_id=group.group_id,
                        count=group.repeat_count,
                        first_alert_id=group.first.alert_id,
                        first_notified_at=group.opened_at,
                        portal_url=self._portal_url,
                        window_minutes=self._window_minutes,
                    )
                    for group in groups_of_email
                )
            await self._send(batch)
            await self._grouper.close_many([group.group_id for group in groups])
        return len(groups)

    async def resend_abandoned(self) -> int:
        """Claim and send again the deliveries a dead or stopped process left unsent."""
        docs = await self._deliveries.abandoned(owner=self._owner, now=self._clock())
        for doc in docs:
            log.info("re-sending an abandoned delivery", extra={"delivery_id": doc["_id"]})
            await self._dispatcher.submit(stored_message(doc))
        return len(docs)

    async def _send(self, batch: list[Outgoing]) -> None:
        claims = await self._deliveries.claim_many(batch, owner=self._owner, now=self._clock())
        waiting: list[asyncio.Future[str]] = []
        unsent = [m.delivery_id for m in batch if claims[m.delivery_id] is Claim.CLAIMED]
        try:
            for message in batch:
                claim = claims[message.delivery_id]
                if claim is Claim.BUSY and message.has_secret:
                    raise DeliveryInProgress(f"delivery {message.delivery_id} is claimed by another process")
                if claim is not Claim.CLAIMED:
                    continue
                done = await self._dispatcher.submit(message)
                unsent.remove(message.delivery_id)
                if message.has_secret:
                    waiting.append(done)
        except Exception:
            # Claims that never reached the dispatcher are handed back for the redelivery or the sweeper.
            await self._deliveries.release(unsent, owner=self._owner)
            raise
        if waiting:
            await asyncio.gather(*waiting)

    def _open(self, sealed: str) -> str:
        try:
            return self._sealer.open(sealed)
        except SealError as exc:
            raise PoisonMessage("sealed secret cannot be opened with the notifier's key") from exc
