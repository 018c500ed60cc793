"""2-step verification: authenticator and SMS, secrets sealed at rest, wrong codes, operator reset."""

import pyotp
import pytest

from identity import errors
from identity.context import StepResult
from identity.models import SMS_MAX_ATTEMPTS, Stage, TwoStep
from identity.repository import InMemoryRepository
from identity.service import IdentityService
from identity.two_step import TotpSetup
from shared.auth import Principal
from shared.events import SendSmsCode

from .conftest import NEW_PASSWORD, SEALER, FakeClock, Flow, Outbox

OPERATOR = Principal(account_id="A-operator", company_id="operator", role="operator", name="運用担当者")


async def totp_user(service: IdentityService, outbox: Outbox, clock: FakeClock) -> tuple[Flow, str, str]:
    flow = Flow(service, outbox)
    email = await flow.active(two_step="totp")
    setup = await service.two_step.choose(flow.sid, use=True, method="totp")
    assert isinstance(setup, TotpSetup)
    flow.follow(await service.two_step.confirm_totp(flow.sid, pyotp.TOTP(setup.secret).at(clock.now)))
    return flow, email, setup.secret


async def test_authenticator_setup_then_login_with_code_and_no_replay(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    await flow.active(two_step="totp")
    first = await service.two_step.choose(flow.sid, use=True, method="totp")
    setup = await service.two_step.choose(flow.sid, use=True, method="totp")
    assert isinstance(first, TotpSetup)
    assert isinstance(setup, TotpSetup)
    assert setup.secret != first.secret  # setting it again replaces the secret
    with pytest.raises(errors.InvalidInput):
        await service.two_step.confirm_totp(flow.sid, pyotp.TOTP(first.secret).at(clock.now))
    code = pyotp.TOTP(setup.secret).at(clock.now)
    assert flow.follow(await service.two_step.confirm_totp(flow.sid, code)).stage is Stage.ACTIVE

    assert await flow.login("user1@example.com", NEW_PASSWORD) == "second_factor"
    with pytest.raises(errors.InvalidInput) as replay:
        await service.two_step.verify(flow.sid, code)
    assert replay.value.code == "invalid_code"
    clock.advance(seconds=30)
    step = flow.follow(await service.two_step.verify(flow.sid, pyotp.TOTP(setup.secret).at(clock.now)))
    assert step.stage is Stage.ACTIVE
    assert (await service.login.grant_token(flow.sid)).access_token


async def test_totp_secrets_are_sealed_at_rest_and_old_clear_ones_still_work(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository, clock: FakeClock
) -> None:
    flow, email, secret = await totp_user(service, outbox, clock)
    account = next(iter(repo.accounts.values()))
    assert account.two_step.totp_secret is not None
    assert secret not in account.model_dump_json()
    assert account.two_step.totp_secret.startswith("aesgcm:")
    # An account stored before sealing, with its secret in clear: it logs in and gets sealed.
    repo.accounts[account.account_id] = account.model_copy(
        update={"two_step": account.two_step.model_copy(update={"totp_secret": secret})}
    )
    clock.advance(seconds=30)
    await flow.login(email, NEW_PASSWORD)
    flow.follow(await service.two_step.verify(flow.sid, pyotp.TOTP(secret).at(clock.now)))
    resealed = repo.accounts[account.account_id].two_step.totp_secret
    assert resealed is not None
    assert resealed.startswith("aesgcm:")


async def test_wrong_codes_count_as_failures_and_end_the_session(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    flow, email, secret = await totp_user(service, outbox, clock)
    await flow.login(email, NEW_PASSWORD)
    for _ in range(4):
        with pytest.raises(errors.InvalidInput):
            await service.two_step.verify(flow.sid, "000000")
    with pytest.raises(errors.Throttled):
        await service.two_step.verify(flow.sid, "000000")
    with pytest.raises(errors.NoSession):
        await service.two_step.verify(flow.sid, pyotp.TOTP(secret).at(clock.now))
    with pytest.raises(errors.Throttled):
        await flow.login(email, NEW_PASSWORD)  # this client failed 5 times on this user ID
    assert await flow.login(email, NEW_PASSWORD, client="192.0.2.10") == "second_factor"


async def test_sms_setup_codes_expire_and_attempts_are_limited(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    await flow.active(two_step="sms")
    with pytest.raises(errors.InvalidInput) as bad_phone:
        await service.two_step.choose(flow.sid, use=True, method="sms", phone="12345")
    assert bad_phone.value.code == "invalid_phone"
    assert (
        await service.two_step.choose(flow.sid, use=True, method="sms", phone="090-1234-5678")
        == "090****5678"
    )

    def last_code() -> str:
        event = outbox.of(SendSmsCode)[-1]
        assert isinstance(event, SendSmsCode)
        assert event.phone == "09012345678"
        return SEALER.open(event.sealed_code)

    code = last_code()
    clock.advance(minutes=5)
    with pytest.raises(errors.InvalidInput) as expired:
        await service.two_step.confirm_sms_setup(flow.sid, code)
    assert expired.value.code == "sms_expired"
    await service.two_step.resend_sms(flow.sid)
    code = last_code()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(SMS_MAX_ATTEMPTS - 1):
        with pytest.raises(errors.InvalidInput):
            await service.two_step.confirm_sms_setup(flow.sid, wrong)
    with pytest.raises(errors.InvalidInput) as exhausted:
        await service.two_step.confirm_sms_setup(flow.sid, wrong)
    assert exhausted.value.code == "sms_exhausted"
    with pytest.raises(errors.Throttled):
        await service.two_step.resend_sms(flow.sid)
    clock.advance(seconds=30)
    await service.two_step.resend_sms(flow.sid)
    assert flow.follow(await service.two_step.confirm_sms_setup(flow.sid, last_code())).stage is Stage.ACTIVE
    assert await flow.login("user1@example.com", NEW_PASSWORD) == "second_factor"
    assert flow.follow(await service.two_step.verify(flow.sid, last_code())).stage is Stage.ACTIVE


async def test_an_operator_reset_is_audited_ends_sessions_and_asks_for_a_new_factor(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository, clock: FakeClock
) -> None:
    flow, email, _ = await totp_user(service, outbox, clock)
    account = next(iter(repo.accounts.values()))
    with pytest.raises(errors.InvalidInput):
        await service.two_step.operator_reset(OPERATOR, account.account_id, " ")
    with pytest.raises(errors.NotFound):
        await service.two_step.operator_reset(OPERATOR, "A-unknown", "本人確認済み")
    entry = await service.two_step.operator_reset(OPERATOR, account.account_id, "電話で本人確認済み")
    assert entry["operator_id"] == "A-operator"
    assert entry["previous_method"] == "totp"
    assert repo.audit == [entry]
    assert repo.accounts[account.account_id].two_step == TwoStep()
    with pytest.raises(errors.NoSession):
        await service.login.grant_token(flow.sid)
    assert await flow.login(email, NEW_PASSWORD) == "two_step_setup"
    chosen = await service.two_step.choose(flow.sid, use=False)
    assert isinstance(chosen, StepResult)
    assert chosen.stage is Stage.ACTIVE
