"""Login, answer by answer: empty fields, what a correct password leads to for each second factor,
expired temporary passwords, the access token's content and lifetime, logout; the lockout counters."""

from datetime import timedelta

import jwt
import pyotp
import pytest

from identity import errors
from identity.models import Stage
from identity.repository import InMemoryRepository
from identity.service import IdentityService
from identity.two_step import TotpSetup
from shared.auth import verify_token
from shared.events import SendSmsCode
from shared.settings import DEV_TOKEN_PUBLIC_KEY

from .conftest import NEW_PASSWORD, SEALER, FakeClock, Flow, Outbox, make_service

CLIENT = "198.51.100.7"


@pytest.mark.parametrize(("login_id", "password"), [("", "Secret#2026"), ("user1", ""), ("   ", "x")])
async def test_empty_fields_are_refused_before_any_check(
    service: IdentityService, repo: InMemoryRepository, login_id: str, password: str
) -> None:
    with pytest.raises(errors.MissingFields) as missing:
        await service.login.login(login_id, password, client=CLIENT)
    assert missing.value.body() == {
        "code": "missing_fields",
        "message": "ユーザIDとパスワードを入力してください。",
    }
    assert repo.counters == {}  # nothing counted against anyone


async def test_wrong_passwords_answer_the_same_and_a_right_one_clears_the_count(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository
) -> None:
    flow = Flow(service, outbox)
    await flow.active()
    for _ in range(2):
        with pytest.raises(errors.BadCredentials) as wrong:
            await flow.login("user1@example.com", "Wrong#pass1")
        assert wrong.value.body() == {
            "code": "invalid_credentials",
            "message": "ユーザIDまたはパスワードが正しくありません。",
        }
    assert (await repo.login_failures("user1@example.com"))[0] == 2
    assert await flow.login("  USER1@example.COM ", NEW_PASSWORD) == "complete"
    assert await repo.login_failures("user1@example.com") == (0, None)


