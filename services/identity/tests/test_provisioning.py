"""Provisioning: accounts from applications, the operator account, the first password's validity."""

from datetime import timedelta

import pytest

from identity import errors
from identity.models import Stage
from identity.repository import InMemoryRepository
from identity.service import IdentityService
from identity.settings import Settings
from shared.events import AccountProvisioned

from .conftest import SEALER, FakeClock, Flow, Outbox, application


async def test_provisioning_creates_one_account_per_user_with_a_sealed_password(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository, clock: FakeClock
) -> None:
    await service.provision(application(users=3))
    events = outbox.of(AccountProvisioned)
    assert len(events) == 3
    assert len(repo.accounts) == 3
    for event in events:
        assert isinstance(event, AccountProvisioned)
        password = SEALER.open(event.sealed_temporary_password)
        assert password not in event.model_dump_json()
        assert event.temporary_password_expires_at == clock.now + timedelta(days=14)
        stored = repo.accounts[event.account_id]
        assert password not in stored.model_dump_json()
        assert stored.password_hash.startswith("$argon2id$")


async def test_a_redelivered_application_creates_no_second_account(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository
) -> None:
    first = application(users=2)
    await service.provision(first)
    await service.provision(first.model_copy(update={"event_id": first.event_id.__class__(int=1)}))
    assert len(repo.accounts) == 2
    assert len(outbox.of(AccountProvisioned)) == 2


async def test_temporary_credentials_expire_after_fourteen_days(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    login_id, temporary = await flow.provision()
    clock.advance(days=13, hours=23)
    assert await flow.login(login_id, temporary) == "password_change"
    clock.advance(hours=1)
    with pytest.raises(errors.Expired) as expired:
        await flow.login(login_id, temporary)
    assert expired.value.code == "credentials_expired"
    assert "パスワードをお忘れの方・パスワードの再発行はこちら" in expired.value.message


async def test_operator_is_seeded_once_and_must_use_an_authenticator(
    service: IdentityService, outbox: Outbox
) -> None:
    await service.provisioning.seed_operator()
    await service.provisioning.seed_operator()
    settings = Settings()
    flow = Flow(service, outbox)
    assert await flow.login(settings.operator_login, settings.operator_password) == Stage.TWO_STEP_SETUP.value
    with pytest.raises(errors.InvalidInput) as off:
        await service.two_step.choose(flow.sid, use=False)
    assert off.value.code == "totp_required"
    with pytest.raises(errors.InvalidInput):
        await service.two_step.choose(flow.sid, use=True, method="sms", phone="09012345678")
