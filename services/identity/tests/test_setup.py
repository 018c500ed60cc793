"""Account setup: password rules, the user ID proven by a mailed code, other sessions ending."""

import pytest

from identity import errors
from identity.context import StepResult
from identity.models import Stage
from identity.repository import InMemoryRepository
from identity.service import IdentityService
from shared.events import AccountEmailChanged, NotificationRequested

from .conftest import NEW_PASSWORD, SEALER, FakeClock, Flow, Outbox, application


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
    flow = Flow(service, outbox)
    await flow.login(*await flow.provision())
    with pytest.raises(errors.InvalidInput) as refused:
        await service.setup.change_password(flow.sid, new, confirm)
    assert refused.value.errors is not None
    assert message in refused.value.errors[field]


async def test_new_password_may_be_neither_the_temporary_one_nor_the_user_id(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository
) -> None:
    flow = Flow(service, outbox)
    login_id, temporary = await flow.provision()
    await flow.login(login_id, temporary)
    with pytest.raises(errors.InvalidInput) as same:
        await service.setup.change_password(flow.sid, temporary, temporary)
    assert "仮パスワードと同じ" in same.value.message
    account = next(iter(repo.accounts.values()))
    repo.accounts[account.account_id] = account.model_copy(update={"login_id": "abc#12345"})
    with pytest.raises(errors.InvalidInput) as as_id:
        await service.setup.change_password(flow.sid, "abc#12345", "abc#12345")
    assert "ユーザIDと同じ" in as_id.value.message


async def test_a_password_change_ends_every_other_session(service: IdentityService, outbox: Outbox) -> None:
    flow = Flow(service, outbox)
    email = await flow.active()
    other = Flow(service, outbox)
    await other.login(email, NEW_PASSWORD)
    flow.follow(await service.setup.change_password(flow.sid, "Another#2026", "Another#2026"))
    await service.login.grant_token(flow.sid)
    with pytest.raises(errors.NoSession):
        await service.login.grant_token(other.sid)


def mailed_code(outbox: Outbox) -> tuple[str, str]:
    event = outbox.of(NotificationRequested)[-1]
    assert isinstance(event, NotificationRequested)
    assert event.template == "login_id_verification"
    assert "code" not in event.context  # only sealed on the wire
    return event.recipient, SEALER.open(event.context["sealed_code"])


async def test_a_new_address_becomes_the_user_id_only_with_the_code_mailed_to_it(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository
) -> None:
    flow = Flow(service, outbox)
    await flow.login(*await flow.provision())
    flow.follow(await service.setup.change_password(flow.sid, NEW_PASSWORD, NEW_PASSWORD))
    with pytest.raises(errors.InvalidInput):
        await service.setup.request_login_id(flow.sid, "not-an-email")
    assert await service.setup.request_login_id(flow.sid, "hanako@example.com") == "hanako@example.com"
    recipient, code = mailed_code(outbox)
    assert recipient == "hanako@example.com"
    account = next(iter(repo.accounts.values()))
    assert (account.login_id, account.email) != ("hanako@example.com", "hanako@example.com")
    assert outbox.of(AccountEmailChanged) == []
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(errors.InvalidInput):
        await service.setup.confirm_login_id(flow.sid, wrong)
    step = flow.follow(await service.setup.confirm_login_id(flow.sid, code))
    assert step.stage is Stage.TWO_STEP_SETUP
    account = next(iter(repo.accounts.values()))
    assert (account.login_id, account.email) == ("hanako@example.com", "hanako@example.com")
    changed = outbox.of(AccountEmailChanged)
    assert len(changed) == 1
    assert isinstance(changed[0], AccountEmailChanged)
    assert changed[0].email == "hanako@example.com"


async def test_whether_an_address_is_taken_is_told_only_after_the_code(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    await service.provision(application(users=2))
    first, second = Flow(service, outbox), Flow(service, outbox)
    # user1 takes their own (already proven) address; user2 then tries the same address.
    from shared.events import AccountProvisioned

    events = [e for e in outbox.of(AccountProvisioned) if isinstance(e, AccountProvisioned)]
    for flow, event in zip((first, second), events, strict=True):
        await flow.login(event.login_id, SEALER.open(event.sealed_temporary_password))
        flow.follow(await service.setup.change_password(flow.sid, NEW_PASSWORD, NEW_PASSWORD))
    result = await service.setup.request_login_id(first.sid, "user1@example.com")
    assert isinstance(result, StepResult)
    assert await service.setup.request_login_id(second.sid, "USER1@example.com") == "USER1@example.com"
    _, code = mailed_code(outbox)
    with pytest.raises(errors.Conflict) as taken:
        await service.setup.confirm_login_id(second.sid, code)
    assert taken.value.code == "login_id_taken"


async def test_confirmation_codes_expire_and_allow_five_tries(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    await flow.active()
    await service.setup.request_login_id(flow.sid, "new@example.com")
    _, code = mailed_code(outbox)
    clock.advance(minutes=30)
    with pytest.raises(errors.InvalidInput) as expired:
        await service.setup.confirm_login_id(flow.sid, code)
    assert "有効期限" in expired.value.message
    await service.setup.request_login_id(flow.sid, "new@example.com")
    _, code = mailed_code(outbox)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(errors.InvalidInput):
            await service.setup.confirm_login_id(flow.sid, wrong)
    with pytest.raises(errors.InvalidInput) as exhausted:
        await service.setup.confirm_login_id(flow.sid, code)
    assert "上限" in exhausted.value.message
    with pytest.raises(errors.Throttled):
        await service.setup.request_login_id(flow.sid, "new@example.com")  # again at once: too soon
