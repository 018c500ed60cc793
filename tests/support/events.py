"""Events as the services publish them, for tests (and benchmarks) of more than one service."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from shared.events import (
    AccountProvisioned,
    ApplicationSubmitted,
    CompanyProfile,
    DeliveryDestination,
    LoginUser,
    UtmRegistered,
)
from shared.sealing import Sealer
from shared.settings import DEV_SEALING_KEY
from shared.topics import UTM_REGISTERED


def application_submitted(
    number: str = "AAP-TEST0001", company_id: str = "C-TEST0001"
) -> ApplicationSubmitted:
    """An application of one company, one delivery destination of two units and one login user."""
    return ApplicationSubmitted(
        application_number=number,
        company_id=company_id,
        company=CompanyProfile(
            company_name="日本電気株式会社", last_name="日電", first_name="太郎",
            email="taro@example.com", postal_code="2118666", prefecture="神奈川県",
            address="川崎市中原区下沼部1753", phone="0441234567",
        ),
        destinations=[
            DeliveryDestination(
                destination_id="D1", company_name="日本電気株式会社", last_name="日電", first_name="太郎",
                postal_code="2118666", prefecture="神奈川県", address="川崎市中原区下沼部1753",
                phone="0441234567", units=2,
            )
        ],
        login_users=[LoginUser(name="利用者 1", email="user1@example.com", mobile="09012345678")],
    )  # fmt: skip


def application_for(
    email: str, *, company_name: str = "見守り商事株式会社", last_name: str = "見守", first_name: str = "太郎"
) -> ApplicationSubmitted:
    """An application of a new company (number and ID of its own) whose contact and one login user is
    ``email``: one delivery destination of one unit."""
    tag = uuid.uuid4().hex[:8].upper()
    return ApplicationSubmitted(
        application_number=f"AAP-{tag}",
        company_id=f"C-{tag}",
        company=CompanyProfile(
            company_name=company_name, last_name=last_name, first_name=first_name, email=email,
            postal_code="5300001", prefecture="大阪府", address="大阪市北区梅田1-1", phone="0661234567",
        ),
        destinations=[
            DeliveryDestination(
                destination_id="D1", company_name=company_name, last_name=last_name, first_name=first_name,
                postal_code="5300001", prefecture="大阪府", address="大阪市北区梅田1-1",
                phone="0661234567", units=1,
            )
        ],
        login_users=[LoginUser(name=f"{last_name} {first_name}", email=email, mobile="09012345678")],
    )  # fmt: skip


def company_registered(
    company_id: str,
    email: str,
    serials: Sequence[str],
    *,
    account_id: str,
    login_id: str,
    company_name: str,
    user_name: str,
    unit_name: str = "UTM",
    mac_prefix: str = "00:09:0F:00",
    temporary_password: str = "Temp-Pass-1",
    portal_url: str = "http://portal.example/",
) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) of a company's account, as identity publishes it, and of its units (one a
    serial, named ``<unit_name>-1``, ``-2``…, MAC addresses below ``mac_prefix``), as the device
    registry does: what the pipeline's unit projection and the notifier's recipients learn from.
    """
    account = AccountProvisioned(
        company_id=company_id, company_name=company_name, account_id=account_id, name=user_name,
        email=email, login_id=login_id,
        sealed_temporary_password=Sealer(DEV_SEALING_KEY).seal(temporary_password),
        temporary_password_expires_at=datetime.now(UTC) + timedelta(days=1), portal_url=portal_url,
    )  # fmt: skip
    items = [(account.TOPIC, company_id.encode(), account.model_dump_json().encode())]
    for i, serial in enumerate(serials):
        unit = UtmRegistered(
            company_id=company_id, unit_id=f"U-{serial}", serial_number=serial,
            mac_address=f"{mac_prefix}:{i // 256:02X}:{i % 256:02X}", name=f"{unit_name}-{i + 1}",
        )  # fmt: skip
        items.append((UTM_REGISTERED, serial.encode(), unit.model_dump_json().encode()))
    return items
