"""Key material: token signing keys (Ed25519) with key ids, and development keys generated locally.

No key ships with the repository. In development and test, missing keys are generated once under
``.state/keys/`` (or ``$WATCH_KEYS_DIR``) and shared by every process of the checkout; production
refuses to start unless they come from the environment or from secret files.

    python -m shared.keys [folder]     # generate the development keys (make run / make test do it)
"""

import base64
import hashlib
import os
import re
import secrets
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ROOT = Path(__file__).resolve().parents[3]
TOKEN_PRIVATE_FILE = "token-private.pem"
TOKEN_PUBLIC_FILE = "token-public.pem"
TOTP_KEYS_FILE = "totp-keys.txt"

# The Ed25519 public key whose private half was once committed to the repository: tokens it verifies
# may have been forged by anyone, so it is never accepted, whatever the environment.
COMPROMISED_PUBLIC_KEYS = frozenset(
    {"MCowBQYDK2VwAyEAxO6EJMKGYYY5hT4evLJTjR3E1EktYTEM1PIzDqfPImg="},
)

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----(.+?)-----END \1-----", re.S)


class InvalidKey(ValueError):
    """Key material that cannot be used."""


def keys_dir() -> Path:
    """Where development keys live."""
    return Path(os.environ.get("WATCH_KEYS_DIR") or ROOT / ".state" / "keys")


def normalize_pem(text: str) -> str:
    """Keys given through a .env file often carry their line breaks as a literal "\\n"."""
    return text.replace("\\n", "\n").strip()


def pem_blocks(text: str) -> list[str]:
    """Every PEM block of ``text`` (a key set may hold several, one after another)."""
    return [m.group(0) for m in _PEM_BLOCK.finditer(normalize_pem(text))]


def key_id(public_key: Ed25519PublicKey) -> str:
    """A stable id of a public key: the first 16 characters of its SHA-256, base64url."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).decode()[:16]


def _spki_base64(public_key: Ed25519PublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def is_compromised(public_key: Ed25519PublicKey) -> bool:
    return _spki_base64(public_key) in COMPROMISED_PUBLIC_KEYS


@lru_cache(maxsize=32)
def load_private_key(pem: str) -> Ed25519PrivateKey:
    """The Ed25519 private key of a PEM text; refuses other kinds and the compromised key."""
    try:
        key = serialization.load_pem_private_key(normalize_pem(pem).encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidKey("the token private key is not a readable PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidKey("the token private key must be an Ed25519 key")
    if is_compromised(key.public_key()):
        raise InvalidKey("the token private key is the compromised development key")
    return key


@lru_cache(maxsize=32)
def load_public_keys(pems: str) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 public keys of one or more PEM blocks, by key id (rotation: old and new together)."""
    found: dict[str, Ed25519PublicKey] = {}
    for block in pem_blocks(pems):
        try:
            key = serialization.load_pem_public_key(block.encode())
        except (ValueError, TypeError) as exc:
            raise InvalidKey("a token public key is not a readable PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidKey("token public keys must be Ed25519 keys")
        if is_compromised(key):
            raise InvalidKey("a token public key is the compromised development key")
        found[key_id(key)] = key
    if not found:
        raise InvalidKey("no token public key given")
    return found


def public_pem(private_key: Ed25519PrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
        .strip()
    )


def read_secret_file(path: str) -> str:
    """The content of a secret file (e.g. /run/secrets/...), stripped."""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise InvalidKey(f"cannot read the secret file {path}") from exc


def _write_once(path: Path, make: Callable[[], str]) -> str:
    """The file's content, creating it atomically first when missing (concurrent starts agree)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.write_text(make() + "\n")
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)  # fails when another process got there first: its content wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def _new_private_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def dev_token_private_key(folder: Path | None = None) -> str:
    """The development signing key of this checkout (generated on first use)."""
    return _write_once((folder or keys_dir()) / TOKEN_PRIVATE_FILE, _new_private_pem)


def dev_token_public_key(folder: Path | None = None) -> str:
    """The development verification key of this checkout."""
    folder = folder or keys_dir()
    private = dev_token_private_key(folder)
    return _write_once(folder / TOKEN_PUBLIC_FILE, lambda: public_pem(load_private_key(private)))


def new_aes_key() -> str:
    """A fresh AES-256 key as ``<key id>:<base64>``."""
    return f"k{secrets.token_hex(4)}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def dev_totp_keys(folder: Path | None = None) -> str:
    """The development key that encrypts TOTP secrets at rest (``<key id>:<base64>``)."""
    return _write_once((folder or keys_dir()) / TOTP_KEYS_FILE, new_aes_key)


def generate_dev_keys(folder: Path | None = None) -> Path:
    """Every development key, created where missing; returns the folder."""
    folder = folder or keys_dir()
    dev_token_public_key(folder)
    dev_totp_keys(folder)
    return folder


if __name__ == "__main__":
    where = generate_dev_keys(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(f"development keys in {where}")
