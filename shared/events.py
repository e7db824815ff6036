"""The event envelope and the payloads that cross service boundaries.

Every Kafka message is one JSON object in CloudEvents 1.0 *structured* mode: the
attributes ``specversion``, ``id``, ``type``, ``source``, ``subject``, ``time`` and
``datacontenttype`` at the top level, the payload under ``data``, and two extension
attributes, ``schemaversion`` (the payload's version within its topic) and
``correlationid`` (the request or event that set this chain off). The Kafka key is
the subject (the aggregate id), so all events of one thing share a partition.

Within a topic version only optional fields are ever added to a payload.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.units import Unit


class Topic(StrEnum):
    """One topic per producing service, versioned in its name."""

    LISTINGS = "listings.events.v1"
    PROPOSALS = "matching.proposals.v1"
    CONTRACTS = "contracts.events.v1"
    NOTIFICATIONS = "notifications.events.v1"
    # What partners (carriers, ERP vendors, authorities) may read: no people, and prices
    # only where the companies concerned share them. Written by notifications.
    PARTNERS = "partners.events.v1"

    @property
    def dead_letter(self) -> str:
        return dead_letter_topic(self.value)


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


class Payload(BaseModel):
    """Base of every event payload: frozen, strict about unknown fields in tests.

    A payload class that names its ``event_type`` registers itself in ``PAYLOAD_TYPES``
    when it is defined: the registry is never kept by hand, and two classes cannot claim one
    type."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    topic: ClassVar[Topic]
    schema_version: ClassVar[int] = 1

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        event_type = cls.__dict__.get("event_type")
        if event_type is None:
            return  # a base of several types (ListingFacts, ...)
        if event_type in PAYLOAD_TYPES:
            raise TypeError(f"{cls.__name__}: {event_type} is {PAYLOAD_TYPES[event_type]}'s")
        PAYLOAD_TYPES[event_type] = cls


# Every event type of the exchange: filled in as the payload classes are defined.
PAYLOAD_TYPES: dict[str, type[Payload]] = {}


ListingKind = Literal["offer", "need"]
Frequency = Literal["once", "weekly", "monthly", "yearly"]
Transport = Literal["supplier", "receiver", "either"]


class QualitySpec(BaseModel):
    """One named property of a listing: its value (offers) or limits (needs), or both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    property: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="Snake-case name of a property the exchange knows for the listing's "
        "resource (`moisture`, `purity`, `temperature_c`, `cadmium`, ...; a new one is refused "
        "as `listing.quality_unknown`, naming those it knows), in that property's unit.",
        examples=["moisture"],
    )
    unit: str = Field(min_length=1, max_length=20, description="`%`, `mg/kg`, `°C`, ...")
    value: float | None = Field(default=None, description="What it is (typical value).")
    min: float | None = Field(default=None, description="Lowest acceptable or guaranteed.")
    max: float | None = Field(default=None, description="Highest acceptable or guaranteed.")

    @model_validator(mode="after")
    def _consistent(self) -> QualitySpec:
        if self.value is None and self.min is None and self.max is None:
            raise ValueError(f"{self.property}: give a value, a min or a max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{self.property}: min is above max")
        return self


TransportMode = Literal["road", "pipe", "ship", "rail"]


class ReasonDetail(BaseModel):
    """A reason as data: a code from the exchange's catalogue and its parameters (numbers
    as numbers, List of Waste codes and classes as the exchange names them). Render it
    with the catalogue in `shared/reasons.py`; never parse the sentence beside it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    code: str = Field(
        description="E.g. `resource.use`, `quality.within_limit`, `distance.within`, "
        "`co2e.avoided` (the catalogue: docs/reasons.md).",
        examples=["quality.within_limit"],
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="The reason's numbers and names, by the code's documented keys.",
        examples=[
            {"property": "moisture", "unit": "%", "stated_min": 12, "stated_max": 12, "max": 45}
        ],
    )


# A reason made of the exchange's words and a person's (a cancelled contract, a credit note):
# the exchange's part as a code, the person's apart.
CodedReason = Annotated[
    ReasonDetail | None,
    Field(
        description="The exchange's part of the reason as a code and its parameters "
        "(docs/reasons.md); absent from events made before reasons had codes."
    ),
]
TypedReason = Annotated[
    str | None, Field(description="What a person wrote as the reason, apart from the code.")
]


