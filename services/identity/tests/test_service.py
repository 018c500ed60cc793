"""Use cases of identity with an in-memory repository and a hand-moved clock."""

from datetime import timedelta

import pyotp
import pytest

from identity.models import SMS_MAX_ATTEMPTS, Stage
from identity.repository import InMemoryRepository
from identity.service import REISSUE_ANSWER, IdentityError, IdentityService, TotpSetup
from identity.settings import Settings
from shared.auth import verify_token
from shared.events import AccountEmailChanged, AccountProvisioned, PasswordReissued, SendSmsCode
from shared.sealing import Sealer
from shared.settings import DEV_SEALING_KEY, DEV_TOKEN_PUBLIC_KEY

from .conftest import FakeClock, Outbox, application

NEW_PASSWORD = "Kawasaki#2026"


async def provision_one(service: IdentityService, outbox: Outbox) -> tuple[str, str]:
    """Provision one user; return their user ID and the temporary password from the sealed event."""
    await service.provision(application())
    event = outbox.of(AccountProvisioned)[-1]
    assert isinstance(event, AccountProvisioned)
    return event.login_id, Sealer(DEV_SEALING_KEY).open(event.sealed_temporary_password)


async def active_session(service: IdentityService, outbox: Outbox, *, two_step: str = "none") -> str:
    """A user through the whole first-login setup; returns the session id."""
    login_id, temporary = await provision_one(service, outbox)
    sid = (await service.login(login_id, temporary)).session_id
    await service.change_password(sid, NEW_PASSWORD, NEW_PASSWORD)
    await service.set_login_id(sid, "user1@example.com")
    if two_step == "none":
        await service.choose_two_step(sid, use=False)
    return sid


async def test_provisioning_creates_one_account_per_user_with_a_sealed_password(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository, clock: FakeClock
) -> None:
    await service.provision(application(users=3))
    events = outbox.of(AccountProvisioned)
    assert len(events) == 3
    assert len(repo.accounts) == 3
    for event in events:
        assert isinstance(event, AccountProvisioned)
        password = Sealer(DEV_SEALING_KEY).open(event.sealed_temporary_password)
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
    # Same application, new event id (e.g. re-published by signup): still nothing new.
    await service.provision(first.model_copy(update={"event_id": first.event_id.__class__(int=1)}))
    assert len(repo.accounts) == 2
    assert len(outbox.of(AccountProvisioned)) == 2


async def test_first_login_leads_through_password_user_id_and_two_step(
    service: IdentityService, outbox: Outbox
) -> None:
    login_id, temporary = await provision_one(service, outbox)
    result = await service.login(login_id, temporary)
    assert result.next_step is Stage.PASSWORD_CHANGE
    with pytest.raises(IdentityError) as not_yet:
        await service.grant_token(result.session_id)
    assert not_yet.value.status == 409
    assert await service.change_password(result.session_id, NEW_PASSWORD, NEW_PASSWORD) is Stage.USER_ID_SETUP
    assert await service.set_login_id(result.session_id, "user1@example.com") is Stage.TWO_STEP_SETUP
    assert await service.choose_two_step(result.session_id, use=False) is Stage.ACTIVE
    grant = await service.grant_token(result.session_id)
    principal = verify_token(grant.access_token, public_key=DEV_TOKEN_PUBLIC_KEY)
    assert principal.company_id == "C-TEST0001"
    assert principal.role == "customer"
    # Later logins use the email as user ID and the new password, and need nothing more.
    assert (await service.login("User1@Example.com", NEW_PASSWORD)).next_step is Stage.ACTIVE


