"""Fixtures of the signup tests: a valid application form as the wizard posts it."""

import copy
from collections.abc import Callable
from typing import Any

import pytest

BASIC: dict[str, Any] = {
    "company_name": "日本電気株式会社",
    "last_name": "日電",
    "first_name": "太郎",
    "department": "",
    "position": "",
    "email": "some@example.com",
    "email_confirmation": "some@example.com",
    "postal_code": "2118666",
    "prefecture": "神奈川県",
    "address": "川崎市中原区下沼部1753",
    "phone": "01023456789",
}

DESTINATION: dict[str, Any] = {
    "company_name": "日本電気株式会社",
    "last_name": "日電",
    "first_name": "太郎",
    "department": "",
    "postal_code": "2118666",
    "prefecture": "神奈川県",
    "address": "川崎市中原区下沼部1753",
    "phone": "01023456789",
    "units": 1,
}

USER: dict[str, Any] = {
    "last_name": "日電",
    "first_name": "太郎",
    "email": "some@example.com",
    "email_confirmation": "some@example.com",
    "mobile": "",
}


def valid_form(**overrides: Any) -> dict[str, Any]:
    """The guide's sample application; keyword arguments replace top-level parts."""
    form: dict[str, Any] = {
        "company": copy.deepcopy(BASIC),
        "destinations": [copy.deepcopy(DESTINATION)],
        "login_users": [copy.deepcopy(USER)],
        "answers": {"chamber_member": "非会員", "chamber_name": "", "member_number": ""},
    }
    form.update(overrides)
    return form


def with_field(path: str, value: Any) -> dict[str, Any]:
    """A valid form with one field (dotted path, list indexes as numbers) set to ``value``."""
    form = valid_form()
    target: Any = form
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return form


@pytest.fixture
def form() -> Callable[..., dict[str, Any]]:
    """Factory of the guide's sample application."""
    return valid_form


@pytest.fixture
def form_with() -> Callable[[str, Any], dict[str, Any]]:
    """Factory of a valid form with one field replaced."""
    return with_field