class ListingTerms(BaseModel):
    """The terms of a listing that the matcher respects beyond what, how much, when and
    where: declared once, here. The API's draft and answer, the listing's event and the
    matcher's open listing take them from this class by name (``TERMS``), so a new term is
    this declaration, a column in each service's table, the field of each domain model and
    the rule that uses it."""

    accepts: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="A need's other acceptable resources: List of Waste codes (six digits) "
        "or `class:<name>`; any of them serves it.",
    )
    use: str | None = Field(
        default=None,
        description="What a need is for (`biogas_feedstock`, `boiler_fuel`, "
        "`cement_raw_material`, ...): every resource the knowledge base allows for that use "
        "serves it. A need may name a use and no resource.",
    )
    transport_mode: TransportMode | None = Field(
        default=None,
        description="How it moves: `road`, `pipe`, `ship` or `rail`; None: the class's usual "
        "(pipe for heat, steam, cold, water and gases, road otherwise).",
    )
    max_distance_km: float | None = Field(
        default=None,
        gt=0,
        le=20000,
        description="Farthest the listing's company will trade; None: the exchange's default "
        "for its transport (100 km by road, 20 km by pipe, 300 km by rail, 1000 km by ship).",
    )


# The names of the terms: what every mapping of a listing's terms iterates over.
TERMS: tuple[str, ...] = tuple(ListingTerms.model_fields)


class ListingFacts(Payload, ListingTerms):
    """What the exchange knows of a listing; shared by its published and updated events."""

    listing_id: uuid.UUID = Field(description="The listing (also the event's subject).")
    company_id: uuid.UUID = Field(description="The company that posted it.")
    kind: ListingKind = Field(description="`offer`: the company has it; `need`: it wants it.")
    ewc_code: str | None = Field(
        default=None,
        pattern=r"^\d{6}$",
        description="Six-digit European List of Waste code; or else `resource_class`.",
    )
    resource_class: str | None = Field(
        default=None, description="`heat`, `process_water`, `co2`, ... when not a waste code."
    )
    title: str = Field(description="Short human title.")
    quantity: Decimal = Field(gt=0, description="Amount offered or needed (per period).")
    remaining_quantity: Decimal | None = Field(
        default=None, ge=0, description="Not yet reserved by contracts."
    )
    unit: Unit = Field(description="Unit of `quantity`.")
    hazardous: bool = Field(description="The List of Waste entry is hazardous.")
    frequency: Frequency = Field(default="once", description="Once, or a stream per period.")
    available_from: date | None = None
    available_until: date | None = None
    quality: tuple[QualitySpec, ...] = ()
    plot: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    transport: Transport = Field(default="either", description="Who moves the material.")
    price_per_unit_ore: int | None = Field(
        default=None,
        description="NOK øre per unit, excluding MVA; negative: a gate fee the supplier pays.",
    )
    share_terms_with_partners: bool | None = Field(
        default=None,
        description="Whether the company shared its prices and terms with partners when "
        "this event was made (its `share_terms_with_partners`, read with the listing): "
        "partners see `price_per_unit_ore` only when true. None in events from before the "
        "field existed: then the company's last `company.changed` decides.",
    )


class ListingPublished(ListingFacts):
    """An offer or a need was opened on the exchange."""

    event_type: ClassVar[str] = "listing.published"
    topic: ClassVar[Topic] = Topic.LISTINGS

    published_at: datetime = Field(description="When it opened.")


class ListingUpdated(ListingFacts):
    """An open listing changed (quantity, price, window, quality, ...)."""

    event_type: ClassVar[str] = "listing.updated"
    topic: ClassVar[Topic] = Topic.LISTINGS

    updated_at: datetime
    changed: tuple[str, ...] = Field(description="Names of the fields that changed.")


