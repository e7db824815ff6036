"""Events as the services publish them, for tests that hand a consumer its input directly.

Each builder gives a valid event with plain defaults; a test names only what it is about.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.events import CompanyChanged, Envelope, ListingPublished, Payload
from tests.support import org_number


def listing_published(company_id: uuid.UUID, **facts: Any) -> ListingPublished:
    """An offer of 10 t of sawdust (030105) at NOK 90 a tonne, published now; ``facts``
    override any field."""
    defaults: dict[str, Any] = {
        "listing_id": uuid.uuid4(),
        "company_id": company_id,
        "kind": "offer",
        "ewc_code": "030105",
        "title": "Sawdust",
        "quantity": Decimal(10),
        "unit": "t",
        "hazardous": False,
        "price_per_unit_ore": 9000,
        "published_at": datetime.now(UTC),
    }
    return ListingPublished(**(defaults | facts))


def company_changed(
    company_id: uuid.UUID, shares: bool, at: datetime, name: str = "Sagbruk AS"
) -> CompanyChanged:
    """The company's profile at ``at``, sharing its terms with partners or not."""
    return CompanyChanged(
        company_id=company_id,
        name=name,
        org_number=org_number(),
        share_terms_with_partners=shares,
        changed_at=at,
    )


def wrapped(payload: Payload, subject: uuid.UUID, source: str = "/tests") -> Envelope:
    return Envelope.wrap(payload, source=source, subject=subject)
