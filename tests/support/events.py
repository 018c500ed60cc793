"""Events as the services publish them, for tests of more than one service."""

from shared.events import ApplicationSubmitted, CompanyProfile, DeliveryDestination, LoginUser


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
