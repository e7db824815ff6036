"""HTTP routes for companies, their people and API keys, and signing in."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_409_CONFLICT
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from services.listings import domain, storage
from services.listings.outbox import publish_event
from services.listings.suggestions import SuggestionView, suggestion_views
from shared.auth import issue_access_token, issue_api_key
from shared.db import Connection, Pool
from shared.events import (
    ApiKeyRevoked,
    CompanyAddress,
    CompanyChanged,
    CompanyDetailsChanged,
    PersonChanged,
    PersonLinkIssued,
)
from shared.http import PUBLIC, Problem, company_of, example_body, principal_of
from shared.refusals import Refusal, field_error
from shared.revocations import record_revocation
from shared.settings import Settings

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that both answers take as long.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def password_matches(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


Language = Literal["nb", "en"]
# The profile fields that partners see (company.changed): a change of one is published.
PARTNER_VISIBLE = frozenset({"name", "nace_codes", "location", "share_terms_with_partners"})


class Model(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class Address(Model):
    street: str = Field(min_length=1, max_length=200, examples=["Tofteberg 12"])
    postcode: str = Field(pattern=r"^\d{4}$", examples=["1617"], description="Norwegian postcode.")
    city: str = Field(min_length=1, max_length=100, examples=["Fredrikstad"])
    country: str = Field(default="NO", pattern=r"^[A-Z]{2}$", description="ISO 3166 code.")


class Location(Model):
    """Where the company's site is: a plot of the park, coordinates, or both."""

    plot: str | None = Field(default=None, max_length=40, examples=["B4"])
    latitude: float | None = Field(default=None, ge=-90, le=90, examples=[59.2483])
    longitude: float | None = Field(default=None, ge=-180, le=180, examples=[11.0312])

    @model_validator(mode="after")
    def _something_given(self) -> Location:
        if (self.latitude is None) != (self.longitude is None):
            raise Refusal(
                "location.incomplete",
                "give both latitude and longitude, or neither",
                field="latitude" if self.latitude is None else "longitude",
            )
        if self.plot is None and self.latitude is None:
            raise Refusal(
                "location.missing", "give a park plot, coordinates, or both", field="plot"
            )
        return self


class Contact(Model):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ]{5,20}$")


NaceCode = Annotated[
    str,
    Field(description="NACE code from the shipped list (NACE Rev. 2.1 / SN2025), e.g. `16.11`."),
]


