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
