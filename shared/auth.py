"""Who is calling: signed bearer tokens that every service verifies on its own.

Listings holds the Ed25519 private key and signs API keys and people's access tokens;
every other service holds only the public key, so it verifies a caller without calling
listings and cannot mint credentials itself. Access tokens expire; API keys live until
revoked. Every service keeps what was revoked before it ran out (``shared.revocations``):
revoked keys, disabled people (all their tokens) and tokens ended by signing out.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ISSUER = "viken-symbiosis"
ALGORITHM = "EdDSA"
API_KEY_PREFIX = "vpk_"


class InvalidCredentials(Exception):
    """The bearer token is missing, malformed, forged, expired or of the wrong kind."""


Role = Literal["member", "admin", "park_admin", "partner"]
CredentialKind = Literal["person", "api_key"]

# What each role may do; a credential carries its scopes, services check them.
COMPANY_SCOPES = frozenset(
    {
        "company:read",
        "company:write",
        "listings:read",
        "listings:write",
        "trades:read",
        "trades:write",
        "inbox:read",
    }
)
ADMIN_SCOPES = COMPANY_SCOPES | {"company:admin"}
PARK_ADMIN_SCOPES = frozenset(
    {"park:read", "park:admin", "listings:read", "trades:read", "events:read"}
)
PARTNER_SCOPES = frozenset({"listings:read", "events:read"})
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "member": COMPANY_SCOPES,
    "admin": ADMIN_SCOPES,
    "park_admin": PARK_ADMIN_SCOPES,
    "partner": PARTNER_SCOPES,
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a person (signed in) or an API key."""

    subject_id: uuid.UUID
    company_id: uuid.UUID | None
    role: Role
    kind: CredentialKind
    scopes: frozenset[str] = field(default_factory=frozenset)
    token_id: uuid.UUID | None = None  # an access token's own id (``jti``), to end it alone
    expires_at: float | None = None  # an access token's expiry (epoch seconds)

    @property
    def credential_ids(self) -> tuple[uuid.UUID, ...]:
        """The ids a revocation of this credential is recorded under: the key; or the
        person and the token."""
        return (self.subject_id,) + ((self.token_id,) if self.token_id else ())

    @property
    def is_park_admin(self) -> bool:
        return self.role == "park_admin"

    def may(self, scope: str) -> bool:
        return scope in self.scopes


class SigningKeyPaths(Protocol):
    """Where the token-signing key pair is: the listings service's settings (only it signs)."""

    @property
    def private_key_path(self) -> Path: ...

    @property
    def public_key_path(self) -> Path: ...


def ensure_signing_keys(settings: SigningKeyPaths) -> None:
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


def _sign(private_key: Ed25519PrivateKey, claims: dict[str, Any]) -> str:
    return jwt.encode(
        {"iss": ISSUER, "iat": int(time.time()), **claims}, private_key, algorithm=ALGORITHM
    )


def issue_api_key(
    private_key: Ed25519PrivateKey,
    key_id: uuid.UUID,
    company_id: uuid.UUID | None,
    role: Role,
) -> str:
    """A long-lived API key; shown once, never stored. Revocable by its id."""
    return API_KEY_PREFIX + _sign(
        private_key,
        {
            "sub": str(key_id),
            "company": str(company_id) if company_id else None,
            "role": role,
            "typ": "api_key",
        },
    )


def issue_access_token(
    private_key: Ed25519PrivateKey,
    person_id: uuid.UUID,
    company_id: uuid.UUID | None,
    role: Role,
    lifetime_seconds: int,
) -> str:
    """A person's short-lived token after signing in; its ``jti`` ends it alone (sign-out)."""
    return _sign(
        private_key,
        {
            "sub": str(person_id),
            "jti": str(uuid.uuid4()),
            "company": str(company_id) if company_id else None,
            "role": role,
            "typ": "access",
            "exp": int(time.time()) + lifetime_seconds,
        },
    )


class TokenVerifier:
    """Checks bearer credentials against the public key, offline.

    A credential found valid is remembered (the last ``remembered`` of them): the same bytes
    carry the same signature and claims, so its next request is not checked against the key
    again (an Ed25519 verification for every request of a busy API key), only against the
    clock: an access token is refused once it expires, whether remembered or not. Revocation
    is not this class's to know: the services check it on every request."""

    def __init__(self, public_key: Ed25519PublicKey, remembered: int = 4096) -> None:
        self._public_key = public_key
        self._remembered = remembered
        self._valid: OrderedDict[str, Principal] = OrderedDict()

    def verify(self, authorization: str | None) -> Principal:
        if not authorization:
            raise InvalidCredentials(
                "missing Authorization header; send 'Bearer <API key or access token>'"
            )
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise InvalidCredentials("the Authorization header must be 'Bearer <credential>'")
        known = self._valid.get(credential)
        if known is not None:
            if known.expires_at is not None and known.expires_at <= time.time():
                del self._valid[credential]
                raise InvalidCredentials("the access token has expired; sign in again")
            self._valid.move_to_end(credential)
            return known
        principal = self._checked(credential)
        self._valid[credential] = principal
        if len(self._valid) > self._remembered:
            self._valid.popitem(last=False)
        return principal

    def _checked(self, credential: str) -> Principal:
        expected = "api_key" if credential.startswith(API_KEY_PREFIX) else "access"
        try:
            claims = jwt.decode(
                credential.removeprefix(API_KEY_PREFIX),
                self._public_key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["iss", "sub", "typ", "role"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidCredentials("the access token has expired; sign in again") from exc
        except jwt.PyJWTError as exc:
            raise InvalidCredentials("the credential is not valid") from exc
        role = claims.get("role")
        if claims.get("typ") != expected or role not in ROLE_SCOPES:
            raise InvalidCredentials("the credential is not valid")
        if expected == "access" and "exp" not in claims:
            raise InvalidCredentials("the credential is not valid")
        try:
            company = claims.get("company")
            token_id = claims.get("jti")
            return Principal(
                subject_id=uuid.UUID(claims["sub"]),
                company_id=uuid.UUID(company) if company else None,
                role=role,
                kind="api_key" if expected == "api_key" else "person",
                scopes=ROLE_SCOPES[role],
                token_id=uuid.UUID(token_id) if token_id and expected == "access" else None,
                expires_at=float(claims["exp"]) if expected == "access" else None,
            )
        except (ValueError, TypeError) as exc:
            raise InvalidCredentials("the credential is not valid") from exc