class ListingWithdrawn(Payload):
    """The company took its listing off the exchange."""

    event_type: ClassVar[str] = "listing.withdrawn"
    topic: ClassVar[Topic] = Topic.LISTINGS

    listing_id: uuid.UUID
    company_id: uuid.UUID
    withdrawn_at: datetime
    reason: Literal["company_suspended"] | None = Field(
        default=None,
        description="Why, when the company did not take it off itself: `company_suspended` "
        "(the park office suspended the company; the listing is published again, with "
        "`listing.published`, when the company is reinstated).",
    )


class ListingExpiring(Payload):
    """An open listing's window (`available_until`) ends soon: its company is told, once
    for each end date."""

    event_type: ClassVar[str] = "listing.expiring"
    topic: ClassVar[Topic] = Topic.LISTINGS

    listing_id: uuid.UUID
    company_id: uuid.UUID
    kind: ListingKind
    title: str
    available_until: date = Field(description="The last day the listing is open.")
    days_left: int = Field(ge=0, description="Whole days from today to `available_until`.")


class ListingReserved(Payload):
    """An agreed contract reserved part or all of a listing's remaining quantity."""

    event_type: ClassVar[str] = "listing.reserved"
    topic: ClassVar[Topic] = Topic.LISTINGS

    listing_id: uuid.UUID
    company_id: uuid.UUID
    contract_id: uuid.UUID
    quantity: Decimal = Field(gt=0, description="Reserved now, in `unit`.")
    unit: Unit
    remaining_quantity: Decimal = Field(ge=0)
    status: str = Field(description="`reserved` when nothing remains, else `open`.")


class ListingReservationRefused(Payload):
    """A contract asked for more than the listing has left, or for a closed listing."""

    event_type: ClassVar[str] = "listing.reservation_refused"
    topic: ClassVar[Topic] = Topic.LISTINGS

    listing_id: uuid.UUID
    contract_id: uuid.UUID
    requested_quantity: Decimal
    requested_unit: Unit
    remaining_quantity: Decimal | None
    reason: str = Field(description="Why, in English.")
    reason_detail: ReasonDetail | None = Field(
        default=None,
        description="The same reason as a code and its parameters (`listing.missing`, "
        "`listing.not_open`, `listing.unit_mismatch`, `listing.too_little`, "
        "`listing.too_little_in_period`: docs/reasons.md); absent from a listings service "
        "older than the codes.",
    )


class Terms(BaseModel):
    """What two companies agree on: how much, at what price, when, and who transports."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantity: Decimal = Field(gt=0, description="Total over the contract, in `unit`.")
    unit: Unit
    price_per_unit_ore: int = Field(
        ge=-100_000_000_00,
        le=100_000_000_00,
        description="Paid by the receiver per unit, in øre, before MVA; negative: a gate fee "
        "the supplier pays the receiver.",
    )
    delivery_from: date | None = Field(default=None, description="First delivery day.")
    delivery_until: date | None = Field(default=None, description="Last delivery day.")
    transport: Literal["supplier", "receiver"] = Field(
        default="receiver", description="Who moves the material."
    )
    schedule: Frequency = Field(
        default="once",
        description="`once`: one delivery; `weekly`, `monthly`, `yearly`: a continuous "
        "stream delivered in parts up to `quantity`.",
    )

    @model_validator(mode="after")
    def _window(self) -> Terms:
        if self.delivery_from and self.delivery_until and self.delivery_from > self.delivery_until:
            raise ValueError("delivery_from is after delivery_until")
        return self


class PartnerSharing(BaseModel):
    """Whether a company shares its prices and terms with partners, as one of its
    `company.changed` events said."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    share_terms_with_partners: bool = Field(
        description="Partners may see the prices and terms of its listings and contracts."
    )
    changed_at: datetime = Field(
        description="The `changed_at` of that `company.changed`: a later one overrides it."
    )


# What a contract's sharing fields say, in both of them.
_AGREED_SHARING = (
    "as the contracts service knew it when the contract was agreed. It learns it from "
    "`company.changed` like any reader, so a change made moments before the agreement may "
    "not have reached it yet: `changed_at` names the change it knew, and a reader that "
    "knows a later one goes by that. Partners see `price_per_unit_ore` and `terms` only "
    "when both companies share. None: it had heard of no change (or the event is from "
    "before the field existed)."
)


