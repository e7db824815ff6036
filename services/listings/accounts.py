"""HTTP routes for companies, their people and API keys, and signing in."""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, Parameter
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_204_NO_CONTENT,
    HTTP_409_CONFLICT,
)
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from services.listings import domain, standing, storage, throttling
from services.listings.config import ListingsSettings
from services.listings.outbox import publish_event
from services.listings.rules import facts
from services.listings.suggestions import SuggestionView, suggestion_views
from shared.auth import Principal, issue_access_token, issue_api_key
from shared.db import Connection, Pool
from shared.events import (
    AccessTokenRevoked,
    ApiKeyRevoked,
    CompanyAddress,
    CompanyChanged,
    CompanyDetailsChanged,
    ListingPublished,
    ListingWithdrawn,
    PersonChanged,
    PersonLinkIssued,
)
from shared.http import PUBLIC, Problem, company_of, example_body, principal_of, requires
from shared.logs import client_address
from shared.refusals import Refusal, field_error
from shared.revocations import record_revocation, record_revoked_credential

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


async def audit(
    conn: Connection,
    request: Request[Any, Any, Any],
    action: str,
    *,
    company_id: uuid.UUID | None,
    subject_id: uuid.UUID | None = None,
    actor: Principal | None = None,
    **details: Any,
) -> None:
    """One line of the audit log: who (the caller, unless ``actor`` says), what, when, from
    where (the client's address as the gateway saw it)."""
    user = actor or request.scope.get("user")
    principal = user if isinstance(user, Principal) else None
    await storage.record_audit(
        conn,
        action,
        actor_id=principal.subject_id if principal else None,
        actor_kind=principal.kind if principal else None,
        company_id=company_id,
        subject_id=subject_id,
        client=client_address(request.scope),
        details=details,
    )


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


class PermitStatement(Model):
    """A company's permit to receive hazardous waste, as it states it; a park administrator
    then verifies it."""

    number: str = Field(
        min_length=1, max_length=100, description="The permit's number or reference."
    )
    authority: str = Field(
        min_length=2,
        max_length=200,
        description="Who issued it, e.g. `Statsforvalteren i Østfold, Buskerud, Oslo og Akershus`.",
    )
    valid_until: date = Field(description="The last day it holds.")
    waste_codes: list[str] = Field(
        min_length=1,
        max_length=200,
        description="The hazardous List of Waste codes it allows the company to receive.",
    )

    @field_validator("waste_codes")
    @classmethod
    def _hazardous(cls, values: list[str]) -> list[str]:
        return sorted({domain.hazardous_permit(v) for v in values})

    @field_validator("valid_until")
    @classmethod
    def _not_run_out(cls, value: date) -> date:
        if value < date.today():
            raise ValueError("the permit has run out; state one that holds")
        return value


PermitStatus = Literal["stated", "verified", "rejected"]


class Permit(BaseModel):
    """A company's permit to receive hazardous waste and what the park made of it. Only a
    `verified` permit that has not run out (`valid`) lets the company post needs for the
    hazardous codes it covers."""

    company_id: uuid.UUID
    number: str
    authority: str
    valid_until: date
    waste_codes: list[str]
    status: PermitStatus = Field(
        description="`stated` (waiting for the park), `verified` or `rejected`."
    )
    valid: bool = Field(description="Verified, and not run out today.")
    stated_at: datetime
    reviewed_at: datetime | None = Field(description="When a park administrator decided.")
    reviewed_by: uuid.UUID | None = Field(description="The park administrator who did.")
    rejection_reason: str | None

    @classmethod
    def of(cls, row: storage.PermitRow) -> Permit:
        return cls(
            company_id=row.company_id,
            number=row.number,
            authority=row.authority,
            valid_until=row.valid_until,
            waste_codes=[c.strip() for c in row.waste_codes],
            status=row.status,
            valid=row.status == "verified" and row.valid_until >= date.today(),
            stated_at=row.stated_at,
            reviewed_at=row.reviewed_at,
            reviewed_by=row.reviewed_by,
            rejection_reason=row.rejection_reason,
        )


