import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import (
    API_KEY_PREFIX,
    InvalidCredentials,
    TokenVerifier,
    issue_access_token,
    issue_api_key,
)

KEY = Ed25519PrivateKey.generate()
VERIFIER = TokenVerifier(KEY.public_key())


def test_an_access_token_identifies_a_person_and_their_scopes() -> None:
    person, company = uuid.uuid4(), uuid.uuid4()
    token = issue_access_token(KEY, person, company, "member", 60)
    principal = VERIFIER.verify(f"Bearer {token}")
    assert (principal.subject_id, principal.company_id, principal.kind) == (
        person,
        company,
        "person",
    )
    assert principal.may("listings:write") and not principal.may("company:admin")


def test_an_expired_access_token_is_refused_with_a_reason() -> None:
    token = issue_access_token(KEY, uuid.uuid4(), uuid.uuid4(), "admin", -5)
    with pytest.raises(InvalidCredentials, match="expired"):
        VERIFIER.verify(f"Bearer {token}")


def test_partner_keys_have_no_company_and_read_only_scopes() -> None:
    principal = VERIFIER.verify("Bearer " + issue_api_key(KEY, uuid.uuid4(), None, "partner"))
    assert principal.company_id is None and principal.kind == "api_key"
    assert principal.may("listings:read") and not principal.may("listings:write")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Token abc",
        "Bearer ",
        # an API key presented without its prefix is not an access token
        "Bearer " + issue_api_key(KEY, uuid.uuid4(), uuid.uuid4(), "admin")[len(API_KEY_PREFIX) :],
        # an access token dressed as an API key
        "Bearer " + API_KEY_PREFIX + issue_access_token(KEY, uuid.uuid4(), None, "park_admin", 60),
        # signed by someone else
        "Bearer "
        + issue_access_token(Ed25519PrivateKey.generate(), uuid.uuid4(), None, "park_admin", 60),
    ],
)
def test_anything_else_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidCredentials):
        VERIFIER.verify(header)


def test_a_remembered_access_token_is_still_refused_once_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verifier = TokenVerifier(KEY.public_key())
    token = issue_access_token(KEY, uuid.uuid4(), uuid.uuid4(), "member", 60)
    first = verifier.verify(f"Bearer {token}")
    assert verifier.verify(f"Bearer {token}") is first  # remembered, not checked again
    assert first.expires_at is not None
    later = first.expires_at + 1
    monkeypatch.setattr("shared.auth.time.time", lambda: later)
    with pytest.raises(InvalidCredentials, match="expired"):
        verifier.verify(f"Bearer {token}")


def test_only_the_exact_bytes_of_a_valid_credential_are_remembered() -> None:
    """A credential one character off a remembered one is checked against the key, and
    refused; a refused one is never remembered."""
    verifier = TokenVerifier(KEY.public_key())
    key = issue_api_key(KEY, uuid.uuid4(), uuid.uuid4(), "admin")
    verifier.verify(f"Bearer {key}")
    tampered = key[:-2] + ("A" if key[-2] != "A" else "B") + key[-1]
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            verifier.verify(f"Bearer {tampered}")
    other = Ed25519PrivateKey.generate()
    forged = issue_api_key(other, uuid.uuid4(), uuid.uuid4(), "admin")
    with pytest.raises(InvalidCredentials):
        verifier.verify(f"Bearer {forged}")


def test_the_remembered_credentials_are_bounded() -> None:
    verifier = TokenVerifier(KEY.public_key(), remembered=3)
    keys = [issue_api_key(KEY, uuid.uuid4(), uuid.uuid4(), "member") for _ in range(5)]
    for key in keys:
        verifier.verify(f"Bearer {key}")
    assert len(verifier._valid) == 3
    assert list(verifier._valid) == keys[2:]