class CompanyProfile(Model):
    nace_codes: list[NaceCode] = Field(default_factory=list, max_length=20)
    address: Address | None = None
    location: Location | None = None
    contact: Contact | None = None
    permits: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="Hazardous List of Waste codes the company is permitted to receive.",
    )
    share_terms_with_partners: bool = Field(
        default=False,
        description="Let partners (carriers, ERP vendors, authorities) see the prices and "
        "terms of the company's listings and contracts on the partner stream; a contract's "
        "only when both companies share.",
    )
    vat_registered: bool = Field(
        default=True,
        description="Registered in Merverdiavgiftsregisteret: its invoices carry 25 % MVA and "
        "its organisation number is shown with MVA. Set false if it is not.",
    )
    bank_account: str | None = Field(
        default=None,
        description="Norwegian account number (11 digits, MOD11) its invoices are paid to; "
        "invoices to be paid to the company wait until it is given.",
        examples=["86011117947"],
    )
    language: Language = Field(
        default="nb", description="Language of its invoices and papers: `nb` or `en`."
    )

    @field_validator("bank_account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return domain.bank_account(value)

    @field_validator("nace_codes")
    @classmethod
    def _nace(cls, values: list[str]) -> list[str]:
        return sorted({domain.nace_code(v) for v in values})

    @field_validator("permits")
    @classmethod
    def _permits(cls, values: list[str]) -> list[str]:
        return sorted({domain.hazardous_permit(v) for v in values})


class FirstAdmin(Model):
    """The person who registers the company; they manage its people and keys."""

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    password: SecretStr = Field(description=f"At least {domain.MIN_PASSWORD_LENGTH} characters.")
    language: Language = "nb"
    confirm_email: bool = Field(
        default=False,
        description="Self-service sign-up: the admin can sign in only once they have "
        "confirmed the e-mail address with the link the exchange e-mails them "
        "(`/people/confirm-email`).",
    )

    @field_validator("password")
    @classmethod
    def _strong(cls, value: SecretStr) -> SecretStr:
        domain.password(value.get_secret_value())
        return value


EXAMPLE_REGISTRATION: dict[str, Any] = {
    "name": "Tofteberg Sagbruk AS",
    "org_number": "921081146",
    "nace_codes": ["16.11"],
    "address": {"street": "Tofteberg 12", "postcode": "1617", "city": "Fredrikstad"},
    "location": {"plot": "B4", "latitude": 59.2483, "longitude": 11.0312},
    "contact": {"name": "Kari Nordmann", "email": "kari@sagbruk.example"},
    "admin": {
        "name": "Kari Nordmann",
        "email": "kari@sagbruk.example",
        "password": "a long passphrase",
    },
}


class CompanyRegistration(CompanyProfile):
    """A company joining the exchange."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Tofteberg Sagbruk AS",
                    "org_number": "921081146",
                    "nace_codes": ["16.11"],
                    "address": {
                        "street": "Tofteberg 12",
                        "postcode": "1617",
                        "city": "Fredrikstad",
                    },
                    "location": {"plot": "B4", "latitude": 59.2483, "longitude": 11.0312},
                    "contact": {"name": "Kari Nordmann", "email": "kari@sagbruk.example"},
                    "admin": {
                        "name": "Kari Nordmann",
                        "email": "kari@sagbruk.example",
                        "password": "a long passphrase",
                    },
                }
            ]
        }
    )

    name: str = Field(min_length=2, max_length=200, description="Registered company name.")
    org_number: str = Field(
        description="Norwegian organisation number (9 digits, mod-11 checked); spaces allowed."
    )
    admin: FirstAdmin | None = Field(
        default=None, description="Optional first person, with the company-admin role."
    )

    @field_validator("org_number")
    @classmethod
    def _valid_org_number(cls, value: str) -> str:
        return domain.organisation_number(value)


class CompanyUpdate(CompanyProfile):
    """Only the fields sent are changed."""

    name: str | None = Field(default=None, min_length=2, max_length=200)


class Company(BaseModel):
    id: uuid.UUID
    name: str
    org_number: str
    nace_codes: list[str]
    address: Address | None
    location: Location | None
    contact: Contact | None
    permits: list[str]
    share_terms_with_partners: bool
    vat_registered: bool
    bank_account: str | None
    language: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: storage.CompanyRow) -> Company:
        location = None
        if row.plot is not None or row.latitude is not None:
            location = Location(plot=row.plot, latitude=row.latitude, longitude=row.longitude)
        return cls(
            id=row.id,
            name=row.name,
            org_number=row.org_number,
            nace_codes=row.nace_codes,
            address=Address(**row.address) if row.address else None,
            location=location,
            contact=Contact(**row.contact) if row.contact else None,
            permits=row.permits,
            share_terms_with_partners=row.share_terms_with_partners,
            vat_registered=row.vat_registered,
            bank_account=row.bank_account,
            language=row.language,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def details(self) -> CompanyDetailsChanged:
        """What the other services need to invoice and paper the company's trades."""
        address = self.address
        return CompanyDetailsChanged(
            company_id=self.id,
            name=self.name,
            org_number=self.org_number,
            address=None
            if address is None
            else CompanyAddress(
                street=address.street,
                postcode=address.postcode,
                city=address.city,
                country=address.country,
            ),
            vat_registered=self.vat_registered,
            bank_account=self.bank_account,
            language="en" if self.language == "en" else "nb",
            permits=tuple(self.permits),
            changed_at=self.updated_at,
        )


async def announce_company(conn: Connection, row: storage.CompanyRow) -> None:
    """Tell the other services (contracts: invoices and papers) who this company is now."""
    await publish_event(conn, None, Company.of(row).details(), row.id)
    await storage.mark_announced(conn, row.id)


async def announce_unannounced(pool: Pool, batch: int = 100) -> int:
    """Tell the other services of companies registered before ``company.details_changed``
    existed; how many were told."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await storage.unannounced_companies(conn, batch)
        for row in rows:
            await announce_company(conn, row)
    return len(rows)


async def announce_companies(pool: Pool, settings: Settings) -> None:
    """A background loop: tell the other services of the companies never announced (those
    registered before ``company.details_changed`` existed); new and changed ones are told as
    they register or change. The worker runtime restarts it after a failure."""
    while True:
        while await announce_unannounced(pool) >= 100:
            pass
        await asyncio.sleep(settings.listing_expiry_check_seconds)


def company_changed(row: storage.CompanyRow) -> CompanyChanged:
    """What partners may know of a company, as an event."""
    return CompanyChanged(
        company_id=row.id,
        name=row.name,
        org_number=row.org_number,
        nace_codes=tuple(row.nace_codes),
        plot=row.plot,
        latitude=row.latitude,
        longitude=row.longitude,
        share_terms_with_partners=row.share_terms_with_partners,
        changed_at=row.updated_at,
    )


def _profile_columns(profile: CompanyProfile, only_set: bool) -> dict[str, Any]:
    fields = profile.model_fields_set if only_set else set(type(profile).model_fields)
    columns: dict[str, Any] = {}
    for name in fields & {
        "name",
        "nace_codes",
        "permits",
        "share_terms_with_partners",
        "vat_registered",
        "language",
    }:
        value = getattr(profile, name)
        if value is None:
            raise Problem(
                400,
                "The request is not valid",
                f"{name} cannot be empty",
                errors=[field_error(name, "value.missing", "cannot be null")],
            )
        columns[name] = value
    if "address" in fields:
        columns["address"] = profile.address.model_dump() if profile.address else None
    if "contact" in fields:
        columns["contact"] = profile.contact.model_dump() if profile.contact else None
    if "bank_account" in fields:
        columns["bank_account"] = profile.bank_account
    if "location" in fields:
        location = profile.location
        columns["plot"] = location.plot if location else None
        columns["latitude"] = location.latitude if location else None
        columns["longitude"] = location.longitude if location else None
    return columns


class Person(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID | None
    email: str
    name: str
    role: str
    language: str
    status: Literal["invited", "active", "disabled"]
    created_at: datetime

    @classmethod
    def of(cls, row: storage.PersonRow) -> Person:
        status: Literal["invited", "active", "disabled"] = (
            "disabled"
            if row.disabled_at
            else "active"
            if row.password_hash and not row.invitation_hash
            else "invited"
        )
        return cls(
            id=row.id,
            company_id=row.company_id,
            email=row.email,
            name=row.name,
            role=row.role,
            language=row.language,
            status=status,
            created_at=row.created_at,
        )

    def changed(self) -> PersonChanged:
        return PersonChanged(
            person_id=self.id,
            company_id=self.company_id,
            email=self.email,
            name=self.name,
            language="en" if self.language == "en" else "nb",
            role=self.role,
            status=self.status,
        )


class CompanyCard(BaseModel):
    """What every member of the park may know of another company: who it is and which plot
    it is on, so that a counterparty has a name. Its contacts, organisation number, permits
    and people stay with the company and the park administrators."""

    id: uuid.UUID
    name: str
    plot: str | None

    @classmethod
    def of(cls, row: storage.CompanyRow) -> CompanyCard:
        return cls(id=row.id, name=row.name, plot=row.plot)


class RegisteredCompany(BaseModel):
    """The new company, its first API key (shown only this once) and its first admin."""

    company: Company
    api_key_id: uuid.UUID
    api_key: str = Field(description="Send as `Authorization: Bearer <api_key>`. Store it now.")
    admin: Person | None
    suggestions: list[SuggestionView] = Field(
        default=[],
        description="Likely by-products and needs from the NACE codes, each with its basis; "
        "`POST /companies/me/suggestions/draft` turns one into a draft listing.",
    )


async def _company_or_404(conn: Connection, company_id: uuid.UUID) -> storage.CompanyRow:
    row = await storage.get_company(conn, company_id)
    if row is None:
        raise Problem(404, "Not found", f"no company {company_id} visible to you")
    return row


class CompanyController(Controller):
    path = "/companies"
    tags = ["companies"]

    @post(
        "/",
        opt={PUBLIC: True},
        status_code=HTTP_201_CREATED,
        operation_id="register_company",
        security=[],
    )
    async def register(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[
            CompanyRegistration,
            example_body(
                ("A company with its first admin", EXAMPLE_REGISTRATION),
                ("Just the name and number", {"name": "Borg Betong AS", "org_number": "921162723"}),
            ),
        ],
        pool: NamedDependency[Pool],
        signing_key: NamedDependency[Ed25519PrivateKey],
        settings: NamedDependency[Settings],
    ) -> RegisteredCompany:
        """Register a company; receive its first API key (shown once) and, if given, its
        first admin, who can then sign in at `/auth/token`."""
        company_id, key_id = uuid.uuid4(), uuid.uuid4()
        password_hash = (
            await hash_password(data.admin.password.get_secret_value()) if data.admin else None
        )
        async with pool.acquire() as conn, conn.transaction():
            try:
                row = await storage.insert_company(
                    conn,
                    company_id,
                    data.org_number,
                    _profile_columns(data, only_set=False) | {"name": data.name},
                )
            except storage.DuplicateOrganisation:
                raise Problem(
                    HTTP_409_CONFLICT,
                    "Company already registered",
                    f"organisation number {data.org_number} is already registered",
                    errors=[
                        field_error(
                            "org_number",
                            "company.org_number_taken",
                            "already registered",
                            value=data.org_number,
                        )
                    ],
                ) from None
            admin = None
            if data.admin is not None:
                token = secrets.token_urlsafe(32) if data.admin.confirm_email else None
                expires_at = datetime.now(UTC) + timedelta(hours=settings.invitation_hours)
                admin = await _insert_person(
                    conn,
                    company_id,
                    data.admin.email,
                    data.admin.name,
                    "admin",
                    password_hash=password_hash,
                    field="admin.email",
                    language=data.admin.language,
                    invitation_hash=_digest(token) if token else None,
                    invitation_expires_at=expires_at if token else None,
                )
                if token:
                    await send_link(conn, admin, row.name, "confirm_email", token, expires_at)
            await storage.insert_api_key(conn, key_id, company_id, "first key")
            await publish_event(conn, request, company_changed(row), company_id)
            await announce_company(conn, row)
        return RegisteredCompany(
            company=Company.of(row),
            api_key_id=key_id,
            api_key=issue_api_key(signing_key, key_id, company_id, "admin"),
            admin=Person.of(admin) if admin else None,
            suggestions=suggestion_views(row.nace_codes),
        )

    @get("/me", operation_id="get_my_company")
    async def me(self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]) -> Company:
        """The caller's company, with its contact, permits and location."""
        async with pool.acquire() as conn:
            return Company.of(await _company_or_404(conn, company_of(request, "company:read")))

    @patch("/me", operation_id="update_my_company")
    async def update(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[
            CompanyUpdate,
            example_body(
                ("A permit to receive hazardous sludge", {"permits": ["19 08 13"]}),
                (
                    "A new contact",
                    {"contact": {"name": "Per Hansen", "email": "per@sagbruk.example"}},
                ),
            ),
        ],
        pool: NamedDependency[Pool],
    ) -> Company:
        """Change the caller's company profile (company admins); fields not sent stay."""
        company_id = company_of(request, "company:admin")
        async with pool.acquire() as conn, conn.transaction():
            row = await storage.update_company(conn, company_id, _profile_columns(data, True))
            if row is None:
                raise Problem(404, "Not found", "the company of this credential no longer exists")
            if data.model_fields_set & PARTNER_VISIBLE:
                await publish_event(conn, request, company_changed(row), company_id)
            await announce_company(conn, row)
        return Company.of(row)

    @get("/", operation_id="list_companies")
    async def all(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> list[Company]:
        """Every company of the park, by name (park administrators)."""
        principal_of(request, "park:read")
        async with pool.acquire() as conn:
            return [Company.of(r) for r in await storage.list_companies(conn, limit, offset)]

    @get("/{company_id:uuid}/card", operation_id="get_company_card")
    async def card(
        self,
        request: Request[Any, Any, Any],
        company_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> CompanyCard:
        """Any company of the park by name and plot, for everyone signed in to the exchange
        (a counterparty's name on a proposal, a contract or an invoice)."""
        principal_of(request, "listings:read")
        async with pool.acquire() as conn:
            return CompanyCard.of(await _company_or_404(conn, company_id))

    @get("/{company_id:uuid}", operation_id="get_company")
    async def one(
        self,
        request: Request[Any, Any, Any],
        company_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Company:
        """One company: park administrators see any, a company sees itself."""
        principal = principal_of(request)
        if not (principal.may("park:read") or principal.company_id == company_id):
            raise Problem(404, "Not found", f"no company {company_id} visible to you")
        async with pool.acquire() as conn:
            return Company.of(await _company_or_404(conn, company_id))


async def _insert_person(
    conn: Connection,
    company_id: uuid.UUID | None,
    email: str,
    name: str,
    role: str,
    *,
    field: str,
    password_hash: str | None = None,
    invitation_hash: str | None = None,
    invitation_expires_at: datetime | None = None,
    language: str = "nb",
) -> storage.PersonRow:
    try:
        row = await storage.insert_person(
            conn,
            person_id=uuid.uuid4(),
            company_id=company_id,
            email=email,
            name=name,
            role=role,
            password_hash=password_hash,
            invitation_hash=invitation_hash,
            invitation_expires_at=invitation_expires_at,
            language=language,
        )
    except storage.DuplicateEmail:
        raise Problem(
            HTTP_409_CONFLICT,
            "E-mail already in use",
            f"{email} already signs in to the exchange",
            errors=[field_error(field, "person.email_taken", "already in use", email=email)],
        ) from None
    await announce_person(conn, row)
    return row


async def announce_person(conn: Connection, row: storage.PersonRow) -> None:
    """Tell the other services (the notifications directory) who this person is now."""
    await publish_event(conn, None, Person.of(row).changed(), row.id)


async def send_link(
    conn: Connection,
    row: storage.PersonRow,
    company_name: str,
    purpose: Literal["confirm_email", "invitation"],
    token: str,
    expires_at: datetime,
) -> None:
    """Have the notifications service e-mail the person their one-time link."""
    await publish_event(
        conn,
        None,
        PersonLinkIssued(
            person_id=row.id,
            company_id=row.company_id,
            company_name=company_name,
            email=row.email,
            name=row.name,
            language="en" if row.language == "en" else "nb",
            purpose=purpose,
            token=token,
            expires_at=expires_at,
        ),
        row.id,
    )


class SignIn(Model):
    email: EmailStr
    password: SecretStr


class AccessToken(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <access_token>`.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type
    expires_in: int = Field(description="Seconds until it expires.")
    person_id: uuid.UUID
    company_id: uuid.UUID | None
    role: str


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post(
        "/token", opt={PUBLIC: True}, status_code=HTTP_200_OK, operation_id="sign_in", security=[]
    )
    async def sign_in(
        self,
        data: Annotated[
            SignIn,
            example_body(
                ("Sign in", {"email": "kari@sagbruk.example", "password": "a long passphrase"})
            ),
        ],
        pool: NamedDependency[Pool],
        signing_key: NamedDependency[Ed25519PrivateKey],
        settings: NamedDependency[Settings],
    ) -> AccessToken:
        """Sign in with e-mail and password; the token identifies you to every service."""
        async with pool.acquire() as conn:
            person = await storage.person_by_email(conn, data.email)
        ok = await password_matches(
            person.password_hash if person else None, data.password.get_secret_value()
        )
        if person is None or not ok or person.disabled_at is not None:
            raise Problem(401, "Unauthorized", "the e-mail or the password is wrong")
        if person.invitation_hash is not None:
            raise Problem(
                403,
                "E-mail not confirmed",
                "confirm your e-mail address with the link the exchange sent you first",
                code="person.email_unconfirmed",
            )
        return access_token(signing_key, settings, person)


def access_token(
    signing_key: Ed25519PrivateKey, settings: Settings, person: storage.PersonRow
) -> AccessToken:
    """A signed-in person's access token."""
    lifetime = settings.access_token_minutes * 60
    return AccessToken(
        access_token=issue_access_token(
            signing_key,
            person.id,
            person.company_id,
            person.role,  # type: ignore[arg-type]
            lifetime,
        ),
        expires_in=lifetime,
        person_id=person.id,
        company_id=person.company_id,
        role=person.role,
    )


class Invitation(Model):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    role: Literal["member", "admin"] = "member"
    language: Language = Field(default="nb", description="For the exchange's e-mails to them.")


class PersonChange(Model):
    """What a person may change about themselves."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    language: Language | None = Field(default=None, description="`nb` or `en`.")


class InvitedPerson(BaseModel):
    person: Person
    invitation_token: str = Field(description="Give it to the colleague; shown only once.")
    expires_at: datetime


class EmailConfirmation(Model):
    token: str = Field(min_length=20, max_length=200, description="From the e-mailed link.")


class Acceptance(Model):
    token: str = Field(min_length=20, max_length=200)
    password: SecretStr

    @field_validator("password")
    @classmethod
    def _strong(cls, value: SecretStr) -> SecretStr:
        domain.password(value.get_secret_value())
        return value


class PeopleController(Controller):
    path = "/people"
    tags = ["people"]

    @get("/", operation_id="list_colleagues")
    async def colleagues(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> list[Person]:
        """The people of the caller's company."""
        company_id = company_of(request, "company:read")
        async with pool.acquire() as conn:
            return [Person.of(r) for r in await storage.colleagues(conn, company_id)]

    @post("/", status_code=HTTP_201_CREATED, operation_id="invite_colleague")
    async def invite(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[
            Invitation,
            example_body(
                (
                    "Invite a colleague",
                    {"email": "per@sagbruk.example", "name": "Per Hansen", "role": "member"},
                )
            ),
        ],
        pool: NamedDependency[Pool],
        settings: NamedDependency[Settings],
    ) -> InvitedPerson:
        """Invite a colleague (company admins). They choose a password with the token at
        `/people/accept-invitation`, then sign in."""
        company_id = company_of(request, "company:admin")
        token = secrets.token_urlsafe(32)
        expires_at = datetime.now(UTC) + timedelta(hours=settings.invitation_hours)
        async with pool.acquire() as conn, conn.transaction():
            company = await _company_or_404(conn, company_id)
            row = await _insert_person(
                conn,
                company_id,
                data.email,
                data.name,
                data.role,
                field="email",
                invitation_hash=_digest(token),
                invitation_expires_at=expires_at,
                language=data.language,
            )
            await send_link(conn, row, company.name, "invitation", token, expires_at)
        return InvitedPerson(person=Person.of(row), invitation_token=token, expires_at=expires_at)

    @post(
        "/confirm-email",
        opt={PUBLIC: True},
        status_code=HTTP_200_OK,
        operation_id="confirm_email",
        security=[],
    )
    async def confirm_email(
        self,
        data: Annotated[
            EmailConfirmation,
            example_body(("Confirm", {"token": "the token from the e-mailed link"})),
        ],
        pool: NamedDependency[Pool],
        signing_key: NamedDependency[Ed25519PrivateKey],
        settings: NamedDependency[Settings],
    ) -> AccessToken:
        """Confirm the e-mail address a company signed up with (the token of the link the
        exchange e-mailed): the admin can sign in from now on, and is signed in."""
        async with pool.acquire() as conn, conn.transaction():
            person = await storage.person_by_invitation(conn, _digest(data.token))
            if (
                person is None
                or person.password_hash is None
                or person.invitation_expires_at is None
                or person.invitation_expires_at < datetime.now(UTC)
            ):
                raise Problem(
                    400,
                    "Link not valid",
                    "this link is unknown, used or expired; sign up again or sign in",
                    errors=[
                        field_error("token", "person.link_invalid", "unknown, used or expired")
                    ],
                )
            confirmed = await storage.set_password(conn, person.id, person.password_hash)
            await announce_person(conn, confirmed)
        return access_token(signing_key, settings, confirmed)

    @post(
        "/accept-invitation",
        opt={PUBLIC: True},
        status_code=HTTP_200_OK,
        operation_id="accept_invitation",
        security=[],
    )
    async def accept(
        self,
        data: Annotated[
            Acceptance,
            example_body(
                (
                    "Accept",
                    {"token": "the token from your admin", "password": "another long passphrase"},
                )
            ),
        ],
        pool: NamedDependency[Pool],
    ) -> Person:
        """Choose a password with an invitation token; then sign in at `/auth/token`."""
        password_hash = await hash_password(data.password.get_secret_value())
        async with pool.acquire() as conn, conn.transaction():
            person = await storage.person_by_invitation(conn, _digest(data.token))
            if (
                person is None
                or person.invitation_expires_at is None
                or person.invitation_expires_at < datetime.now(UTC)
            ):
                raise Problem(
                    400,
                    "Invitation not valid",
                    "this invitation is unknown, used or expired; ask your company admin again",
                    errors=[
                        field_error(
                            "token", "person.invitation_invalid", "unknown, used or expired"
                        )
                    ],
                )
            activated = await storage.set_password(conn, person.id, password_hash)
            await announce_person(conn, activated)
            return Person.of(activated)

    @delete("/{person_id:uuid}", status_code=HTTP_200_OK, operation_id="disable_colleague")
    async def disable(
        self,
        request: Request[Any, Any, Any],
        person_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Person:
        """Disable a colleague's sign-in (company admins); their current token lapses."""
        principal = principal_of(request)
        company_id = company_of(request, "company:admin")
        if principal.kind == "person" and principal.subject_id == person_id:
            raise Problem(409, "Conflict", "you cannot disable yourself")
        async with pool.acquire() as conn, conn.transaction():
            row = await storage.disable_person(conn, person_id, company_id)
            if row is None:
                raise Problem(404, "Not found", f"no colleague {person_id} in your company")
            await announce_person(conn, row)
        return Person.of(row)

    @patch("/me", operation_id="update_me")
    async def update_me(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[
            PersonChange,
            example_body(
                ("E-mails in English", {"language": "en"}),
                ("A new name", {"name": "Kari Nordmann"}),
            ),
        ],
        pool: NamedDependency[Pool],
    ) -> Person:
        """Change your own name or language (people signed in, not API keys)."""
        principal = principal_of(request)
        if principal.kind != "person":
            raise Problem(403, "Forbidden", "only a person signed in has a name and a language")
        async with pool.acquire() as conn, conn.transaction():
            row = await storage.update_person(conn, principal.subject_id, data.name, data.language)
            if row is None:
                raise Problem(404, "Not found", "your account is disabled")
            await announce_person(conn, row)
        return Person.of(row)


class KeyRequest(Model):
    label: str = Field(min_length=1, max_length=100, examples=["ERP integration"])


class ApiKey(BaseModel):
    id: uuid.UUID
    label: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: storage.ApiKeyRow) -> ApiKey:
        return cls(
            id=row.id,
            label=row.label,
            role=row.role,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


class NewApiKey(ApiKey):
    api_key: str = Field(description="Shown only this once; store it now.")


async def _create_key(
    pool: Pool,
    signing_key: Ed25519PrivateKey,
    request: Request[Any, Any, Any],
    company_id: uuid.UUID | None,
    label: str,
) -> NewApiKey:
    role: Literal["admin", "partner"] = "admin" if company_id else "partner"
    key_id = uuid.uuid4()
    async with pool.acquire() as conn:
        row = await storage.insert_api_key(
            conn, key_id, company_id, label, role, principal_of(request).subject_id
        )
    return NewApiKey(
        **ApiKey.of(row).model_dump(), api_key=issue_api_key(signing_key, key_id, company_id, role)
    )


async def _revoke_key(
    pool: Pool, request: Request[Any, Any, Any], key_id: uuid.UUID, company_id: uuid.UUID | None
) -> ApiKey:
    async with pool.acquire() as conn, conn.transaction():
        row = await storage.revoke_api_key(conn, key_id, company_id)
        if row is None:
            raise Problem(404, "Not found", f"no API key {key_id} of yours")
        assert row.revoked_at is not None
        event = ApiKeyRevoked(key_id=row.id, company_id=row.company_id, revoked_at=row.revoked_at)
        await record_revocation(conn, event)  # refused here at once, elsewhere on the event
        await publish_event(conn, request, event, row.id)
    return ApiKey.of(row)


class ApiKeyController(Controller):
    path = "/api-keys"
    tags = ["api keys"]

    @get("/", operation_id="list_api_keys")
    async def list_keys(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> list[ApiKey]:
        """The company's API keys; the keys themselves are never shown again."""
        company_id = company_of(request, "company:admin")
        async with pool.acquire() as conn:
            return [ApiKey.of(r) for r in await storage.list_api_keys(conn, company_id)]

    @post("/", status_code=HTTP_201_CREATED, operation_id="create_api_key")
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[KeyRequest, example_body(("A key for the ERP", {"label": "ERP"}))],
        pool: NamedDependency[Pool],
        signing_key: NamedDependency[Ed25519PrivateKey],
    ) -> NewApiKey:
        """A new API key for the company (company admins); shown once."""
        company_id = company_of(request, "company:admin")
        return await _create_key(pool, signing_key, request, company_id, data.label)

    @delete("/{key_id:uuid}", status_code=HTTP_200_OK, operation_id="revoke_api_key")
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> ApiKey:
        """Revoke one of the company's keys; every service refuses it from then on."""
        return await _revoke_key(pool, request, key_id, company_of(request, "company:admin"))


class PartnerKeyController(Controller):
    path = "/partner-keys"
    tags = ["api keys"]

    @get("/", operation_id="list_partner_keys")
    async def list_keys(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> list[ApiKey]:
        """Partners' read-only keys (park administrators)."""
        principal_of(request, "park:admin")
        async with pool.acquire() as conn:
            return [ApiKey.of(r) for r in await storage.list_api_keys(conn, None)]

    @post("/", status_code=HTTP_201_CREATED, operation_id="create_partner_key")
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[KeyRequest, example_body(("A key for the ERP", {"label": "ERP"}))],
        pool: NamedDependency[Pool],
        signing_key: NamedDependency[Ed25519PrivateKey],
    ) -> NewApiKey:
        """A key for a partner's system (ERP, carrier): it may read listings and events."""
        principal_of(request, "park:admin")
        return await _create_key(pool, signing_key, request, None, data.label)

    @delete("/{key_id:uuid}", status_code=HTTP_200_OK, operation_id="revoke_partner_key")
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> ApiKey:
        """Revoke a partner key (park administrators)."""
        principal_of(request, "park:admin")
        return await _revoke_key(pool, request, key_id, None)