class Company(BaseModel):
    id: uuid.UUID
    name: str
    org_number: str
    nace_codes: list[str]
    address: Address | None
    location: Location | None
    contact: Contact | None
    permits: list[str] = Field(
        description="Hazardous List of Waste codes the company may receive: those of its "
        "verified permit that has not run out (see `permit`)."
    )
    permit: Permit | None = Field(description="The permit it stated, and its status.")
    share_terms_with_partners: bool
    vat_registered: bool
    bank_account: str | None
    language: str
    status: standing.CompanyStatus = Field(
        description="Its standing with the park office: `registered`, `verified` by the "
        "park, or `suspended` (it cannot post, publish or change listings, and its open "
        "listings are off the exchange, until the park reinstates it)."
    )
    status_reason: str | None = Field(description="Why it is suspended (when it is).")
    status_changed_at: datetime | None = Field(description="When the park last changed it.")
    verified_at: datetime | None = Field(description="When the park verified the company.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: storage.CompanyRow, permit_row: storage.PermitRow | None = None) -> Company:
        location = None
        if row.plot is not None or row.latitude is not None:
            location = Location(plot=row.plot, latitude=row.latitude, longitude=row.longitude)
        permit = Permit.of(permit_row) if permit_row else None
        return cls(
            id=row.id,
            name=row.name,
            org_number=row.org_number,
            nace_codes=row.nace_codes,
            address=Address(**row.address) if row.address else None,
            location=location,
            contact=Contact(**row.contact) if row.contact else None,
            permits=permit.waste_codes if permit and permit.valid else [],
            permit=permit,
            share_terms_with_partners=row.share_terms_with_partners,
            vat_registered=row.vat_registered,
            bank_account=row.bank_account,
            language=row.language,
            status=_status(row.status),
            status_reason=row.status_reason,
            status_changed_at=row.status_changed_at,
            verified_at=row.verified_at,
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
    permit = await storage.permit_of(conn, row.id)
    await publish_event(conn, None, Company.of(row, permit).details(), row.id)
    await storage.mark_announced(conn, row.id)


async def announce_unannounced(pool: Pool, batch: int = 100) -> int:
    """Tell the other services of companies registered before ``company.details_changed``
    existed; how many were told."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await storage.unannounced_companies(conn, batch)
        for row in rows:
            await announce_company(conn, row)
    return len(rows)


async def announce_companies(pool: Pool, settings: ListingsSettings) -> None:
    """A background loop: tell the other services of the companies never announced (those
    registered before ``company.details_changed`` existed); new and changed ones are told as
    they register or change. The worker runtime restarts it after a failure."""
    while True:
        while await announce_unannounced(pool) >= 100:
            pass
        await asyncio.sleep(settings.listing_expiry_check_seconds)


def _status(text: str) -> standing.CompanyStatus:
    return next((s for s in standing.STATUSES if s == text), "registered")


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
        status=_status(row.status),
    )


def _profile_columns(profile: CompanyProfile, only_set: bool) -> dict[str, Any]:
    fields = profile.model_fields_set if only_set else set(type(profile).model_fields)
    columns: dict[str, Any] = {}
    for name in fields & {
        "name",
        "nace_codes",
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


def _org_number_taken(org_number: str) -> Problem:
    return Problem(
        HTTP_409_CONFLICT,
        "Company already registered",
        f"organisation number {org_number} is already registered",
        errors=[
            field_error(
                "org_number", "company.org_number_taken", "already registered", value=org_number
            )
        ],
    )


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
        settings: NamedDependency[ListingsSettings],
    ) -> RegisteredCompany:
        """Register a company; receive its first API key (shown once) and, if given, its
        first admin, who can then sign in at `/auth/token`."""
        company_id, key_id = uuid.uuid4(), uuid.uuid4()
        password_hash = None
        if data.admin is not None:
            # A number already registered is refused before the password is hashed: argon2
            # costs a core a third of a second, on a public endpoint.
            async with pool.acquire() as conn:
                if await storage.org_number_taken(conn, data.org_number):
                    raise _org_number_taken(data.org_number)
            password_hash = await hash_password(data.admin.password.get_secret_value())
        async with pool.acquire() as conn, conn.transaction():
            try:
                row = await storage.insert_company(
                    conn,
                    company_id,
                    data.org_number,
                    _profile_columns(data, only_set=False) | {"name": data.name},
                )
            except storage.DuplicateOrganisation:
                raise _org_number_taken(data.org_number) from None
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
            await audit(
                conn,
                request,
                "company.registered",
                company_id=company_id,
                subject_id=company_id,
                api_key_id=str(key_id),
                admin_id=str(admin.id) if admin else None,
            )
        return RegisteredCompany(
            company=Company.of(row),
            api_key_id=key_id,
            api_key=issue_api_key(signing_key, key_id, company_id, "admin"),
            admin=Person.of(admin) if admin else None,
            suggestions=suggestion_views(row.nace_codes),
        )

    @get("/me", operation_id="get_my_company")
    async def me(self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]) -> Company:
        """The caller's company, with its contact, permit and location."""
        company_id = company_of(request, "company:read")
        async with pool.acquire() as conn:
            row = await _company_or_404(conn, company_id)
            return Company.of(row, await storage.permit_of(conn, company_id))

    @patch("/me", operation_id="update_my_company")
    async def update(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[
            CompanyUpdate,
            example_body(
                ("A new name", {"name": "Tofteberg Sagbruk og Høvleri AS"}),
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
            await audit(
                conn,
                request,
                "company.updated",
                company_id=company_id,
                subject_id=company_id,
                fields=sorted(data.model_fields_set),
            )
            permit = await storage.permit_of(conn, company_id)
        return Company.of(row, permit)

    @get("/", operation_id="list_companies")
    async def all(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> list[Company]:
        """Every company of the park, by name (park administrators)."""
        principal_of(request, "park:read")
        async with pool.acquire() as conn:
            rows = await storage.list_companies(conn, limit, offset)
            permits = await storage.permits_of(conn, [r.id for r in rows])
            return [Company.of(r, permits.get(r.id)) for r in rows]

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
            row = await _company_or_404(conn, company_id)
            return Company.of(row, await storage.permit_of(conn, company_id))

    @post(
        "/{company_id:uuid}/verify",
        status_code=HTTP_200_OK,
        operation_id="verify_company",
        guards=[requires("park:admin")],
    )
    async def verify(
        self,
        request: Request[Any, Any, Any],
        company_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Company:
        """Verify a registered company (park administrators): the park office has checked
        who it is. 409 (`company.transition_impossible`) if it is verified or suspended."""
        return await _change_standing(request, pool, company_id, "verify", None)

    @post(
        "/{company_id:uuid}/suspend",
        status_code=HTTP_200_OK,
        operation_id="suspend_company",
        guards=[requires("park:admin")],
    )
    async def suspend(
        self,
        request: Request[Any, Any, Any],
        company_id: FromPath[uuid.UUID],
        data: Annotated[
            Suspension,
            example_body(("Suspend", {"reason": "Unpaid park fees since March"})),
        ],
        pool: NamedDependency[Pool],
    ) -> Company:
        """Suspend a company (park administrators), with the reason its people are shown.
        Until it is reinstated it cannot post, publish or change listings (refused with
        `company.suspended`), its open listings are withdrawn from the exchange
        (`listing.withdrawn` with `reason: company_suspended`: the matcher drops them and
        retracts their open proposals), and others no longer find them. Its people and API
        keys still sign in and read: agreed contracts, deliveries and invoices go on."""
        try:
            reason = standing.suspension_reason(data.reason)
        except Refusal as refused:
            raise Problem.invalid(refused, refused.field) from None
        return await _change_standing(request, pool, company_id, "suspend", reason)

    @post(
        "/{company_id:uuid}/reinstate",
        status_code=HTTP_200_OK,
        operation_id="reinstate_company",
        guards=[requires("park:admin")],
    )
    async def reinstate(
        self,
        request: Request[Any, Any, Any],
        company_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Company:
        """Reinstate a suspended company (park administrators): it is verified again if the
        park had verified it, may post again, and its listings still open are published
        again (`listing.published`) for the matcher."""
        return await _change_standing(request, pool, company_id, "reinstate", None)

    @put("/me/permit", operation_id="state_my_permit")
    async def state_permit(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[
            PermitStatement,
            example_body(
                (
                    "A permit for hazardous sludge and batteries",
                    {
                        "number": "2019.0421.T",
                        "authority": "Statsforvalteren i Østfold, Buskerud, Oslo og Akershus",
                        "valid_until": "2030-12-31",
                        "waste_codes": ["19 08 13", "16 06 01"],
                    },
                ),
            ),
        ],
        pool: NamedDependency[Pool],
    ) -> Permit:
        """State (or state anew) the company's permit to receive hazardous waste (company
        admins). It waits for a park administrator to verify it; until then, and after it
        runs out, the company cannot post needs for hazardous codes."""
        company_id = company_of(request, "company:admin")
        principal = principal_of(request)
        async with pool.acquire() as conn, conn.transaction():
            company = await _company_or_404(conn, company_id)
            row = await storage.state_permit(
                conn,
                company_id,
                data.number,
                data.authority,
                data.valid_until,
                data.waste_codes,
                principal.subject_id,
            )
            await audit(
                conn,
                request,
                "permit.stated",
                company_id=company_id,
                subject_id=company_id,
                number=data.number,
                waste_codes=data.waste_codes,
                valid_until=data.valid_until.isoformat(),
            )
            # a permit stated anew waits for verification: the others stop relying on the old one
            await announce_company(conn, company)
        return Permit.of(row)

    @get("/{company_id:uuid}/permit", operation_id="get_company_permit")
    async def permit(
        self,
        request: Request[Any, Any, Any],
        company_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Permit:
        """A company's permit to receive hazardous waste and whether the park verified it
        (`valid`), for everyone signed in to the exchange: a counterparty's declaration of
        hazardous waste names the receiver's permit."""
        principal_of(request, "listings:read")
        async with pool.acquire() as conn:
            row = await storage.permit_of(conn, company_id)
        if row is None:
            raise Problem(404, "Not found", f"company {company_id} has stated no permit")
        return Permit.of(row)

    @post(
        "/{company_id:uuid}/permit/verify",
        status_code=HTTP_200_OK,
        operation_id="verify_company_permit",
        guards=[requires("park:admin")],
    )
    async def verify_permit(
        self,
        request: Request[Any, Any, Any],
        company_id: FromPath[uuid.UUID],
        data: Annotated[
            PermitReview, example_body(("Verified against the register", {"number": "2019.0421.T"}))
        ],
        pool: NamedDependency[Pool],
    ) -> Permit:
        """Verify a company's permit (park administrators), naming its number, so that one
        stated anew meanwhile is not verified unseen."""
        return await _review(request, pool, company_id, data, "verified")

    @post(
        "/{company_id:uuid}/permit/reject",
        status_code=HTTP_200_OK,
        operation_id="reject_company_permit",
        guards=[requires("park:admin")],
    )
    async def reject_permit(
        self,
        request: Request[Any, Any, Any],
        company_id: FromPath[uuid.UUID],
        data: Annotated[
            PermitReview,
            example_body(
                (
                    "Not in the register",
                    {"number": "2019.0421.T", "reason": "no such permit in Norske utslipp"},
                )
            ),
        ],
        pool: NamedDependency[Pool],
    ) -> Permit:
        """Reject a company's permit (park administrators), with the reason it is shown."""
        return await _review(request, pool, company_id, data, "rejected")


class Suspension(Model):
    reason: str = Field(
        min_length=1,
        max_length=standing.MAX_REASON_LENGTH,
        description="Why the company is suspended; its people are shown it.",
    )


async def _change_standing(
    request: Request[Any, Any, Any],
    pool: Pool,
    company_id: uuid.UUID,
    action: standing.StandingAction,
    reason: str | None,
) -> Company:
    """Apply a park administrator's decision on a company's standing, with its audit line,
    its ``company.changed`` event and, for a suspension or a reinstatement, its open
    listings withdrawn from or published again on the exchange."""
    principal = principal_of(request, "park:admin")
    async with pool.acquire() as conn, conn.transaction():
        current = await storage.company_for_update(conn, company_id)
        if current is None:
            raise Problem(404, "Not found", f"no company {company_id}")
        try:
            status = standing.transition(
                _status(current.status), action, was_verified=current.verified_at is not None
            )
        except Refusal as refused:
            raise Problem(
                HTTP_409_CONFLICT,
                "Conflict",
                refused.message,
                code=refused.code,
                params=refused.params,
            ) from None
        row = await storage.set_company_status(
            conn, company_id, status, reason, principal.subject_id
        )
        listings = await storage.open_listings_of(conn, company_id)
        if action == "suspend":
            for listing in listings:
                await publish_event(
                    conn,
                    request,
                    ListingWithdrawn(
                        listing_id=listing.id,
                        company_id=company_id,
                        withdrawn_at=row.updated_at,
                        reason="company_suspended",
                    ),
                    listing.id,
                )
        elif action == "reinstate":
            for listing in listings:
                await publish_event(
                    conn,
                    request,
                    ListingPublished(
                        **facts(listing, row.share_terms_with_partners),
                        published_at=listing.published_at or row.updated_at,
                    ),
                    listing.id,
                )
        await publish_event(conn, request, company_changed(row), company_id)
        await audit(
            conn,
            request,
            f"company.{standing.PAST[action]}",
            company_id=company_id,
            subject_id=company_id,
            status=status,
            previous=current.status,
            reason=reason,
            listings=len(listings) if action != "verify" else None,
        )
        permit = await storage.permit_of(conn, company_id)
    return Company.of(row, permit)


async def refuse_if_suspended(conn: Connection, company_id: uuid.UUID) -> None:
    """A 403 (``company.suspended``, with the reason) when the park has suspended the
    company: it may not post, publish or change listings."""
    refuse_unless_trading(*await storage.company_status(conn, company_id))


def refuse_unless_trading(status: str, reason: str | None) -> None:
    """``refuse_if_suspended`` for a company whose standing the caller has read (and locked)."""
    if not standing.may_trade(status):
        raise Problem(
            403,
            "Company suspended",
            f"the park office has suspended your company ({reason}); it cannot post, "
            "publish or change listings until it is reinstated",
            code="company.suspended",
            params={"reason": reason or ""},
        )


class PermitReview(Model):
    number: str = Field(min_length=1, max_length=100, description="The permit's number.")
    reason: str | None = Field(
        default=None, max_length=500, description="Why it is rejected (for a rejection)."
    )


async def _review(
    request: Request[Any, Any, Any],
    pool: Pool,
    company_id: uuid.UUID,
    data: PermitReview,
    status: Literal["verified", "rejected"],
) -> Permit:
    principal = principal_of(request, "park:admin")
    if status == "rejected" and not data.reason:
        raise Problem(
            400,
            "The request is not valid",
            "reason: say why the permit is rejected",
            errors=[{"field": "reason", "message": "say why the permit is rejected"}],
        )
    async with pool.acquire() as conn, conn.transaction():
        row = await storage.review_permit(
            conn,
            company_id,
            data.number,
            status,
            principal.subject_id,
            data.reason if status == "rejected" else None,
        )
        if row is None:
            raise Problem(
                404,
                "Not found",
                f"company {company_id} has no permit numbered {data.number!r} (stated anew?)",
            )
        await audit(
            conn,
            request,
            f"permit.{status}",
            company_id=company_id,
            subject_id=company_id,
            number=data.number,
            reason=data.reason,
        )
        # contracts and documents rely on the permits the park verified: tell them
        await announce_company(conn, await _company_or_404(conn, company_id))
    return Permit.of(row)


class PermitController(Controller):
    path = "/permits"
    tags = ["companies"]

    @get("/", operation_id="list_permits")
    async def waiting(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        status: FromQuery[PermitStatus | None] = "stated",
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[Permit]:
        """Companies' permits, oldest statement first (park administrators); by default
        those waiting to be verified."""
        principal_of(request, "park:admin")
        async with pool.acquire() as conn:
            return [Permit.of(r) for r in await storage.permits_with_status(conn, status, limit)]


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
        request: Request[Any, Any, Any],
        data: Annotated[
            SignIn,
            example_body(
                ("Sign in", {"email": "kari@sagbruk.example", "password": "a long passphrase"})
            ),
        ],
        pool: NamedDependency[Pool],
        signing_key: NamedDependency[Ed25519PrivateKey],
        settings: NamedDependency[ListingsSettings],
    ) -> AccessToken:
        """Sign in with e-mail and password; the token identifies you to every service.

        After a few failed attempts for one account, or many from one address, further
        attempts wait: 429 with `Retry-After` (seconds), whether or not the account exists."""
        account = data.email.lower()
        address = client_address(request.scope) or "unknown"
        policies = {("account", account): throttling.ACCOUNT}
        if throttling.throttles_address(address):
            policies[("address", address)] = throttling.ADDRESS
        now = datetime.now(UTC)
        async with pool.acquire() as conn, conn.transaction():
            counts = await storage.lock_throttle_counts(conn, list(policies))
            wait = max(
                throttling.wait_seconds(counts[key], policy, now)
                for key, policy in policies.items()
            )
            if wait == 0:  # counted as failed until it succeeds (see throttling)
                for (scope, key), policy in policies.items():
                    failures = throttling.current(counts[(scope, key)], policy, now)
                    await storage.set_throttle_count(conn, scope, key, failures + 1, now)
        if wait:
            raise Problem(
                429,
                "Too many sign-in attempts",
                f"too many failed sign-ins for this account or from this address; try again "
                f"in {wait} seconds",
                headers={"Retry-After": str(wait)},
            )
        async with pool.acquire() as conn:
            person = await storage.person_by_email(conn, data.email)
        ok = await password_matches(
            person.password_hash if person else None, data.password.get_secret_value()
        )
        if person is None or not ok or person.disabled_at is not None:
            reason = (
                "no such account"
                if person is None
                else "disabled"
                if person.disabled_at is not None
                else "wrong password"
            )
            async with pool.acquire() as conn:
                await audit(
                    conn,
                    request,
                    "sign_in.failed",
                    company_id=person.company_id if person else None,
                    subject_id=person.id if person else None,
                    email=account,
                    reason=reason,
                )
                if random.random() < 0.01:  # housekeeping, not security
                    await storage.forget_old_throttle_counts(conn, 24 * 3600.0)
            raise Problem(401, "Unauthorized", "the e-mail or the password is wrong")
        if person.invitation_hash is not None:
            raise Problem(
                403,
                "E-mail not confirmed",
                "confirm your e-mail address with the link the exchange sent you first",
                code="person.email_unconfirmed",
            )
        async with pool.acquire() as conn, conn.transaction():
            await storage.take_back_attempt(conn, address, account)
            await storage.mark_signed_in(conn, person.id)
            await audit(
                conn,
                request,
                "sign_in",
                company_id=person.company_id,
                subject_id=person.id,
                actor=Principal(person.id, person.company_id, person.role, "person"),  # type: ignore[arg-type]
            )
        return access_token(signing_key, settings, person)

    @post("/sign-out", status_code=HTTP_204_NO_CONTENT, operation_id="sign_out")
    async def sign_out(self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]) -> None:
        """End the access token this request carries, at every service within seconds
        (the person's other sign-ins stay). API keys are revoked at `/api-keys/`."""
        principal = principal_of(request)
        if principal.kind != "person" or principal.token_id is None:
            raise Problem(
                400,
                "The request is not valid",
                "only a person's access token signs out; revoke an API key at /api-keys/",
            )
        revoked_at = datetime.now(UTC)
        expires_at = datetime.fromtimestamp(principal.expires_at or revoked_at.timestamp(), UTC)
        event = AccessTokenRevoked(
            token_id=principal.token_id,
            person_id=principal.subject_id,
            revoked_at=revoked_at,
            expires_at=expires_at,
        )
        async with pool.acquire() as conn, conn.transaction():
            await record_revoked_credential(
                conn, principal.token_id, "access_token", revoked_at, expires_at
            )
            await publish_event(conn, request, event, principal.token_id)
            await audit(
                conn,
                request,
                "sign_out",
                company_id=principal.company_id,
                subject_id=principal.subject_id,
            )


def access_token(
    signing_key: Ed25519PrivateKey, settings: ListingsSettings, person: storage.PersonRow
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


class ParkPerson(Person):
    """A person of the park, for its administrators."""

    company_name: str | None = Field(description="Their company's name; none for the park's.")
    last_signed_in_at: datetime | None = Field(description="When they last signed in, if ever.")


class ParkPeoplePage(BaseModel):
    items: list[ParkPerson]
    total: int = Field(description="How many people there are in all.")


PeopleSort = Literal["name", "email", "company", "role", "last_sign_in"]


def _link_open(person: storage.PersonRow | None) -> bool:
    """Whether the person's e-mailed link (an invitation or an e-mail confirmation) is
    known, unused and unexpired."""
    return (
        person is not None
        and person.invitation_expires_at is not None
        and person.invitation_expires_at >= datetime.now(UTC)
    )


def _valid_invitation(person: storage.PersonRow | None) -> storage.PersonRow:
    """The invited person, if the invitation may still be accepted; else a 400."""
    if person is None or not _link_open(person):
        raise Problem(
            400,
            "Invitation not valid",
            "this invitation is unknown, used or expired; ask your company admin again",
            errors=[field_error("token", "person.invitation_invalid", "unknown, used or expired")],
        )
    return person


class PeopleController(Controller):
    path = "/people"
    tags = ["people"]

    @get("/park", operation_id="list_park_people")
    async def park(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        sort: FromQuery[PeopleSort] = "name",
        order: FromQuery[Literal["asc", "desc"]] = "asc",
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> ParkPeoplePage:
        """Every person of every company, and the park's administrators (park
        administrators): name, e-mail, company, role, status and last sign-in; one page,
        sorted by `sort` (`name`, `email`, `company`, `role`, `last_sign_in`) in `order`."""
        principal_of(request, "park:admin")
        async with pool.acquire() as conn:
            rows, total = await storage.park_people(conn, sort, order == "desc", limit, offset)
        return ParkPeoplePage(
            items=[
                ParkPerson(
                    **Person.of(r.person).model_dump(),
                    company_name=r.company_name,
                    last_signed_in_at=r.person.last_signed_in_at,
                )
                for r in rows
            ],
            total=total,
        )

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
        settings: NamedDependency[ListingsSettings],
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
            await audit(
                conn,
                request,
                "person.invited",
                company_id=company_id,
                subject_id=row.id,
                role=data.role,
            )
        return InvitedPerson(person=Person.of(row), invitation_token=token, expires_at=expires_at)

    @post(
        "/{person_id:uuid}/invitation",
        status_code=HTTP_201_CREATED,
        operation_id="renew_invitation",
    )
    async def renew_invitation(
        self,
        request: Request[Any, Any, Any],
        person_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
        settings: NamedDependency[ListingsSettings],
    ) -> InvitedPerson:
        """E-mail an invited colleague a new link (company admins): the one sent before
        stops working. 404 unless they are of your company and have not joined yet."""
        company_id = company_of(request, "company:admin")
        token = secrets.token_urlsafe(32)
        expires_at = datetime.now(UTC) + timedelta(hours=settings.invitation_hours)
        async with pool.acquire() as conn, conn.transaction():
            company = await _company_or_404(conn, company_id)
            row = await storage.renew_invitation(
                conn, person_id, company_id, _digest(token), expires_at
            )
            if row is None:
                raise Problem(
                    404, "Not found", f"no open invitation of {person_id} in your company"
                )
            await send_link(conn, row, company.name, "invitation", token, expires_at)
            await audit(
                conn,
                request,
                "person.invited",
                company_id=company_id,
                subject_id=row.id,
                role=row.role,
                renewed=True,
            )
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
        settings: NamedDependency[ListingsSettings],
    ) -> AccessToken:
        """Confirm the e-mail address a company signed up with (the token of the link the
        exchange e-mailed): the admin can sign in from now on, and is signed in."""
        async with pool.acquire() as conn, conn.transaction():
            person = await storage.person_by_invitation(conn, _digest(data.token))
            if person is None or person.password_hash is None or not _link_open(person):
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
        request: Request[Any, Any, Any],
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
        digest = _digest(data.token)
        # An unknown, used or expired token is refused before the password is hashed: the
        # hash (argon2) costs a core a third of a second, which nobody may make the exchange
        # spend with made-up tokens. Checked again below, in the transaction that uses it.
        async with pool.acquire() as conn:
            _valid_invitation(await storage.person_by_invitation(conn, digest))
        password_hash = await hash_password(data.password.get_secret_value())
        async with pool.acquire() as conn, conn.transaction():
            person = _valid_invitation(await storage.person_by_invitation(conn, digest))
            activated = await storage.set_password(conn, person.id, password_hash)
            await announce_person(conn, activated)
            await audit(
                conn,
                request,
                "person.joined",
                company_id=activated.company_id,
                subject_id=activated.id,
            )
            return Person.of(activated)

    @delete("/{person_id:uuid}", status_code=HTTP_200_OK, operation_id="disable_colleague")
    async def disable(
        self,
        request: Request[Any, Any, Any],
        person_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Person:
        """Disable a colleague (company admins): they can no longer sign in, and within
        seconds every service refuses their tokens and the API keys they made (which are
        revoked), and their open live streams end."""
        principal = principal_of(request)
        company_id = company_of(request, "company:admin")
        if principal.kind == "person" and principal.subject_id == person_id:
            raise Problem(409, "Conflict", "you cannot disable yourself")
        async with pool.acquire() as conn, conn.transaction():
            row = await storage.disable_person(conn, person_id, company_id)
            if row is None:
                raise Problem(404, "Not found", f"no colleague {person_id} in your company")
            assert row.disabled_at is not None
            # here at once; elsewhere on the person.changed event
            await record_revoked_credential(conn, row.id, "person", row.disabled_at)
            await announce_person(conn, row)
            revoked = await storage.revoke_keys_made_by(conn, row.id)
            for key in revoked:
                await _announce_revoked_key(conn, request, key)
            await audit(
                conn,
                request,
                "person.disabled",
                company_id=company_id,
                subject_id=row.id,
                revoked_api_keys=[str(k.id) for k in revoked],
            )
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
    async with pool.acquire() as conn, conn.transaction():
        row = await storage.insert_api_key(
            conn, key_id, company_id, label, role, principal_of(request).subject_id
        )
        await audit(
            conn,
            request,
            "api_key.created" if company_id else "partner_key.created",
            company_id=company_id,
            subject_id=key_id,
            label=label,
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
        await _announce_revoked_key(conn, request, row)
        await audit(
            conn,
            request,
            "api_key.revoked" if company_id else "partner_key.revoked",
            company_id=company_id,
            subject_id=row.id,
        )
    return ApiKey.of(row)


async def _announce_revoked_key(
    conn: Connection, request: Request[Any, Any, Any], row: storage.ApiKeyRow
) -> None:
    """Refused here at once, elsewhere within seconds (``api_key.revoked``)."""
    assert row.revoked_at is not None
    event = ApiKeyRevoked(key_id=row.id, company_id=row.company_id, revoked_at=row.revoked_at)
    await record_revocation(conn, event)
    await publish_event(conn, request, event, row.id)


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


AUDIT_ACTIONS = (
    "company.registered",
    "company.updated",
    "sign_in",
    "sign_in.failed",
    "sign_out",
    "person.invited",
    "person.joined",
    "person.disabled",
    "api_key.created",
    "api_key.revoked",
    "partner_key.created",
    "partner_key.revoked",
    "partner_credential.issued",
    "partner_credential.revoked",
    "permit.stated",
    "permit.verified",
    "permit.rejected",
    "company.verified",
    "company.suspended",
    "company.reinstated",
)


class AuditEntry(BaseModel):
    """Who did what, when and from where."""

    id: int
    at: datetime
    action: str = Field(description="One of: " + ", ".join(f"`{a}`" for a in AUDIT_ACTIONS))
    actor_id: uuid.UUID | None = Field(
        description="The person or API key that acted; none when anonymous (a registration, "
        "a failed sign-in)."
    )
    actor_kind: Literal["person", "api_key"] | None
    company_id: uuid.UUID | None = Field(description="The company it concerns, if any.")
    subject_id: uuid.UUID | None = Field(
        description="What it acted on: the person, key or company."
    )
    client: str | None = Field(description="The client's address, as the gateway saw it.")
    details: dict[str, Any] = Field(
        description="What else is known: the e-mail tried and why a sign-in failed, the "
        "fields changed, the keys revoked with a person, ..."
    )

    @classmethod
    def of(cls, row: storage.AuditRow) -> AuditEntry:
        return cls(
            id=row.id,
            at=row.at,
            action=row.action,
            actor_id=row.actor_id,
            actor_kind="api_key"
            if row.actor_kind == "api_key"
            else "person"
            if row.actor_kind
            else None,
            company_id=row.company_id,
            subject_id=row.subject_id,
            client=row.client,
            details=row.details,
        )


class AuditController(Controller):
    path = "/audit-log"
    tags = ["audit"]

    @get("/", operation_id="read_audit_log")
    async def read(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        company_id: FromQuery[uuid.UUID | None] = None,
        actor_id: FromQuery[uuid.UUID | None] = None,
        action: Annotated[
            str | None,
            Parameter(
                pattern=r"^[a-z_]+(\.[a-z_]+)?$",
                max_length=40,
                description="An action (`sign_in.failed`), or a group (`api_key`).",
            ),
        ] = None,
        before: Annotated[
            int | None,
            Parameter(ge=1, le=2**62, description="Continue after this entry id (a cursor)."),
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> Response[list[AuditEntry]]:
        """The audit log, newest first (park administrators): sign-ins and failed sign-ins,
        sign-outs, registrations, invitations, disabled people, API and partner keys made
        and revoked, permits stated and verified. When there is more, `X-Next-Cursor` holds
        the `before` of the next page."""
        principal_of(request, "park:admin")
        async with pool.acquire() as conn:
            rows = await storage.audit_page(
                conn,
                company_id=company_id,
                action=action,
                actor_id=actor_id,
                before=before,
                limit=limit + 1,
            )
        headers: dict[str, str] = {}
        if len(rows) > limit:
            rows = rows[:limit]
            headers["X-Next-Cursor"] = str(rows[-1].id)
        return Response([AuditEntry.of(r) for r in rows], headers=headers)
