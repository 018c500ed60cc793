"""Login and sessions: the first login through setup, tokens, brute-force waits that spare the victim."""

from datetime import timedelta

import jwt
import pytest
from argon2 import PasswordHasher

from identity import errors
from identity.context import StepResult
from identity.models import Stage
from identity.passwords import Hasher
from identity.repository import InMemoryRepository
from identity.service import IdentityService
from identity.settings import Settings
from shared.auth import verify_token
from shared.settings import DEV_TOKEN_PUBLIC_KEY

from .conftest import NEW_PASSWORD, FakeClock, Flow, Outbox, make_service

ATTACKER = "203.0.113.66"
VICTIM = "198.51.100.7"


async def test_first_login_leads_through_password_user_id_and_two_step_to_a_token(
    service: IdentityService, outbox: Outbox
) -> None:
    flow = Flow(service, outbox)
    login_id, temporary = await flow.provision()
    assert await flow.login(login_id, temporary) == "password_change"
    with pytest.raises(errors.WrongStep):
        await service.login.grant_token(flow.sid)
    first_sid = flow.sid
    step = flow.follow(await service.setup.change_password(flow.sid, NEW_PASSWORD, NEW_PASSWORD))
    assert step.stage is Stage.USER_ID_SETUP
    assert step.session_id
    assert step.session_id != first_sid
    with pytest.raises(errors.NoSession):
        await service.sessions.load(first_sid)  # the id was renewed: the old one is dead
    setup = await service.setup.request_login_id(flow.sid, "user1@example.com")
    assert not isinstance(setup, str)
    assert flow.follow(setup).stage is Stage.TWO_STEP_SETUP
    chosen = await service.two_step.choose(flow.sid, use=False)
    assert isinstance(chosen, StepResult)
    flow.follow(chosen)
    grant = await service.login.grant_token(flow.sid)
    assert jwt.get_unverified_header(grant.access_token)["kid"]
    principal = verify_token(grant.access_token, public_key=DEV_TOKEN_PUBLIC_KEY)
    assert (principal.company_id, principal.role) == ("C-TEST0001", "customer")
    assert await flow.login("User1@Example.com", NEW_PASSWORD) == "complete"


async def test_unknown_user_and_wrong_password_get_the_same_answer(
    service: IdentityService, outbox: Outbox
) -> None:
    flow = Flow(service, outbox)
    login_id, _ = await flow.provision()
    with pytest.raises(errors.BadCredentials) as unknown:
        await flow.login("nobody0000aa", "Wrong#pass1")
    with pytest.raises(errors.BadCredentials) as wrong:
        await flow.login(login_id, "Wrong#pass1")
    assert unknown.value.body() == wrong.value.body()


