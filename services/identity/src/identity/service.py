"""The identity use cases wired together; each lives in its own module.

- provisioning: accounts from applications, the operator account
- login: password check, sessions, access tokens (brute force: throttle)
- setup: パスワード変更, ユーザID設定 proven by a mailed code
- two_step: 2段階認証設定, the second factor at login, the operator-assisted reset
- reissue: パスワードの再発行 off the request path
Domain errors (identity.errors) become HTTP answers in api.py only.
"""

from identity import errors
from identity.context import Clock, Context, Publish, Sessions
from identity.login import LoginFlow
from identity.models import Account
from identity.passwords import Hasher
from identity.provisioning import Provisioning
from identity.reissue import Reissue
from identity.repository import Repository
from identity.settings import Settings
from identity.setup import AccountSetup
from identity.throttle import Throttle
from identity.two_step import TwoStepFlow
from shared.auth import Principal
from shared.events import ApplicationSubmitted


class IdentityService:
    """Every use case over one repository, clock and publisher."""

    def __init__(
        self,
        *,
        repo: Repository,
        settings: Settings,
        publish: Publish,
        clock: Clock,
        hasher: Hasher | None = None,
    ) -> None:
        hasher = hasher or Hasher.from_parameters(
            memory_kib=settings.password_memory_kib,
            time_cost=settings.password_time_cost,
            parallelism=settings.password_parallelism,
        )
        self.ctx = Context(repo=repo, settings=settings, publish=publish, clock=clock, hasher=hasher)
        self.sessions = Sessions(self.ctx)
        self.throttle = Throttle(self.ctx)
        self.provisioning = Provisioning(self.ctx)
        self.two_step = TwoStepFlow(self.ctx, self.sessions, self.throttle)
        self.login = LoginFlow(self.ctx, self.sessions, self.throttle, self.two_step)
        self.setup = AccountSetup(self.ctx, self.sessions)
        self.reissue = Reissue(self.ctx)

    @property
    def repo(self) -> Repository:
        return self.ctx.repo

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def publish(self) -> Publish:
        return self.ctx.publish

    @publish.setter
    def publish(self, publish: Publish) -> None:
        self.ctx.publish = publish

    async def provision(self, event: ApplicationSubmitted) -> list[str]:
        return await self.provisioning.provision(event)

    async def account_of(self, principal: Principal) -> Account:
        """The caller's own account (another company's id answers like an unknown one)."""
        account = await self.ctx.repo.get_account(principal.account_id)
        if account is None or account.company_id != principal.company_id:
            raise errors.NotFound("not_found", "アカウントが見つかりません。")
        return account

    async def company_users(self, principal: Principal) -> list[Account]:
        return await self.ctx.repo.accounts_of_company(principal.company_id)
