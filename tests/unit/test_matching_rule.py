import uuid
from decimal import Decimal

from services.matching.domain import OpenListing, proposal_id, propose


def listing(
    kind: str, company: uuid.UUID, quantity: str = "10", unit: str = "t", code: str = "030105"
) -> OpenListing:
    return OpenListing(uuid.uuid4(), company, kind, code, None, "Sawdust", Decimal(quantity), unit)


def test_an_offer_and_a_need_of_the_same_code_make_a_proposal() -> None:
    offer = listing("offer", uuid.uuid4(), "12")
    need = listing("need", uuid.uuid4(), "5")
    proposal = propose(need, offer)
    assert proposal is not None
    assert proposal.offer == offer and proposal.need == need
    assert proposal.quantity == Decimal(5)
    assert proposal.proposal_id == proposal_id(offer.listing_id, need.listing_id)
    assert any("030105" in reason for reason in proposal.reasons)


def test_the_same_pair_always_has_the_same_proposal_id() -> None:
    offer, need = listing("offer", uuid.uuid4()), listing("need", uuid.uuid4())
    first, second = propose(offer, need), propose(need, offer)
    assert first is not None and second is not None
    assert first.proposal_id == second.proposal_id


def test_no_proposal_within_one_company_or_between_same_kinds_or_codes() -> None:
    company = uuid.uuid4()
    assert propose(listing("offer", company), listing("need", company)) is None
    assert propose(listing("offer", uuid.uuid4()), listing("offer", uuid.uuid4())) is None
    assert (
        propose(listing("offer", uuid.uuid4()), listing("need", uuid.uuid4(), code="030101"))
        is None
    )


def test_quantities_convert_to_the_needs_unit() -> None:
    offer = listing("offer", uuid.uuid4(), "2", "t")
    need = listing("need", uuid.uuid4(), "500", "kg")
    proposal = propose(offer, need)
    assert proposal is not None
    assert (proposal.quantity, proposal.unit) == (Decimal(500), "kg")
    assert propose(offer, listing("need", uuid.uuid4(), "5", "m3")) is None


def test_resource_classes_match_by_class() -> None:
    heat = OpenListing(uuid.uuid4(), uuid.uuid4(), "offer", None, "heat", "Heat", Decimal(5), "MWh")
    need = OpenListing(
        uuid.uuid4(), uuid.uuid4(), "need", None, "heat", "Heat", Decimal(800), "kWh"
    )
    water = OpenListing(
        uuid.uuid4(), uuid.uuid4(), "need", None, "process_water", "W", Decimal(1), "m3"
    )
    proposal = propose(heat, need)
    assert proposal is not None and proposal.quantity == Decimal(800)
    assert "resource class heat" in proposal.reasons[0]
    assert propose(heat, water) is None