async def test_failures_from_one_client_stop_that_client_not_the_owner(
    service: IdentityService, outbox: Outbox, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    login_id, temporary = await flow.provision()
    for _ in range(5):
        with pytest.raises(errors.BadCredentials):
            await flow.login(login_id, "Wrong#pass1", client=ATTACKER)
        clock.advance(seconds=20)  # past each growing wait
    with pytest.raises(errors.Throttled):
        await flow.login(login_id, temporary, client=ATTACKER)  # even the right password, from there
    assert await flow.login(login_id, temporary, client=VICTIM) == "password_change"


async def test_waits_grow_with_every_failure_and_hold_back_only_clients_that_failed(
    repo: InMemoryRepository, outbox: Outbox, clock: FakeClock
) -> None:
    service = make_service(repo, outbox, clock, failures_per_client=50)
    flow = Flow(service, outbox)
    login_id, temporary = await flow.provision()
    assert [service.throttle.wait_for(n).total_seconds() for n in (1, 2, 3, 4, 5, 6)] == [0, 0, 2, 4, 8, 16]
    assert service.throttle.wait_for(40) == timedelta(minutes=15)
    for _ in range(3):
        with pytest.raises(errors.BadCredentials):
            await flow.login(login_id, "Wrong#pass1", client=ATTACKER)
    with pytest.raises(errors.Throttled):
        await flow.login(login_id, "Wrong#pass1", client=ATTACKER)  # within the 2 s wait
    clock.advance(seconds=2)
    with pytest.raises(errors.BadCredentials):
        await flow.login(login_id, "Wrong#pass1", client=ATTACKER)
    clock.advance(seconds=3)
    with pytest.raises(errors.Throttled):
        await flow.login(login_id, "Wrong#pass1", client=ATTACKER)  # the next wait is 4 s
    # Meanwhile the owner, from a client that never failed, gets in.
    assert await flow.login(login_id, temporary, client=VICTIM) == "password_change"


async def test_unknown_user_ids_are_throttled_exactly_like_known_ones(
    service: IdentityService, outbox: Outbox
) -> None:
    flow = Flow(service, outbox)
    login_id, _ = await flow.provision()
    answers = []
    for target in (login_id, "nobody0000aa"):
        seen = []
        for _ in range(6):
            try:
                await flow.login(target, "Wrong#pass1", client=ATTACKER)
            except errors.IdentityError as exc:
                seen.append((type(exc).__name__, exc.body()))
        answers.append(seen)
    assert answers[0] == answers[1]
    assert answers[0][-1][0] == "Throttled"


async def test_each_client_has_a_budget_and_a_missing_client_is_still_limited(
    repo: InMemoryRepository, outbox: Outbox, clock: FakeClock
) -> None:
    service = make_service(repo, outbox, clock, rate_limit_per_client=3)
    for i in range(3):
        with pytest.raises(errors.BadCredentials):
            await service.login.login(f"someone{i}", "x", client="")
    with pytest.raises(errors.Throttled):
        await service.login.login("someone9", "x", client="")
    with pytest.raises(errors.BadCredentials):
        await service.login.login("someone9", "x", client=VICTIM)


async def test_logout_ends_the_session(service: IdentityService, outbox: Outbox) -> None:
    flow = Flow(service, outbox)
    await flow.active()
    await service.login.logout(flow.sid)
    with pytest.raises(errors.NoSession):
        await service.login.grant_token(flow.sid)


async def test_a_hash_with_old_parameters_verifies_and_is_re_hashed_with_the_current_ones_on_login(
    repo: InMemoryRepository, outbox: Outbox, clock: FakeClock
) -> None:
    def hashing(time_cost: int, memory_cost: int, parallelism: int) -> IdentityService:
        hasher = Hasher(PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism))
        return IdentityService(repo=repo, settings=Settings(), publish=outbox, clock=clock, hasher=hasher)

    old = hashing(3, 2048, 2)
    login_id, temporary = await Flow(old, outbox).provision()
    account = await repo.account_by_login_id(login_id)
    assert account is not None
    assert account.password_hash.startswith("$argon2id$v=19$m=2048,t=3,p=2$")
    current = hashing(2, 1024, 1)
    flow = Flow(current, outbox)
    with pytest.raises(errors.BadCredentials):
        await flow.login(login_id, "Wrong#pass1")
    still_old = await repo.account_by_login_id(login_id)
    assert still_old is not None
    assert still_old.password_hash == account.password_hash  # a failed login changes nothing
    assert await flow.login(login_id, temporary) == "password_change"
    upgraded = await repo.account_by_login_id(login_id)
    assert upgraded is not None
    assert upgraded.password_hash.startswith("$argon2id$v=19$m=1024,t=2,p=1$")
    assert (upgraded.temporary, upgraded.temporary_expires_at) == (
        account.temporary,
        account.temporary_expires_at,
    )
    assert await flow.login(login_id, temporary) == "password_change"  # the new hash verifies
    again = await repo.account_by_login_id(login_id)
    assert again is not None
    assert again.password_hash == upgraded.password_hash  # current parameters: not re-hashed again