class ContractAgreed(Payload):
    """Supplier and receiver accepted the same terms: the exchange is agreed."""

    event_type: ClassVar[str] = "contract.agreed"
    topic: ClassVar[Topic] = Topic.CONTRACTS

    contract_id: uuid.UUID
    proposal_id: uuid.UUID | None = None
    offer_id: uuid.UUID
    need_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    quantity: Decimal = Field(gt=0)
    unit: Unit
    price_per_unit_ore: int | None = None
    agreed_at: datetime
    title: str | None = None
    terms: Terms | None = Field(default=None, description="Everything agreed.")
    supplier_sharing: PartnerSharing | None = Field(
        default=None,
        description="Whether the supplier shares its terms with partners, " + _AGREED_SHARING,
    )
    receiver_sharing: PartnerSharing | None = Field(
        default=None,
        description="Whether the receiver shares its terms with partners, " + _AGREED_SHARING,
    )


class NegotiationFacts(Payload):
    """A step of a negotiation the other side should know of."""

    topic: ClassVar[Topic] = Topic.CONTRACTS

    negotiation_id: uuid.UUID = Field(description="Also the proposal's id.")
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    title: str
    by_company_id: uuid.UUID | None = Field(description="None when the exchange acted.")
    terms: Terms | None = Field(default=None, description="The terms now on the table.")
    at: datetime


class NegotiationCountered(NegotiationFacts):
    """One side put other terms on the table; the other side answers."""

    event_type: ClassVar[str] = "negotiation.countered"


class NegotiationDeclined(NegotiationFacts):
    """One side declined: the negotiation is over."""

    event_type: ClassVar[str] = "negotiation.declined"


class NegotiationExpired(NegotiationFacts):
    """Nobody answered in time: the negotiation is over."""

    event_type: ClassVar[str] = "negotiation.expired"


class NegotiationReduced(NegotiationFacts):
    """A contract took part of a listing, and the terms on the table asked for more than it
    still has: the exchange cut them to what remains (in `terms`); both sides answer again."""

    event_type: ClassVar[str] = "negotiation.reduced"

    listing_id: uuid.UUID = Field(description="The listing that has less left.")
    asked_quantity: Decimal = Field(gt=0, description="What the terms asked for, in their unit.")
    by_contract_id: uuid.UUID = Field(description="The contract that took the quantity.")


class NegotiationWithdrawn(NegotiationFacts):
    """The exchange withdrew a negotiation: the listing it was about has nothing useful left
    for it (or the proposal was retracted before anyone answered)."""

    event_type: ClassVar[str] = "negotiation.withdrawn"

    listing_id: uuid.UUID | None = Field(default=None, description="The listing that ran out.")
    asked_quantity: Decimal | None = Field(default=None, description="What the terms asked for.")
    remaining_quantity: Decimal | None = Field(
        default=None, description="What the listing still has, in the terms' unit."
    )
    unit: Unit | None = None
    by_contract_id: uuid.UUID | None = Field(
        default=None, description="The contract that took the quantity."
    )


class ContractCancelled(Payload):
    """A contract ended early, or could not start (the listings could not reserve it)."""

    event_type: ClassVar[str] = "contract.cancelled"
    topic: ClassVar[Topic] = Topic.CONTRACTS

    contract_id: uuid.UUID
    offer_id: uuid.UUID
    need_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    undelivered_quantity: Decimal = Field(ge=0, description="Released, in `unit`.")
    unit: Unit
    by_company_id: uuid.UUID | None = Field(description="None when the exchange cancelled it.")
    reason: str = Field(description="Why, in English (with what a person wrote).")
    reason_detail: CodedReason = None
    reason_typed: TypedReason = None
    cancelled_at: datetime


class ContractCompleted(Payload):
    """Confirmed deliveries reached the contract's quantity: the contract is fulfilled."""

    event_type: ClassVar[str] = "contract.completed"
    topic: ClassVar[Topic] = Topic.CONTRACTS

    contract_id: uuid.UUID
    offer_id: uuid.UUID
    need_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    title: str
    delivered_quantity: Decimal = Field(ge=0, description="Confirmed, in `unit`.")
    unit: Unit
    deliveries: int = Field(ge=0, description="How many confirmed deliveries.")
    completed_at: datetime


