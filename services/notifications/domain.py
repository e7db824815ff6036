"""What a company is told about an event; no I/O here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.events import TradeProposed, TradeRetracted
from shared.units import format_quantity

NOTE_NAMESPACE = uuid.UUID("0b7f5b56-2d55-4f0c-8a43-52f3b9d3c7a2")


@dataclass(frozen=True)
class Note:
    id: uuid.UUID
    company_id: uuid.UUID
    title: str
    body: str
    link: str


def note_id(event_id: uuid.UUID, company_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(NOTE_NAMESPACE, f"{event_id}/{company_id}")


def notes_for_proposal(event_id: uuid.UUID, proposal: TradeProposed) -> list[Note]:
    """One note for the supplier and one for the receiver of a proposed trade."""
    amount = format_quantity(proposal.quantity, proposal.unit)
    link = f"/proposals/{proposal.proposal_id}"
    reasons = "; ".join(proposal.reasons)
    return [
        Note(
            id=note_id(event_id, proposal.supplier_company_id),
            company_id=proposal.supplier_company_id,
            title=f"A buyer for your offer: {proposal.title}",
            body=f"The exchange proposes that you supply {amount}. Why: {reasons}.",
            link=link,
        ),
        Note(
            id=note_id(event_id, proposal.receiver_company_id),
            company_id=proposal.receiver_company_id,
            title=f"A supplier for your need: {proposal.title}",
            body=f"The exchange proposes that you receive {amount}. Why: {reasons}.",
            link=link,
        ),
    ]


def notes_for_retraction(event_id: uuid.UUID, retracted: TradeRetracted) -> list[Note]:
    """Both parties learn that a proposal no longer stands, and why."""
    link = f"/proposals/{retracted.proposal_id}"
    return [
        Note(
            id=note_id(event_id, company),
            company_id=company,
            title=f"Proposal withdrawn: {retracted.title}",
            body=f"The exchange no longer proposes this trade: {retracted.reason}.",
            link=link,
        )
        for company in (retracted.supplier_company_id, retracted.receiver_company_id)
    ]