async def test_temporary_credentials_expire_after_fourteen_days(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    login_id, temporary = await provision_one(service, outbox)
    clock.advance(days=13, hours=23)
    assert (await service.login(login_id, temporary)).next_step is Stage.PASSWORD_CHANGE
    clock.advance(hours=1)
    with pytest.raises(IdentityError) as expired:
        await service.login(login_id, temporary)
    assert expired.value.code == "credentials_expired"
    assert "パスワードをお忘れの方・パスワードの再発行はこちら" in expired.value.message


async def test_wrong_passwords_lock_the_account_for_a_while(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    login_id, temporary = await provision_one(service, outbox)
    for _ in range(4):
        with pytest.raises(IdentityError) as wrong:
            await service.login(login_id, "Wrong#pass1")
        assert wrong.value.status == 401
    with pytest.raises(IdentityError) as locked:
        await service.login(login_id, "Wrong#pass1")
    assert locked.value.code == "account_locked"
    # Even the right password is refused while locked ...
    with pytest.raises(IdentityError) as still:
        await service.login(login_id, temporary)
    assert still.value.code == "account_locked"
    # ... and accepted once the lock has passed.
    clock.advance(minutes=15, seconds=1)
    assert (await service.login(login_id, temporary)).next_step is Stage.PASSWORD_CHANGE


async def test_unknown_user_and_wrong_password_get_the_same_answer(
    service: IdentityService, outbox: Outbox
) -> None:
    login_id, _ = await provision_one(service, outbox)
    with pytest.raises(IdentityError) as unknown:
        await service.login("nobody0000aa", "Wrong#pass1")
    with pytest.raises(IdentityError) as wrong:
        await service.login(login_id, "Wrong#pass1")
    assert unknown.value.body() == wrong.value.body()


async def test_login_attempts_are_rate_limited_per_user_id() -> None:
    settings = Settings(rate_limit_per_login_id=3)
    service = IdentityService(
        repo=InMemoryRepository(), settings=settings, publish=Outbox(), clock=FakeClock()
    )
    for _ in range(3):
        with pytest.raises(IdentityError) as wrong:
            await service.login("nobody0000aa", "x")
        assert wrong.value.status == 401
    with pytest.raises(IdentityError) as limited:
        await service.login("nobody0000aa", "x")
    assert limited.value.status == 429


@pytest.mark.parametrize(
    ("new", "confirm", "field", "message"),
    [
        ("short1!", "short1!", "new_password", "8文字以上"),
        ("abcdefgh1", "abcdefgh1", "new_password", "記号"),
        (NEW_PASSWORD, "Other#2026x", "new_password_confirm", "一致しません"),
        ("", "", "new_password", "入力してください"),
    ],
)
async def test_password_change_rules(
    service: IdentityService, outbox: Outbox, new: str, confirm: str, field: str, message: str
) -> None:
    login_id, temporary = await provision_one(service, outbox)
    sid = (await service.login(login_id, temporary)).session_id
    with pytest.raises(IdentityError) as refused:
        await service.change_password(sid, new, confirm)
    assert refused.value.status == 422
    assert message in refused.value.extra["errors"][field]


async def test_new_password_may_be_neither_the_temporary_one_nor_the_user_id(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository
) -> None:
    login_id, temporary = await provision_one(service, outbox)
    sid = (await service.login(login_id, temporary)).session_id
    with pytest.raises(IdentityError) as same:
        await service.change_password(sid, temporary, temporary)
    assert "仮パスワードと同じ" in same.value.message
    account = next(iter(repo.accounts.values()))
    repo.accounts[account.account_id] = account.model_copy(update={"login_id": "abc#12345"})
    with pytest.raises(IdentityError) as as_id:
        await service.change_password(sid, "abc#12345", "abc#12345")
    assert "ユーザIDと同じ" in as_id.value.message


async def test_user_id_must_be_an_unused_email_and_a_new_email_is_announced(
    service: IdentityService, outbox: Outbox
) -> None:
    await service.provision(application(users=2))
    provisioned = [e for e in outbox.of(AccountProvisioned) if isinstance(e, AccountProvisioned)]
    sealer = Sealer(DEV_SEALING_KEY)
    sessions = []
    for event in provisioned:
        sid = (await service.login(event.login_id, sealer.open(event.sealed_temporary_password))).session_id
        await service.change_password(sid, NEW_PASSWORD, NEW_PASSWORD)
        sessions.append(sid)
    with pytest.raises(IdentityError) as not_email:
        await service.set_login_id(sessions[0], "not-an-email")
    assert not_email.value.status == 422
    await service.set_login_id(sessions[0], "user1@example.com")
    assert outbox.of(AccountEmailChanged) == []
    with pytest.raises(IdentityError) as taken:
        await service.set_login_id(sessions[1], "USER1@example.com")
    assert taken.value.code == "login_id_taken"
    await service.set_login_id(sessions[1], "new.address@example.com")
    changed = outbox.of(AccountEmailChanged)
    assert len(changed) == 1
    assert isinstance(changed[0], AccountEmailChanged)
    assert changed[0].email == "new.address@example.com"


async def test_authenticator_setup_then_login_with_code_and_no_replay(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    sid = await active_session(service, outbox, two_step="totp")
    first = await service.choose_two_step(sid, use=True, method="totp")
    assert isinstance(first, TotpSetup)
    # Setting it again replaces the secret: only the newest one is confirmed.
    setup = await service.choose_two_step(sid, use=True, method="totp")
    assert isinstance(setup, TotpSetup)
    assert setup.secret != first.secret
    with pytest.raises(IdentityError):
        await service.confirm_totp(sid, pyotp.TOTP(first.secret).at(clock.now))
    code = pyotp.TOTP(setup.secret).at(clock.now)
    assert await service.confirm_totp(sid, code) is Stage.ACTIVE

    login = await service.login("user1@example.com", NEW_PASSWORD)
    assert login.next_step is Stage.SECOND_FACTOR
    assert login.second_factor == "totp"
    with pytest.raises(IdentityError) as replay:
        await service.verify_second_factor(login.session_id, code)
    assert replay.value.code == "invalid_code"
    clock.advance(seconds=30)
    fresh = pyotp.TOTP(setup.secret).at(clock.now)
    assert await service.verify_second_factor(login.session_id, fresh) is Stage.ACTIVE
    assert (await service.grant_token(login.session_id)).access_token


async def test_sms_setup_codes_expire_and_attempts_are_limited(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    sid = await active_session(service, outbox, two_step="sms")
    with pytest.raises(IdentityError) as bad_phone:
        await service.choose_two_step(sid, use=True, method="sms", phone="12345")
    assert bad_phone.value.code == "invalid_phone"
    assert await service.choose_two_step(sid, use=True, method="sms", phone="090-1234-5678") == "090****5678"
    sealer = Sealer(DEV_SEALING_KEY)

    def last_code() -> str:
        event = outbox.of(SendSmsCode)[-1]
        assert isinstance(event, SendSmsCode)
        assert event.phone == "09012345678"
        return sealer.open(event.sealed_code)

    code = last_code()
    clock.advance(minutes=5)
    with pytest.raises(IdentityError) as expired:
        await service.confirm_sms_setup(sid, code)
    assert expired.value.code == "sms_expired"

    await service.resend_sms(sid)
    code = last_code()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(SMS_MAX_ATTEMPTS - 1):
        with pytest.raises(IdentityError) as miss:
            await service.confirm_sms_setup(sid, wrong)
        assert miss.value.code == "sms_wrong"
    with pytest.raises(IdentityError) as exhausted:
        await service.confirm_sms_setup(sid, wrong)
    assert exhausted.value.code == "sms_exhausted"
    with pytest.raises(IdentityError):
        await service.confirm_sms_setup(sid, code)  # even the right code, once exhausted

    with pytest.raises(IdentityError) as too_soon:
        await service.resend_sms(sid)
    assert too_soon.value.code == "resend_limited"
    clock.advance(seconds=30)
    await service.resend_sms(sid)
    assert await service.confirm_sms_setup(sid, last_code()) is Stage.ACTIVE

    login = await service.login("user1@example.com", NEW_PASSWORD)
    assert login.second_factor == "sms"
    assert login.phone_hint == "090****5678"
    assert await service.verify_second_factor(login.session_id, last_code()) is Stage.ACTIVE


async def test_reissue_gives_the_same_answer_and_forces_a_new_change(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    await active_session(service, outbox)
    assert await service.reissue("nobody@example.com") == REISSUE_ANSWER
    assert outbox.of(PasswordReissued) == []
    assert await service.reissue("user1@example.com") == REISSUE_ANSWER
    reissued = outbox.of(PasswordReissued)
    assert len(reissued) == 1
    assert isinstance(reissued[0], PasswordReissued)
    assert reissued[0].temporary_password_expires_at == clock.now + timedelta(days=14)
    temporary = Sealer(DEV_SEALING_KEY).open(reissued[0].sealed_temporary_password)
    with pytest.raises(IdentityError):
        await service.login("user1@example.com", NEW_PASSWORD)
    result = await service.login("user1@example.com", temporary)
    assert result.next_step is Stage.PASSWORD_CHANGE
    # The user ID stays: after the password change the user goes straight on.
    assert await service.change_password(result.session_id, "Another#2026", "Another#2026") is Stage.ACTIVE


async def test_operator_is_seeded_and_must_use_an_authenticator(service: IdentityService) -> None:
    await service.seed_operator()
    await service.seed_operator()
    settings = Settings()
    result = await service.login(settings.operator_login, settings.operator_password)
    assert result.next_step is Stage.TWO_STEP_SETUP
    with pytest.raises(IdentityError) as off:
        await service.choose_two_step(result.session_id, use=False)
    assert off.value.code == "totp_required"
    with pytest.raises(IdentityError):
        await service.choose_two_step(result.session_id, use=True, method="sms", phone="09012345678")
    assert isinstance(await service.choose_two_step(result.session_id, use=True, method="totp"), TotpSetup)


async def test_logout_ends_the_session(service: IdentityService, outbox: Outbox) -> None:
    sid = await active_session(service, outbox)
    await service.logout(sid)
    with pytest.raises(IdentityError) as gone:
        await service.grant_token(sid)
    assert gone.value.status == 401