class DeliveryFacts(Payload):
    """A delivery of a contract, as the supplier recorded it."""

    topic: ClassVar[Topic] = Topic.CONTRACTS

    delivery_id: uuid.UUID
    contract_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    title: str
    quantity: Decimal = Field(gt=0)
    unit: Unit
    delivered_on: date
    note: str | None = Field(default=None, description="Weighbridge note or dispute reason.")
    at: datetime


class DeliveryRecorded(DeliveryFacts):
    """The supplier recorded a delivery: the receiver confirms or disputes it."""

    event_type: ClassVar[str] = "delivery.recorded"


class DeliveryConfirmed(DeliveryFacts):
    """The receiver confirmed a delivery: it is invoiced and counted in the impact ledger."""

    event_type: ClassVar[str] = "delivery.confirmed"


class DeliveryDisputed(DeliveryFacts):
    """The receiver disputed a delivery (the reason is in `note`)."""

    event_type: ClassVar[str] = "delivery.disputed"


class InvoiceFacts(Payload):
    """An invoice for a confirmed delivery, as Stripe has it."""

    topic: ClassVar[Topic] = Topic.CONTRACTS

    invoice_id: uuid.UUID
    delivery_id: uuid.UUID
    contract_id: uuid.UUID
    payer_company_id: uuid.UUID
    payee_company_id: uuid.UUID
    amount_ore: int = Field(ge=0, description="Including MVA.")
    currency: Literal["nok"] = "nok"
    at: datetime
    number: int | None = Field(default=None, description="The seller's invoice number.")
    kid: str | None = Field(default=None, description="The KID to pay with (MOD10).")
    due_date: date | None = None


class InvoiceIssued(InvoiceFacts):
    """The invoice is finalised and sent to the payer."""

    event_type: ClassVar[str] = "invoice.issued"


class InvoicePaid(InvoiceFacts):
    """Stripe reports the invoice paid."""

    event_type: ClassVar[str] = "invoice.paid"


class InvoicePaymentFailed(InvoiceFacts):
    """Stripe reports a failed payment attempt; Stripe retries by its own schedule."""

    event_type: ClassVar[str] = "invoice.payment_failed"


class InvoiceVoided(InvoiceFacts):
    """The invoice is void (at Stripe, or credited in full): nothing is owed on it."""

    event_type: ClassVar[str] = "invoice.voided"

    reason: str | None = None


class CreditNoteIssued(Payload):
    """A credit note annuls an invoice in full (a voided invoice, or a delivery disputed after
    it was invoiced); its PDF and EHF are at the contracts API."""

    event_type: ClassVar[str] = "credit_note.issued"
    topic: ClassVar[Topic] = Topic.CONTRACTS

    credit_note_id: uuid.UUID
    invoice_id: uuid.UUID
    delivery_id: uuid.UUID
    contract_id: uuid.UUID
    payer_company_id: uuid.UUID = Field(description="Who paid (or owed) the invoice.")
    payee_company_id: uuid.UUID = Field(description="The seller, who issues the credit note.")
    number: int = Field(description="In the seller's series.")
    invoice_number: int
    amount_ore: int = Field(ge=0, description="Credited, including MVA.")
    currency: Literal["nok"] = "nok"
    reason: str = Field(description="Why, in English (with what a person wrote).")
    reason_detail: CodedReason = None
    reason_typed: TypedReason = None
    at: datetime


class NotificationFacts(Payload):
    """What became of one notification on one channel (webhook or e-mail)."""

    topic: ClassVar[Topic] = Topic.NOTIFICATIONS

    delivery_id: uuid.UUID = Field(description="One per event, recipient and channel.")
    notified_event_id: uuid.UUID = Field(description="The event notified of.")
    notified_event_type: str = Field(description="Its type, e.g. `trade.proposed`.")
    channel: Literal["webhook", "email"]
    company_id: uuid.UUID | None = Field(description="The recipient company, if any.")
    endpoint_id: uuid.UUID | None = Field(default=None, description="The webhook endpoint.")
    attempts: int = Field(ge=1)
    at: datetime


class NotificationDelivered(NotificationFacts):
    """The recipient's endpoint or mail server accepted the notification."""

    event_type: ClassVar[str] = "notification.delivered"


