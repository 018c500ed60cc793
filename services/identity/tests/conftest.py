"""Fixtures of the identity unit tests: an in-memory repository, a settable clock, captured events."""

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from identity.passwords import Hasher
from identity.repository import InMemoryRepository
from identity.service import IdentityService
from identity.settings import Settings
from shared.events import (
    ApplicationSubmitted,
    CompanyProfile,
    DeliveryDestination,
    Event,
    LoginUser,
)


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


@pytest.fixture
def service(repo: InMemoryRepository, outbox: Outbox, clock: FakeClock) -> IdentityService:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return IdentityService(repo=repo, settings=Settings(), publish=outbox, clock=clock, hasher=Hasher(cheap))


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