async def test_a_correct_password_names_the_second_factor_and_masks_the_phone(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    await flow.active(two_step="sms")
    await service.two_step.choose(flow.sid, use=True, method="sms", phone="09012345678")
    event = outbox.of(SendSmsCode)[-1]
    assert isinstance(event, SendSmsCode)
    flow.follow(await service.two_step.confirm_sms_setup(flow.sid, SEALER.open(event.sealed_code)))
    result = await service.login.login("user1@example.com", NEW_PASSWORD, client=CLIENT)
    assert (result.next_step, result.second_factor, result.phone_hint) == (
        Stage.SECOND_FACTOR,
        "sms",
        "090****5678",
    )
    assert len(outbox.of(SendSmsCode)) == 2  # the login sent a fresh code


async def test_an_authenticator_user_is_asked_for_the_code_without_an_sms(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    await flow.active(two_step="totp")
    setup = await service.two_step.choose(flow.sid, use=True, method="totp")
    assert isinstance(setup, TotpSetup)
    flow.follow(await service.two_step.confirm_totp(flow.sid, pyotp.TOTP(setup.secret).at(clock.now)))
    result = await service.login.login("user1@example.com", NEW_PASSWORD, client=CLIENT)
    assert (result.next_step, result.second_factor, result.phone_hint) == (Stage.SECOND_FACTOR, "totp", None)
    assert outbox.of(SendSmsCode) == []
    assert len(result.session_id) >= 40


async def test_without_a_second_factor_the_session_is_complete_at_once(
    service: IdentityService, outbox: Outbox
) -> None:
    flow = Flow(service, outbox)
    await flow.active()
    result = await service.login.login("user1@example.com", NEW_PASSWORD, client=CLIENT)
    assert (result.next_step, result.second_factor, result.phone_hint) == (Stage.ACTIVE, None, None)


async def test_an_expired_temporary_password_is_refused_with_the_reissue_hint(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    login_id, temporary = await flow.provision()
    clock.advance(days=14, seconds=1)
    with pytest.raises(errors.Expired) as expired:
        await flow.login(login_id, temporary)
    assert expired.value.body() == {
        "code": "credentials_expired",
        "message": "ユーザID・仮パスワードの有効期限が切れています。"
        "「パスワードをお忘れの方・パスワードの再発行はこちら」からパスワードを再発行してください。",
    }


async def test_tokens_are_only_for_complete_sessions_and_carry_the_account(
    repo: InMemoryRepository, outbox: Outbox, clock: FakeClock
) -> None:
    service = make_service(repo, outbox, clock, access_token_ttl_seconds=120)
    flow = Flow(service, outbox)
    login_id, temporary = await flow.provision()
    await flow.login(login_id, temporary)
    with pytest.raises(errors.WrongStep) as early:
        await service.login.grant_token(flow.sid)
    assert early.value.body() == {
        "code": "setup_required",
        "message": "初期設定が完了していません。",
        "next_step": "password_change",
    }
    flow = Flow(service, outbox)
    await flow.active()
    await flow.login("user1@example.com", NEW_PASSWORD)
    grant = await service.login.grant_token(flow.sid)
    assert grant.expires_in == 120
    assert grant.account.login_id == "user1@example.com"
    claims = jwt.decode(grant.access_token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120
    principal = verify_token(grant.access_token, public_key=DEV_TOKEN_PUBLIC_KEY)
    assert (principal.account_id, principal.company_id, principal.role) == (
        grant.account.account_id,
        "C-TEST0001",
        "customer",
    )
    assert (principal.name, principal.email) == ("利用者 1", "user1@example.com")


async def test_logout_ends_only_that_session_and_ignores_what_is_not_one(
    service: IdentityService, outbox: Outbox
) -> None:
    flow = Flow(service, outbox)
    await flow.active()
    await flow.login("user1@example.com", NEW_PASSWORD)
    other = Flow(service, outbox)
    await other.login("user1@example.com", NEW_PASSWORD)
    await service.login.logout(None)
    await service.login.logout("x" * 129)
    await service.login.logout("")
    await service.login.grant_token(flow.sid)
    await service.login.logout(flow.sid)
    with pytest.raises(errors.NoSession):
        await service.login.grant_token(flow.sid)
    assert (await service.login.grant_token(other.sid)).expires_in == 300


async def test_the_wait_doubles_from_the_third_failure_up_to_the_maximum(
    repo: InMemoryRepository, outbox: Outbox, clock: FakeClock
) -> None:
    service = make_service(repo, outbox, clock, wait_base_seconds=2, wait_max_seconds=60)
    throttle = service.login.throttle
    assert [throttle.wait_for(n) for n in range(8)] == [
        timedelta(0),
        timedelta(0),
        timedelta(0),
        timedelta(seconds=2),
        timedelta(seconds=4),
        timedelta(seconds=8),
        timedelta(seconds=16),
        timedelta(seconds=32),
    ]
    assert throttle.wait_for(9) == timedelta(seconds=60)
    assert throttle.wait_for(500) == timedelta(seconds=60)


async def test_a_failure_is_counted_for_the_user_id_and_the_client_and_sets_the_wait(
    service: IdentityService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    throttle = service.login.throttle
    waits = [None, None, clock.now + timedelta(seconds=2), clock.now + timedelta(seconds=4)]
    for n, wait in enumerate(waits, start=1):
        await throttle.record_failure("someone", "203.0.113.9", clock.now)
        assert await repo.login_failures("someone") == (n, wait)
    assert await repo.count("fail:someone|203.0.113.9", now=clock.now, window=timedelta(minutes=15)) == 4
    assert await repo.count("fail:someone|192.0.2.1", now=clock.now, window=timedelta(minutes=15)) == 0
    # A client that never failed on this user ID is not held back by its wait.
    await throttle.check_allowed("someone", "192.0.2.1", clock.now)
    with pytest.raises(errors.Throttled) as held:
        await throttle.check_allowed("someone", "203.0.113.9", clock.now)
    assert (held.value.code, held.value.message) == ("rate_limited", errors.TOO_MANY_ATTEMPTS)


async def test_a_client_that_failed_once_waits_only_while_the_wait_lasts(
    service: IdentityService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    throttle = service.login.throttle
    for _ in range(3):
        await throttle.record_failure("target", "192.0.2.50", clock.now)
    with pytest.raises(errors.Throttled):
        await throttle.check_allowed("target", "192.0.2.50", clock.now)
    clock.advance(seconds=2)
    await throttle.check_allowed("target", "192.0.2.50", clock.now)  # the 2 s wait is over


async def test_the_client_budget_allows_exactly_its_limit(
    repo: InMemoryRepository, outbox: Outbox, clock: FakeClock
) -> None:
    service = make_service(repo, outbox, clock, rate_limit_per_client=3, failures_per_client=2)
    throttle = service.login.throttle
    for _ in range(3):
        await throttle.check_allowed(f"user{_}", "203.0.113.1", clock.now)
    with pytest.raises(errors.Throttled):
        await throttle.check_allowed("user9", "203.0.113.1", clock.now)
    await throttle.record_failure("victim", "203.0.113.2", clock.now)
    await throttle.check_allowed("victim", "203.0.113.2", clock.now + timedelta(seconds=1))
    await throttle.record_failure("victim", "203.0.113.2", clock.now)
    with pytest.raises(errors.Throttled):
        await throttle.check_allowed("victim", "203.0.113.2", clock.now)