class NotificationFailed(NotificationFacts):
    """Every attempt failed within the bounded time; the last error is given."""

    event_type: ClassVar[str] = "notification.failed"

    error: str = Field(max_length=1000)


class ProposalValue(BaseModel):
    """What a proposed trade is worth, with the factors used; None where not estimated."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    price_gap_ore_per_unit: Decimal | None = Field(
        default=None,
        description="The need's price minus the offer's, in øre per unit of the proposal; "
        "positive: room for a deal.",
    )
    offer_price_ore_per_unit: Decimal | None = Field(
        default=None, description="The supplier's asking price per unit of the proposal."
    )
    need_price_ore_per_unit: Decimal | None = Field(
        default=None, description="The receiver's price per unit of the proposal."
    )
    suggested_price_ore_per_unit: int | None = Field(
        default=None,
        description="Where a deal may start, per unit of the proposal: the middle of the two "
        "prices, or the one price given.",
    )
    surplus_ore: int | None = Field(default=None, description="The gap times the quantity, in øre.")
    supplier_surplus_ore: int | None = Field(
        default=None, description="The supplier's share when the price meets in the middle."
    )
    receiver_surplus_ore: int | None = Field(
        default=None, description="The receiver's share when the price meets in the middle."
    )
    distance_km: float | None = Field(default=None, description="Straight line between sites.")
    transport_tkm: float | None = Field(
        default=None, description="Tonnes times the straight-line km."
    )
    transport_kg_co2e: float | None = Field(
        default=None, description="Road transport, well-to-wheel (TTW + WTT factors)."
    )
    transport_cost_ore: int | None = Field(
        default=None,
        description="Haulage at the park's configured rate per tonne-km; None when no rate "
        "is set (the exchange has no sourced default).",
    )
    factors: tuple[str, ...] = Field(default=(), description="Emission factor keys used.")
    co2e_avoided_kg: float | None = Field(
        default=None,
        description="Production replaced (less reprocessing) plus the disposal route escaped, "
        "from the impact knowledge base; None when the resource has no sourced factors.",
    )
    co2e_factors: tuple[str, ...] = Field(
        default=(), description="Emission factor keys behind `co2e_avoided_kg`."
    )
    co2e_basis: str | None = Field(
        default=None,
        description="The counterfactual and what is not counted, or why nothing is estimated.",
    )
    co2e_net_kg: float | None = Field(
        default=None, description="`co2e_avoided_kg` less `transport_kg_co2e`, when both known."
    )
    transport_mode: TransportMode | None = Field(
        default=None,
        description="How the resource moves: `pipe` carries no road emissions (its pumping "
        "energy is not estimated); `road`, `rail`, `ship` use their DESNZ factors.",
    )
    use: str | None = Field(
        default=None, description="The use the knowledge base matched the pair for, if any."
    )


class TradeProposed(Payload):
    """The matcher found an offer and a need that fit and proposes a trade."""

    event_type: ClassVar[str] = "trade.proposed"
    topic: ClassVar[Topic] = Topic.PROPOSALS

    proposal_id: uuid.UUID = Field(
        description="Deterministic from the offer and the need (and the plan, for the optimiser)."
    )
    offer_id: uuid.UUID
    need_id: uuid.UUID
    supplier_company_id: uuid.UUID = Field(description="Company that posted the offer.")
    receiver_company_id: uuid.UUID = Field(description="Company that posted the need.")
    ewc_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    resource_class: str | None = None
    title: str = Field(description="Human title of what is traded.")
    quantity: Decimal = Field(gt=0, description="Proposed amount, in `unit`.")
    unit: Unit
    reasons: tuple[str, ...] = Field(description="Why the pair matches, in plain words.")
    reason_details: tuple[ReasonDetail, ...] = Field(
        default=(),
        description="The same reasons as codes and parameters, in the same order: render "
        "them in the reader's language from the catalogue (docs/reasons.md).",
    )
    value: ProposalValue | None = Field(default=None, description="What the trade is worth.")
    origin: Literal["matcher", "optimiser"] = Field(
        default="matcher",
        description="`matcher`: the pairwise matcher, as listings opened; `optimiser`: an "
        "accepted park-wide plan (then `plan_id` names it).",
    )
    plan_id: uuid.UUID | None = Field(default=None, description="The optimiser's plan.")


class PersonChanged(Payload):
    """A person of a company (or a park administrator) was added, changed or disabled: the
    notifications service keeps its directory of whom to e-mail, in which language."""

    event_type: ClassVar[str] = "person.changed"
    topic: ClassVar[Topic] = Topic.LISTINGS

    person_id: uuid.UUID
    company_id: uuid.UUID | None = Field(description="None for a park administrator.")
    email: str
    name: str
    language: Literal["nb", "en"]
    role: str
    status: Literal["invited", "active", "disabled"]


class PersonLinkIssued(Payload):
    """A person is sent a one-time link by e-mail: to confirm the e-mail address they signed
    their company up with (``confirm_email``), or to join their company (``invitation``).
    The notifications service e-mails it; the link is good once, until ``expires_at``. It
    travels on listings.events.v1, which only the exchange's own services read."""

    event_type: ClassVar[str] = "person.link_issued"
    topic: ClassVar[Topic] = Topic.LISTINGS

    person_id: uuid.UUID
    company_id: uuid.UUID | None
    company_name: str = Field(description="The person's company, to name in the e-mail.")
    email: str
    name: str
    language: Literal["nb", "en"]
    purpose: Literal["confirm_email", "invitation"]
    token: str = Field(description="The one-time token the link carries.")
    expires_at: datetime


