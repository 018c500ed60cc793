"""Issue 8, signing keys: no private key in the repository, none built in, every claim checked."""

import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import keys
from shared.settings import DEV_TOKEN_PRIVATE_KEY

from .conftest import Identity

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# The public half of the key pair that was once committed (public: it cannot sign anything).
ONCE_COMMITTED_PUBLIC = "\n".join(
    [
        "-----BEGIN PUBLIC KEY-----",
        "MCowBQYDK2VwAyEAxO6EJMKGYYY5hT4evLJTjR3E1EktYTEM1PIzDqfPImg=",
        "-----END PUBLIC KEY-----",
    ]
)


def claims(**override: object) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "iss": "watch-identity", "sub": "A-attacker", "cid": "C-ATTACKER", "role": "customer",
        "name": "", "email": "", "iat": now, "exp": now + timedelta(minutes=5), **override,
    }  # fmt: skip


def sign(payload: dict[str, object], private_pem: str, *, kid: str | None = "from-key") -> str:
    key = keys.load_private_key(private_pem)
    headers = {"kid": keys.key_id(key.public_key()) if kid == "from-key" else kid} if kid else None
    return jwt.encode(payload, key, algorithm="EdDSA", headers=headers)


def test_no_private_key_is_kept_in_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    pattern = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\s*\n?\s*[A-Za-z0-9+/]{20,}")
    found = [
        name
        for name in tracked.splitlines()
        if (ROOT / name).is_file() and pattern.search((ROOT / name).read_text(errors="ignore"))
    ]
    assert found == []


def test_the_once_committed_key_is_refused_everywhere() -> None:
    with pytest.raises(keys.InvalidKey):
        keys.load_public_keys(ONCE_COMMITTED_PUBLIC)
    assert ONCE_COMMITTED_PUBLIC.split("\n")[1] not in keys.dev_token_public_key()


def _start_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "from identity.settings import Settings; Settings()"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "AUTH_"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_refuses_to_start_without_keys_or_with_the_old_public_key(tmp_path: Path) -> None:
    fresh = Ed25519PrivateKey.generate()
    private = fresh.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    production = {
        "APP_ENV": "production",
        "WATCH_KEYS_DIR": str(tmp_path),
        "IDENTITY_SEALING_KEY": "ZmFrZS1zZWFsaW5nLWtleS1mb3ItdGhlLXRlc3QtMDA=",
        "IDENTITY_OPERATOR_PASSWORD": "Op#" + uuid.uuid4().hex,
        "IDENTITY_GATEWAY_SECRET": uuid.uuid4().hex,
        "IDENTITY_TOTP_KEYS": keys.new_aes_key(),
    }
    no_keys = _start_settings(production)
    assert no_keys.returncode != 0
    assert "AUTH_TOKEN_PUBLIC_KEY" in no_keys.stderr
    assert list(tmp_path.iterdir()) == []  # nothing generated in production
    no_private = _start_settings({**production, "AUTH_TOKEN_PUBLIC_KEY": keys.public_pem(fresh)})
    assert no_private.returncode != 0
    assert "IDENTITY_TOKEN_PRIVATE_KEY" in no_private.stderr
    old_public = _start_settings(
        {**production, "AUTH_TOKEN_PUBLIC_KEY": ONCE_COMMITTED_PUBLIC, "IDENTITY_TOKEN_PRIVATE_KEY": private}
    )
    assert old_public.returncode != 0
    assert "compromised" in old_public.stderr
    both = _start_settings(
        {**production, "AUTH_TOKEN_PUBLIC_KEY": keys.public_pem(fresh), "IDENTITY_TOKEN_PRIVATE_KEY": private}
    )
    assert both.returncode == 0, both.stderr


@pytest.mark.parametrize(
    "payload",
    [
        claims(cid={"$ne": None}),
        claims(cid=["C-ATTACKER"]),
        claims(sub={"$gt": ""}),
        claims(role="admin"),
        claims(cid=""),
        claims(name={"x": 1}),
        claims(iss="someone-else"),
    ],
    ids=["cid-operator", "cid-list", "sub-operator", "role", "customer-without-company", "name", "issuer"],
)
def test_tokens_with_claims_of_the_wrong_type_or_shape_are_refused(
    identity: Identity, payload: dict[str, object]
) -> None:
    token = sign(payload, DEV_TOKEN_PRIVATE_KEY)
    response = identity.http.get("/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid or missing access token"}  # never the reason


def test_tokens_of_an_unknown_key_or_without_kid_are_refused(identity: Identity) -> None:
    stranger = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    dev_kid = keys.key_id(keys.load_private_key(DEV_TOKEN_PRIVATE_KEY).public_key())
    for token in (
        sign(claims(), stranger),
        sign(claims(), stranger, kid=dev_kid),  # naming the right key does not help
        sign(claims(), DEV_TOKEN_PRIVATE_KEY, kid=None),
    ):
        response = identity.http.get("/users", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json() == {"detail": "invalid or missing access token"}
    good = sign(claims(), DEV_TOKEN_PRIVATE_KEY)
    assert identity.http.get("/users", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_keys_rotate_by_kid_and_a_retired_key_stops_verifying() -> None:
    from shared.auth import Principal, issue_token, verify_token

    def pair() -> tuple[str, str]:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return pem, keys.public_pem(key)

    (old_private, old_public), (new_private, new_public) = pair(), pair()
    alice = Principal("A-alice", "C-ALICE", "customer")
    both = f"{new_public}\n{old_public}"
    assert verify_token(issue_token(alice, private_key=old_private), public_key=both) == alice
    assert verify_token(issue_token(alice, private_key=new_private), public_key=both) == alice
    with pytest.raises(jwt.InvalidTokenError):
        verify_token(issue_token(alice, private_key=old_private), public_key=new_public)
