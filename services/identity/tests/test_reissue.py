"""Reissue: same answer at once, current password kept, second factor kept, 24 h validity."""

from datetime import timedelta

import pyotp
import pytest

from identity import errors
from identity.models import Stage
from identity.reissue import REISSUE_ANSWER
from identity.repository import InMemoryRepository
from identity.service import IdentityService
from identity.two_step import TotpSetup
from shared.events import PasswordReissued

from .conftest import NEW_PASSWORD, SEALER, FakeClock, Flow, Outbox, make_service


async def reissued_password(service: IdentityService, outbox: Outbox, identifier: str) -> str:
    assert await service.reissue.request(identifier, client="192.0.2.1") == REISSUE_ANSWER
    await service.reissue.drain()
    event = outbox.of(PasswordReissued)[-1]
    assert isinstance(event, PasswordReissued)
    return SEALER.open(event.sealed_temporary_password)


async def test_the_answer_is_the_same_and_the_work_is_done_off_the_request(
    service: IdentityService, outbox: Outbox
) -> None:
    flow = Flow(service, outbox)
    email = await flow.active()
    assert await service.reissue.request("nobody@example.com", client="192.0.2.1") == REISSUE_ANSWER
    assert await service.reissue.request(email, client="192.0.2.1") == REISSUE_ANSWER
    assert outbox.of(PasswordReissued) == []  # nothing done yet on the request path
    await service.reissue.drain()
    assert len(outbox.of(PasswordReissued)) == 1
    with pytest.raises(errors.InvalidInput):
        await service.reissue.request("  ", client="192.0.2.1")


async def test_the_current_password_and_sessions_survive_a_reissue(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    email = await flow.active()
    temporary = await reissued_password(service, outbox, email)
    event = outbox.of(PasswordReissued)[-1]
    assert isinstance(event, PasswordReissued)
    assert event.temporary_password_expires_at == clock.now + timedelta(hours=24)
    await service.login.grant_token(flow.sid)  # the session is still there
    other = Flow(service, outbox)
    assert await other.login(email, NEW_PASSWORD) == "complete"
    assert await other.login(email, temporary) == "password_change"
    step = other.follow(await service.setup.change_password(other.sid, "Another#2026", "Another#2026"))
    assert step.stage is Stage.ACTIVE
    # Once used, the old password and the temporary one are gone, and so are the other sessions.
    for password in (NEW_PASSWORD, temporary):
        with pytest.raises(errors.BadCredentials):
            await Flow(service, outbox).login(email, password)
    with pytest.raises(errors.NoSession):
        await service.login.grant_token(flow.sid)


async def test_the_temporary_password_expires_after_24_hours(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    email = await flow.active()
    temporary = await reissued_password(service, outbox, email)
    clock.advance(hours=24)
    with pytest.raises(errors.BadCredentials):
        await flow.login(email, temporary, client="192.0.2.50")
    assert await flow.login(email, NEW_PASSWORD, client="192.0.2.51") == "complete"


async def test_a_reissued_password_still_asks_for_the_second_factor_first(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    email = await flow.active(two_step="totp")
    setup = await service.two_step.choose(flow.sid, use=True, method="totp")
    assert isinstance(setup, TotpSetup)
    flow.follow(await service.two_step.confirm_totp(flow.sid, pyotp.TOTP(setup.secret).at(clock.now)))
    temporary = await reissued_password(service, outbox, email)
    assert await flow.login(email, temporary) == "second_factor"
    with pytest.raises(errors.WrongStep):
        await service.setup.change_password(flow.sid, "Another#2026", "Another#2026")
    with pytest.raises(errors.WrongStep):
        await service.login.grant_token(flow.sid)
    clock.advance(seconds=30)
    step = flow.follow(await service.two_step.verify(flow.sid, pyotp.TOTP(setup.secret).at(clock.now)))
    assert step.stage is Stage.PASSWORD_CHANGE
    step = flow.follow(await service.setup.change_password(flow.sid, "Another#2026", "Another#2026"))
    assert step.stage is Stage.ACTIVE
    account = next(iter(service.ctx.repo.accounts.values()))  # type: ignore[attr-defined]
    assert account.two_step.method == "totp"


async def test_reissues_are_limited_per_account_and_per_client(
    repo: InMemoryRepository, outbox: Outbox, clock: FakeClock
) -> None:
    service = make_service(repo, outbox, clock, reissue_limit_per_hour=2, reissue_limit_per_client=3)
    flow = Flow(service, outbox)
    email = await flow.active()
    for _ in range(3):
        await service.reissue.request(email, client="192.0.2.1")
    with pytest.raises(errors.Throttled):
        await service.reissue.request(email, client="192.0.2.1")
    await service.reissue.drain()
    assert len(outbox.of(PasswordReissued)) == 2