class CompanyChanged(Payload):
    """A company registered, or changed its public profile or what it shares with partners:
    the facts about a company that partners (carriers, ERP vendors, authorities) may know."""

    event_type: ClassVar[str] = "company.changed"
    topic: ClassVar[Topic] = Topic.LISTINGS

    company_id: uuid.UUID = Field(description="The company (also the event's subject).")
    name: str
    org_number: str = Field(pattern=r"^\d{9}$", description="Norwegian organisation number.")
    nace_codes: tuple[str, ...] = ()
    plot: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    share_terms_with_partners: bool = Field(
        default=False,
        description="Whether partners may see the prices and terms of the company's listings "
        "and contracts (a contract's, only when both of its companies share).",
    )
    changed_at: datetime
    status: Literal["registered", "verified", "suspended"] | None = Field(
        default=None,
        description="The company's standing with the park office: `registered`, `verified` "
        "by the park, or `suspended` (it may not trade; its open listings are withdrawn from "
        "the exchange until it is reinstated). None in events from before standing existed.",
    )


class CompanyAddress(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    street: str
    postcode: str
    city: str
    country: str = "NO"


class CompanyDetailsChanged(Payload):
    """A company registered or changed what the exchange needs to invoice and paper its
    trades: legal name, organisation number, address, VAT registration, bank account, the
    language of its papers, and the hazardous-waste permits it declared. For the services
    only (partners read `company.changed`)."""

    event_type: ClassVar[str] = "company.details_changed"
    topic: ClassVar[Topic] = Topic.LISTINGS

    company_id: uuid.UUID = Field(description="The company (also the event's subject).")
    name: str = Field(description="The registered (legal) name.")
    org_number: str = Field(pattern=r"^\d{9}$")
    address: CompanyAddress | None = None
    vat_registered: bool = Field(description="In Merverdiavgiftsregisteret: invoices carry MVA.")
    bank_account: str | None = Field(default=None, description="Norwegian account (11 digits).")
    language: Literal["nb", "en"] = Field(default="nb", description="Of its papers.")
    permits: tuple[str, ...] = Field(
        default=(), description="Hazardous List of Waste codes it declared a permit for."
    )
    changed_at: datetime


class ApiKeyRevoked(Payload):
    """An API key was revoked: every service refuses it from now on."""

    event_type: ClassVar[str] = "api_key.revoked"
    topic: ClassVar[Topic] = Topic.LISTINGS

    key_id: uuid.UUID = Field(description="The revoked key (also the event's subject).")
    company_id: uuid.UUID | None = Field(description="Its company; none for partner keys.")
    revoked_at: datetime


class AccessTokenRevoked(Payload):
    """A person signed out: their access token is refused by every service from now on
    (their other tokens, on other devices, stay valid)."""

    event_type: ClassVar[str] = "access_token.revoked"
    topic: ClassVar[Topic] = Topic.LISTINGS

    token_id: uuid.UUID = Field(description="The token's id (its `jti`; also the subject).")
    person_id: uuid.UUID = Field(description="Whose token it was.")
    revoked_at: datetime
    expires_at: datetime = Field(description="When the token would have run out anyway.")


class TradeRetracted(Payload):
    """A proposal no longer holds: a listing changed, was withdrawn or fully reserved."""

    event_type: ClassVar[str] = "trade.retracted"
    topic: ClassVar[Topic] = Topic.PROPOSALS

    proposal_id: uuid.UUID
    offer_id: uuid.UUID
    need_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    title: str = Field(description="Human title of what was proposed.")
    reason: str = Field(description="Why, in plain words.")
    reason_detail: ReasonDetail | None = Field(
        default=None, description="The same reason as a code and its parameters."
    )
    retracted_at: datetime


# What partners read on partners.events.v1 (the same types and schemas as on the topics
# they come from, with what partners may not see left out: services/notifications).
PARTNER_FEED: tuple[type[Payload], ...] = (
    CompanyChanged,
    ListingPublished,
    ListingUpdated,
    ListingWithdrawn,
    ContractAgreed,
    ContractCancelled,
    DeliveryRecorded,
    DeliveryConfirmed,
    DeliveryDisputed,
)

CloudEventsId = Annotated[uuid.UUID, Field(description="Unique id of this event.")]


class Envelope(BaseModel):
    """A CloudEvents 1.0 structured-mode event with our two extension attributes."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"] = "1.0"
    id: CloudEventsId
    type: str = Field(min_length=1, description="Event type, e.g. `listing.published`.")
    source: str = Field(min_length=1, description="Producing service, e.g. `/services/listings`.")
    subject: str = Field(min_length=1, description="Aggregate id; also the Kafka key.")
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    schemaversion: int = Field(ge=1, description="Version of the payload schema.")
    correlationid: str = Field(min_length=1, description="Id of what set this chain off.")
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        payload: Payload,
        *,
        source: str,
        subject: str | uuid.UUID,
        correlation_id: str | uuid.UUID | None = None,
        event_id: uuid.UUID | None = None,
        time: datetime | None = None,
    ) -> Envelope:
        event_id = event_id or uuid.uuid4()
        return cls(
            id=event_id,
            type=payload.event_type,
            source=source,
            subject=str(subject),
            time=time or datetime.now(UTC),
            schemaversion=payload.schema_version,
            correlationid=str(correlation_id or event_id),
            data=payload.model_dump(mode="json"),
        )

    def payload(self) -> Payload:
        """The typed payload; raises ``UnknownEventType`` or pydantic's ValidationError."""
        model = PAYLOAD_TYPES.get(self.type)
        if model is None:
            raise UnknownEventType(self.type)
        return model.model_validate(self.data)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class UnknownEventType(LookupError):
    """An event type this code base does not know (a newer producer, or a stray)."""


# Why a message can never be processed: no event envelope (not JSON, or fields missing), an
# event type the exchange does not know, or a payload its type does not allow.
PoisonCause = Literal["unreadable", "unknown_type", "invalid_payload"]


class PoisonMessage(ValueError):
    """A message that can never be processed: not JSON, not an envelope, bad payload."""

    def __init__(self, reason: str, cause: PoisonCause = "unreadable") -> None:
        super().__init__(reason)
        self.cause: PoisonCause = cause


def decode(raw: bytes) -> Envelope:
    """Parse and validate an envelope, raising ``PoisonMessage`` with the reason."""
    try:
        return Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise PoisonMessage(_summary(exc), "unreadable") from exc


def _summary(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "message"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def payload_of(envelope: Envelope) -> Payload:
    """The typed payload of a known event type, or ``PoisonMessage`` when it is invalid."""
    try:
        return envelope.payload()
    except ValidationError as exc:
        raise PoisonMessage(
            f"{envelope.type} payload invalid: {_summary(exc)}", "invalid_payload"
        ) from exc
