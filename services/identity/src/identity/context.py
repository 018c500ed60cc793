"""What every use-case module needs: storage, settings, clock, publisher, hashing, sealing; and sessions."""

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from identity import errors
from identity.crypto import SecretBox
from identity.models import Account, Session, Stage
from identity.passwords import Hasher
from identity.repository import Repository
from identity.settings import Settings
from shared.events import Event
from shared.sealing import Sealer

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Publish = Callable[[Event, str], Awaitable[None]]

EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")
PHONE_PATTERN = re.compile(r"^0[789]0\d{8}$")
CODE_PATTERN = re.compile(r"^\d{6}$")


@dataclass
class Context:
    """The collaborators shared by the use cases."""

    repo: Repository
    settings: Settings
    publish: Publish
    clock: Clock
    hasher: Hasher = field(default_factory=Hasher)
    sealer: Sealer = field(init=False)
    box: SecretBox = field(init=False)

    def __post_init__(self) -> None:
        self.sealer = Sealer(self.settings.sealing_key)
        self.box = SecretBox(self.settings.totp_keys)

    def credentials(self, account: Account, password: str, expires_at: datetime) -> dict[str, Any]:
        """The fields of an event whose mail carries a temporary password (sealed for the notifier)."""
        return {
            "company_id": account.company_id,
            "account_id": account.account_id,
            "name": account.name,
            "email": account.email,
            "login_id": account.login_id,
            "sealed_temporary_password": self.sealer.seal(password),
            "temporary_password_expires_at": expires_at,
            "portal_url": self.settings.portal_url,
        }


@dataclass(frozen=True, slots=True)
class StepResult:
    """Where a session stands after a step, and its new id when the step renewed it."""

    stage: Stage
    session_id: str | None = None


class Sessions:
    """Opening, loading, advancing and renewing sessions."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def ttl(self, stage: Stage) -> timedelta:
        seconds = (
            self.ctx.settings.session_ttl_seconds
            if stage is Stage.ACTIVE
            else self.ctx.settings.setup_session_ttl_seconds
        )
        return timedelta(seconds=seconds)

    def new(self, account: Account, stage: Stage, now: datetime, **fields: object) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        return session_id, Session.model_validate(
            {
                "session_hash": Session.hash_id(session_id),
                "account_id": account.account_id,
                "stage": stage,
                "created_at": now,
                "expires_at": now + self.ttl(stage),
                **fields,
            }
        )

    async def load(self, session_id: str | None) -> tuple[Session, Account]:
        """The live session and its account; NoSession otherwise."""
        if not session_id or len(session_id) > 128:
            raise errors.NoSession()
        session = await self.ctx.repo.get_session(Session.hash_id(session_id))
        if session is None or session.expires_at <= self.ctx.clock():
            raise errors.NoSession()
        account = await self.ctx.repo.get_account(session.account_id)
        if account is None:
            raise errors.NoSession()
        return session, account

    def next_stage(self, session: Session, account: Account) -> Stage:
        if session.reissued:
            return Stage.PASSWORD_CHANGE
        return account.next_setup_stage() or Stage.ACTIVE

    async def advance(self, session: Session, account: Account, *, now: datetime) -> StepResult:
        """Move the session to its next step under a new id (a change of privilege renews the id)."""
        stage = self.next_stage(session, account)
        moved = session.model_copy(
            update={"stage": stage, "sms": None, "email": None, "expires_at": now + self.ttl(stage)}
        )
        return await self.renew(moved)

    async def renew(self, session: Session) -> StepResult:
        """The same session under a fresh id; the old id stops working at once."""
        session_id = secrets.token_urlsafe(32)
        renewed = session.model_copy(update={"session_hash": Session.hash_id(session_id)})
        await self.ctx.repo.insert_session(renewed)
        await self.ctx.repo.delete_session(session.session_hash)
        return StepResult(stage=renewed.stage, session_id=session_id)


def require_stage(session: Session, *stages: Stage) -> None:
    if session.stage not in stages:
        raise errors.wrong_step(session.stage.value)


def check_code_format(code: str) -> None:
    if not CODE_PATTERN.fullmatch(code.strip()):
        raise errors.invalid_code("認証コードを半角数字6桁で入力してください。")


def mask_phone(phone: str) -> str:
    """090****5678: enough to recognise one's own phone."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_email(address: str) -> str:
    """ta***@example.com: enough to recognise one's own address."""
    local, _, domain = address.partition("@")
    return f"{local[:2]}***@{domain}"
