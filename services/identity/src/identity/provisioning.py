"""Provisioning: one account per login user of a submitted application, and the operator account."""

import logging
from datetime import datetime, timedelta
from uuid import uuid4

from identity.context import Context
from identity.models import Account, provisioning_key
from identity.passwords import generate_login_id, generate_temporary_password
from identity.repository import DuplicateAccount
from shared.events import AccountProvisioned, ApplicationSubmitted

log = logging.getLogger(__name__)


class Provisioning:
    """Accounts created from applications (guide §4 ①) and the seeded operator."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def provision(self, event: ApplicationSubmitted) -> list[str]:
        """Create one account per login user of the application; returns the ids it notified.

        A user whose account already exists and whose mail already went out is skipped, so a
        redelivered event never creates a second account or a second mail.
        """
        notified = []
        for user in event.login_users:
            existing = await self.ctx.repo.account_for_application_user(event.application_number, user.email)
            if existing is not None and existing.provisioning_notified:
                continue
            now = self.ctx.clock()
            password = generate_temporary_password()
            expires_at = now + timedelta(days=self.ctx.settings.temporary_password_days)
            if existing is None:
                account = await self._insert_new_account(
                    event, user.name, user.email, user.mobile, password, now
                )
            else:
                # Created but its mail was never published: give it a fresh password and publish now.
                account = existing.model_copy(
                    update={
                        "password_hash": self.ctx.hasher.hash(password),
                        "temporary_expires_at": expires_at,
                    }
                )
                await self.ctx.repo.save_account(account)
            await self.ctx.publish(
                AccountProvisioned(
                    company_name=account.company_name,
                    **self.ctx.credentials(account, password, account.temporary_expires_at or expires_at),
                ),
                account.company_id,
            )
            await self.ctx.repo.save_account(account.model_copy(update={"provisioning_notified": True}))
            log.info(
                "account provisioned",
                extra={"account_id": account.account_id, "company_id": account.company_id},
            )
            notified.append(account.account_id)
        return notified

    async def _insert_new_account(
        self, event: ApplicationSubmitted, name: str, email: str, mobile: str, password: str, now: datetime
    ) -> Account:
        for _ in range(5):
            account = Account(
                account_id=f"A-{uuid4().hex[:16]}",
                company_id=event.company_id,
                company_name=event.company.company_name,
                application_number=event.application_number,
                provisioning_key=provisioning_key(event.application_number, email),
                name=name,
                email=email,
                mobile=mobile,
                login_id=generate_login_id(),
                password_hash=self.ctx.hasher.hash(password),
                temporary=True,
                temporary_expires_at=now + timedelta(days=self.ctx.settings.temporary_password_days),
                created_at=now,
                updated_at=now,
            )
            try:
                await self.ctx.repo.insert_account(account)
                return account
            except DuplicateAccount:
                concurrent = await self.ctx.repo.account_for_application_user(event.application_number, email)
                if concurrent is not None:
                    return concurrent
        raise RuntimeError("could not generate a unique user ID")

    async def seed_operator(self) -> None:
        """Create the operator account from settings when it does not exist (it must set up TOTP)."""
        login_id = self.ctx.settings.operator_login.strip().lower()
        if await self.ctx.repo.account_by_login_id(login_id) is not None:
            return
        now = self.ctx.clock()
        account = Account(
            account_id="A-operator",
            company_id="operator",
            company_name="運用",
            provisioning_key=f"operator:{login_id}",
            role="operator",
            name=self.ctx.settings.operator_name,
            email=login_id if "@" in login_id else "",
            login_id=login_id,
            password_hash=self.ctx.hasher.hash(self.ctx.settings.operator_password),
            temporary=False,
            user_id_set=True,
            provisioning_notified=True,
            created_at=now,
            updated_at=now,
        )
        try:
            await self.ctx.repo.insert_account(account)
            log.info("operator account seeded", extra={"account_id": account.account_id})
        except DuplicateAccount:
            pass
