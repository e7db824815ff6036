"""Who is calling: signed bearer tokens that every service verifies on its own.

Listings holds the Ed25519 private key and signs API keys (and, later, people's
tokens); every other service holds only the public key, so it verifies a caller
without calling listings and cannot mint credentials itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from shared.settings import Settings

ISSUER = "viken-symbiosis"
ALGORITHM = "EdDSA"
API_KEY_PREFIX = "vpk_"


class InvalidCredentials(Exception):
    """The bearer token is missing, malformed, forged or of the wrong kind."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: for now, a company acting through an API key."""

    company_id: uuid.UUID
    key_id: uuid.UUID
    kind: Literal["api_key"] = "api_key"


def ensure_signing_keys(settings: Settings) -> None:
    """Create the Ed25519 key pair at the configured paths if the private key is missing."""
    private_path, public_path = settings.private_key_path, settings.public_key_path
    if private_path.exists():
        if not public_path.exists():
            _write(public_path, _public_pem(load_private_key(private_path).public_key()), 0o644)
        return
    key = Ed25519PrivateKey.generate()
    _write(
        private_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    _write(public_path, _public_pem(key.public_key()), 0o644)


def _public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    tmp.replace(path)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def issue_api_key(private_key: Ed25519PrivateKey, company_id: uuid.UUID, key_id: uuid.UUID) -> str:
    """A long-lived company API key; shown once, never stored."""
    token = jwt.encode(
        {
            "iss": ISSUER,
            "sub": str(company_id),
            "jti": str(key_id),
            "typ": "api_key",
            "iat": int(datetime.now(UTC).timestamp()),
        },
        private_key,
        algorithm=ALGORITHM,
    )
    return API_KEY_PREFIX + token


class TokenVerifier:
    """Checks bearer credentials against the public key."""

    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self._public_key = public_key

    def verify(self, authorization: str | None) -> Principal:
        if not authorization:
            raise InvalidCredentials("missing Authorization header; send 'Bearer <API key>'")
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise InvalidCredentials("the Authorization header must be 'Bearer <API key>'")
        credential = credential.strip()
        if not credential.startswith(API_KEY_PREFIX):
            raise InvalidCredentials("not an API key of this exchange")
        try:
            claims = jwt.decode(
                credential.removeprefix(API_KEY_PREFIX),
                self._public_key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["iss", "sub", "jti", "typ"]},
            )
            if claims["typ"] != "api_key":
                raise InvalidCredentials("not an API key")
            return Principal(company_id=uuid.UUID(claims["sub"]), key_id=uuid.UUID(claims["jti"]))
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise InvalidCredentials("the API key is not valid") from exc
