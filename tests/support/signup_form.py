"""The application wizard's form as the portal posts it (the gateway's /signup/applications, signup's
/applications)."""

from typing import Any


def application_form(email: str = "some@example.com") -> dict[str, Any]:
    """A valid form (a new one at each call): one company whose contact and one login user is
    ``email``, one delivery destination of one unit."""
    return {
        "company": {
            "company_name": "日本電気株式会社",
            "last_name": "日電",
            "first_name": "太郎",
            "email": email,
            "email_confirmation": email,
            "postal_code": "211-8666",
            "prefecture": "神奈川県",
            "address": "川崎市中原区下沼部1753",
            "phone": "01023456789",
        },
        "destinations": [
            {
                "company_name": "日本電気株式会社",
                "last_name": "日電",
                "first_name": "太郎",
                "postal_code": "2118666",
                "prefecture": "神奈川県",
                "address": "川崎市中原区下沼部1753",
                "phone": "01023456789",
                "units": "1",
            }
        ],
        "login_users": [
            {"last_name": "日電", "first_name": "太郎", "email": email, "email_confirmation": email}
        ],
        "answers": {"chamber_member": "非会員"},
    }
