"""Fixtures of the identity unit tests: an in-memory repository, a settable clock, captured events."""

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from identity.context import StepResult
from identity.passwords import Hasher
from identity.repository import InMemoryRepository
from identity.service import IdentityService
from identity.settings import Settings
from shared.events import (
    AccountProvisioned,
    ApplicationSubmitted,
    CompanyProfile,
    DeliveryDestination,
    Event,
    LoginUser,
)
from shared.sealing import Sealer
from shared.settings import DEV_SEALING_KEY

NEW_PASSWORD = "Kawasaki#2026"
SEALER = Sealer(DEV_SEALING_KEY)
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Outbox:
    """Events the service published, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[Event, str]] = []

    async def __call__(self, event: Event, key: str) -> None:
        self.events.append((event, key))

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e, _ in self.events if isinstance(e, kind)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def repo() -> InMemoryRepository:
    return InMemoryRepository()


def make_service(
    repo: InMemoryRepository, outbox: Outbox, clock: FakeClock, **settings: object
) -> IdentityService:
    return IdentityService(
        repo=repo, settings=Settings(**settings), publish=outbox, clock=clock, hasher=Hasher(CHEAP)
    )


@pytest.fixture
def service(repo: InMemoryRepository, outbox: Outbox, clock: FakeClock) -> IdentityService:
    return make_service(repo, outbox, clock)


class Flow:
    """A user going through the use cases, following the session id as each step renews it."""

    def __init__(self, service: IdentityService, outbox: Outbox, client: str = "198.51.100.7") -> None:
        self.service = service
        self.outbox = outbox
        self.client = client
        self.sid = ""

    def follow(self, result: StepResult) -> StepResult:
        if result.session_id:
            self.sid = result.session_id
        return result

    async def provision(self, **kwargs: object) -> tuple[str, str]:
        """Provision one user; their user ID and the temporary password from the sealed event."""
        await self.service.provision(application(**kwargs))  # type: ignore[arg-type]
        event = self.outbox.of(AccountProvisioned)[-1]
        assert isinstance(event, AccountProvisioned)
        return event.login_id, SEALER.open(event.sealed_temporary_password)

    async def login(self, login_id: str, password: str, client: str | None = None) -> str:
        result = await self.service.login.login(login_id, password, client=client or self.client)
        self.sid = result.session_id
        return result.next_step.value

    async def active(self, two_step: str = "none", email: str = "user1@example.com") -> str:
        """Through the whole first-login setup; returns the user ID."""
        login_id, temporary = await self.provision()
        await self.login(login_id, temporary)
        self.follow(await self.service.setup.change_password(self.sid, NEW_PASSWORD, NEW_PASSWORD))
        result = await self.service.setup.request_login_id(self.sid, email)
        assert isinstance(result, StepResult)
        self.follow(result)
        if two_step == "none":
            chosen = await self.service.two_step.choose(self.sid, use=False)
            assert isinstance(chosen, StepResult)
            self.follow(chosen)
        return email


def application(
    number: str = "AAP-TEST0001", users: int = 1, company_id: str = "C-TEST0001"
) -> ApplicationSubmitted:
    """An application as signup publishes it."""
    return ApplicationSubmitted(
        application_number=number,
        company_id=company_id,
        company=CompanyProfile(
            company_name="日本電気株式会社",
            last_name="日電",
            first_name="太郎",
            email="taro@example.com",
            postal_code="2118666",
            prefecture="神奈川県",
            address="川崎市中原区下沼部1753",
            phone="0441234567",
        ),
        destinations=[
            DeliveryDestination(
                destination_id="D1",
                company_name="日本電気株式会社",
                last_name="日電",
                first_name="太郎",
                postal_code="2118666",
                prefecture="神奈川県",
                address="川崎市中原区下沼部1753",
                phone="0441234567",
                units=2,
            )
        ],
        login_users=[
            LoginUser(name=f"利用者 {i + 1}", email=f"user{i + 1}@example.com", mobile="09012345678")
            for i in range(users)
        ],
    )
