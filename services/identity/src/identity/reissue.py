"""パスワードの再発行 that neither locks the owner out nor tells who has an account.

The request path only checks the input and the client's budget and answers at once; the lookup, the
hashing and the mail happen in a background task, so known and unknown accounts get the same answer in
the same time. The mailed temporary password works beside the current one until it is used (or
expires, 24 h by default); it leads to the second factor first, then to パスワード変更. Nothing ends the
user's sessions until the password is actually changed.
"""

import asyncio
import logging
from datetime import timedelta

from identity import errors
from identity.context import Context
from identity.models import ReissuedPassword
from identity.passwords import generate_temporary_password
from identity.throttle import UNKNOWN_CLIENT
from shared.events import PasswordReissued

log = logging.getLogger(__name__)

REISSUE_ANSWER = (
    "ご入力いただいたユーザIDまたはメールアドレスが登録されている場合、"
    "仮パスワードを記載したメールを送信しました。メールをご確認ください。"
)


class Reissue:
    """Accepts reissue requests and carries them out off the request path."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._tasks: set[asyncio.Task[None]] = set()

    async def request(self, identifier: str, *, client: str) -> str:
        """The same answer whether or not the account exists; the work is done in the background."""
        value = identifier.strip()
        if not value:
            raise errors.InvalidInput(
                "missing_identifier",
                "ユーザIDまたはメールアドレスを入力してください。",
                errors={"identifier": "ユーザIDまたはメールアドレスを入力してください。"},
            )
        now = self.ctx.clock()
        count = await self.ctx.repo.hit(
            f"reissue-client:{client or UNKNOWN_CLIENT}", now=now, window=timedelta(hours=1)
        )
        if count > self.ctx.settings.reissue_limit_per_client:
            raise errors.Throttled(
                "rate_limited", "再発行の依頼が多すぎます。しばらく時間をおいてから再度お試しください。"
            )
        task = asyncio.create_task(self._carry_out(value))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return REISSUE_ANSWER

    async def drain(self) -> None:
        """Wait for the reissues in progress (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _carry_out(self, identifier: str) -> None:
        try:
            await self.carry_out(identifier)
        except Exception:
            log.exception("password reissue failed")

    async def carry_out(self, identifier: str) -> None:
        """Issue and mail a temporary password for the account named by ``identifier``, if any."""
        now = self.ctx.clock()
        account = await self.ctx.repo.account_by_login_id_or_email(identifier)
        if account is None or account.role == "operator":
            return
        count = await self.ctx.repo.hit(f"reissue:{account.account_id}", now=now, window=timedelta(hours=1))
        if count > self.ctx.settings.reissue_limit_per_hour:
            log.warning("reissue limit reached", extra={"account_id": account.account_id})
            return
        password = generate_temporary_password()
        expires_at = now + timedelta(hours=self.ctx.settings.reissue_password_hours)
        # argon2 in a worker thread: the event loop keeps answering other requests meanwhile.
        password_hash = await asyncio.to_thread(self.ctx.hasher.hash, password)
        pending = ReissuedPassword(password_hash=password_hash, expires_at=expires_at)
        # Only the pending password changes: a concurrent save of the account keeps its other fields.
        current = await self.ctx.repo.get_account(account.account_id) or account
        await self.ctx.repo.save_account(current.model_copy(update={"reissued": pending, "updated_at": now}))
        await self.ctx.publish(
            PasswordReissued(**self.ctx.credentials(account, password, expires_at)),
            account.company_id,
        )
        log.info("password reissued", extra={"account_id": account.account_id})
