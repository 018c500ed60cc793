"""Access tokens and sealed secrets."""

from datetime import timedelta

import jwt
import pytest
from cryptography.fernet import Fernet

from shared.auth import Principal, issue_token, verify_token
from shared.sealing import Sealer, SealError
from shared.settings import DEV_SEALING_KEY, DEV_TOKEN_PRIVATE_KEY, DEV_TOKEN_PUBLIC_KEY, CommonSettings

ALICE = Principal(account_id="A1", company_id="C-1", role="customer", name="日電 太郎", email="a@example.jp")


def test_token_round_trip_names_user_company_and_role() -> None:
    token = issue_token(ALICE, private_key=DEV_TOKEN_PRIVATE_KEY)
    assert verify_token(token, public_key=DEV_TOKEN_PUBLIC_KEY) == ALICE


def test_expired_token_is_refused() -> None:
    token = issue_token(ALICE, private_key=DEV_TOKEN_PRIVATE_KEY, ttl=timedelta(seconds=-1))
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_token(token, public_key=DEV_TOKEN_PUBLIC_KEY)


def test_tampered_token_is_refused() -> None:
    token = issue_token(ALICE, private_key=DEV_TOKEN_PRIVATE_KEY)
    forged = jwt.encode(
        {"sub": "A1", "cid": "C-2", "role": "operator"},
        "a-guessed-secret-of-thirty-two-bytes!",
        algorithm="HS256",
    )
    with pytest.raises(jwt.InvalidTokenError):
        verify_token(forged, public_key=DEV_TOKEN_PUBLIC_KEY)
    with pytest.raises(jwt.InvalidTokenError):
        verify_token(token[:-4] + "AAAA", public_key=DEV_TOKEN_PUBLIC_KEY)


def test_sealed_secret_opens_only_with_the_same_key() -> None:
    sealed = Sealer(DEV_SEALING_KEY).seal("Tmp#Pass1234")
    assert "Tmp#Pass1234" not in sealed
    assert Sealer(DEV_SEALING_KEY).open(sealed) == "Tmp#Pass1234"
    with pytest.raises(SealError):
        Sealer(Fernet.generate_key().decode()).open(sealed)


class _Service(CommonSettings):
    database: str = "x"
    sealing_key: str = DEV_SEALING_KEY


def test_production_refuses_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ValueError, match="placeholder"):
        _Service()
    monkeypatch.setenv("APP_ENV", "development")
    assert _Service().sealing_key == DEV_SEALING_KEY
