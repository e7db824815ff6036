"""What partners see (issue 12, part 3), and what each principal is granted: pure rules."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from confluent_kafka.admin import AclOperation, ResourceType

from services.notifications.partner_feed import partner_envelope, partner_view
from shared.broker_admin import partner_grants, service_grants
from shared.events import (
    ContractAgreed,
    DeliveryConfirmed,
    Envelope,
    ListingPublished,
    PartnerSharing,
    PersonChanged,
    Terms,
    TradeProposed,
)
from tests.events import listing_published

A, B = uuid.uuid4(), uuid.uuid4()
NOW = datetime.now(UTC)


def known(*sharing: uuid.UUID, at: datetime = NOW) -> dict[uuid.UUID, PartnerSharing]:
    """What notifications knows from company.changed: ``sharing`` share, the others not."""
    return {
        company: PartnerSharing(share_terms_with_partners=company in sharing, changed_at=at)
        for company in (A, B)
    }


def listing(company: uuid.UUID, shares: bool | None = None) -> ListingPublished:
    return listing_published(company, published_at=NOW, share_terms_with_partners=shares)


def agreed(
    supplier: PartnerSharing | None = None, receiver: PartnerSharing | None = None
) -> ContractAgreed:
    terms = Terms(quantity=Decimal(5), unit="t", price_per_unit_ore=12000)
    return ContractAgreed(
        supplier_sharing=supplier,
        receiver_sharing=receiver,
        contract_id=uuid.uuid4(),
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        supplier_company_id=A,
        receiver_company_id=B,
        quantity=Decimal(5),
        unit="t",
        price_per_unit_ore=12000,
        agreed_at=NOW,
        terms=terms,
    )


def test_a_listing_shows_its_price_only_when_its_company_shares() -> None:
    shown = partner_view(listing(A), known(A))
    hidden = partner_view(listing(B), known(A))
    assert isinstance(shown, ListingPublished) and shown.price_per_unit_ore == 9000
    assert isinstance(hidden, ListingPublished) and hidden.price_per_unit_ore is None
    assert hidden.title == "Sawdust"


def test_a_contract_shows_its_terms_only_when_both_companies_share() -> None:
    both = partner_view(agreed(), known(A, B))
    one = partner_view(agreed(), known(A))
    assert isinstance(both, ContractAgreed) and both.terms is not None
    assert isinstance(one, ContractAgreed) and one.terms is None and one.price_per_unit_ore is None


def test_a_listing_event_made_while_its_company_shared_shows_its_price_whatever_is_known() -> None:
    # Read before the company.changed that turned sharing on (or of a company not yet known).
    for before in (known(), {}):
        shown = partner_view(listing(A, shares=True), before)
        assert isinstance(shown, ListingPublished) and shown.price_per_unit_ore == 9000


def test_a_listing_event_made_after_its_company_stopped_sharing_hides_its_price() -> None:
    # Read before the company.changed that turned sharing off.
    hidden = partner_view(listing(A, shares=False), known(A))
    assert isinstance(hidden, ListingPublished) and hidden.price_per_unit_ore is None
    assert hidden.title == "Sawdust"


def test_a_contract_goes_by_the_later_of_its_own_sharing_and_what_is_known() -> None:
    on = PartnerSharing(share_terms_with_partners=True, changed_at=NOW)
    off = PartnerSharing(share_terms_with_partners=False, changed_at=NOW)
    earlier = NOW - timedelta(minutes=5)
    # Contracts knew both share; the feed had not heard yet, or heard an older change.
    for before in ({}, known(at=earlier)):
        both = partner_view(agreed(on, on), before)
        assert isinstance(both, ContractAgreed) and both.terms is not None
        assert both.price_per_unit_ore == 12000
    # Contracts knew the receiver stopped sharing; the feed still has it sharing.
    stopped = partner_view(agreed(on, off), known(A, B, at=earlier))
    assert isinstance(stopped, ContractAgreed) and stopped.terms is None
    assert stopped.price_per_unit_ore is None
    # The feed heard of a later change than contracts knew: the later one decides.
    later = NOW + timedelta(minutes=5)
    for event, feed, shown in (
        (agreed(on, on), known(A, at=later), False),
        (agreed(off, on), known(A, B, at=later), True),
    ):
        view = partner_view(event, feed)
        assert isinstance(view, ContractAgreed) and (view.terms is not None) is shown


def test_people_proposals_and_notes_never_reach_partners() -> None:
    person = PersonChanged(
        person_id=uuid.uuid4(),
        company_id=A,
        email="kari@example.no",
        name="Kari",
        language="nb",
        role="admin",
        status="active",
    )
    proposal = TradeProposed(
        proposal_id=uuid.uuid4(),
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        supplier_company_id=A,
        receiver_company_id=B,
        ewc_code="030105",
        title="Sawdust",
        quantity=Decimal(1),
        unit="t",
        reasons=("same code",),
    )
    assert partner_view(person, known(A, B)) is None
    assert partner_view(proposal, known(A, B)) is None
    delivery = DeliveryConfirmed(
        delivery_id=uuid.uuid4(),
        contract_id=uuid.uuid4(),
        supplier_company_id=A,
        receiver_company_id=B,
        title="Sawdust",
        quantity=Decimal(1),
        unit="t",
        delivered_on=date(2026, 12, 1),
        note="weighed by Per Hansen",
        at=NOW,
    )
    seen = partner_view(delivery, known(A, B))
    assert isinstance(seen, DeliveryConfirmed) and seen.note is None


def test_a_partner_event_has_an_id_of_its_own_the_same_each_time() -> None:
    original = Envelope.wrap(listing(A), source="/services/listings", subject=uuid.uuid4())
    view = partner_view(original.payload(), {})
    assert view is not None
    first, again = partner_envelope(original, view), partner_envelope(original, view)
    assert first.id == again.id != original.id
    assert (first.type, first.subject, first.correlationid) == (
        original.type,
        original.subject,
        original.correlationid,
    )


def test_each_principal_is_granted_exactly_its_topics() -> None:
    writes = {
        g.name
        for g in service_grants("", "notifications")
        if g.resource == ResourceType.TOPIC and g.operation == AclOperation.WRITE
    }
    assert writes == {
        "notifications.events.v1",
        "partners.events.v1",
        "matching.proposals.v1.dlq",
        "contracts.events.v1.dlq",
        "listings.events.v1.dlq",
    }
    partner = partner_grants("ns.", "ns.partner-x-1")
    assert {(g.resource, g.name, g.operation) for g in partner} == {
        (ResourceType.TOPIC, "ns.partners.events.v1", AclOperation.READ),
        (ResourceType.TOPIC, "ns.partners.events.v1", AclOperation.DESCRIBE),
        (ResourceType.GROUP, "ns.partner-x-1.", AclOperation.READ),
    }
    cluster = {
        g.operation for g in service_grants("", "matching") if g.resource == ResourceType.BROKER
    }
    assert cluster == set()  # only listings issues partners' credentials
