"""The papers of a trade: invoices and credit notes (PDF and EHF), delivery notes and the
declaration of hazardous waste (PDF, and data to file), and each company's report. Pure
functions of the domain's objects; no I/O."""

from __future__ import annotations

from typing import Any

from services.contracts.documents import ehf
from services.contracts.domain.contract import Contract, Delivery
from services.contracts.domain.declaration import HAZARDOUS_PROPERTIES, Declaration
from services.contracts.domain.declaration import permit_verified as _permit
from services.contracts.domain.invoice import CreditNote, Invoice, Party
from shared.ewc import lookup
from shared.resources import RESOURCE_CLASSES


def invoice_pdf(invoice: Invoice, language: str) -> bytes:
    from services.contracts.documents import pdf  # fpdf2 is slow to import: on use

    return pdf.invoice(invoice, language)


def invoice_ehf(invoice: Invoice) -> bytes:
    return ehf.invoice(invoice)


def credit_note_pdf(invoice: Invoice, note: CreditNote, language: str) -> bytes:
    from services.contracts.documents import pdf  # fpdf2 is slow to import: on use

    return pdf.credit_note(invoice, note, language)


def credit_note_ehf(invoice: Invoice, note: CreditNote) -> bytes:
    return ehf.credit_note(invoice, note)


def resource_name(contract: Contract, language: str) -> str:
    if contract.ewc_code:
        return f"{contract.title} ({lookup(contract.ewc_code).described(language)})"
    known = RESOURCE_CLASSES.get(contract.resource_class or "")
    label = (known.label_nb if language == "nb" else known.label) if known else ""
    return f"{contract.title} ({label})" if label else contract.title


def delivery_note(
    delivery: Delivery,
    contract: Contract,
    supplier: Party | None,
    receiver: Party | None,
    language: str,
) -> bytes:
    from services.contracts.documents import pdf  # fpdf2 is slow to import: on use

    return pdf.delivery_note(
        {
            "delivery_id": str(delivery.id),
            "contract_id": str(contract.id),
            "delivered_on": delivery.delivered_on,
            "resource": resource_name(contract, language),
            "waste_code": lookup(contract.ewc_code).display if contract.ewc_code else None,
            "quantity": delivery.quantity,
            "unit": delivery.unit,
            "measurement": delivery.measurement,
            "weighbridge_ticket": delivery.weighbridge_ticket,
            "note": delivery.weighbridge_note,
            "carrier": delivery.carrier,
            "transport": contract.transport,
            "status": delivery.status,
            "hazardous": contract.hazardous,
            "supplier": supplier,
            "receiver": receiver,
        },
        language,
    )


def _who(party: Party | None) -> dict[str, Any] | None:
    if party is None:
        return None
    address = ", ".join(
        filter(None, [party.street, f"{party.postcode or ''} {party.city or ''}".strip()])
    )
    return {"name": party.name, "org_number": party.org_number, "address": address or None}


def declaration_data(
    delivery: Delivery, contract: Contract, supplier: Party | None, receiver: Party | None
) -> dict[str, Any]:
    """The declaration of a delivery of hazardous waste, as data the receiver can file."""
    assert contract.ewc_code is not None
    declared = Declaration.of(delivery.declaration) if delivery.declaration else None
    receiver_part = _who(receiver)
    if receiver_part is not None:
        receiver_part["permit"] = _permit(receiver, contract.ewc_code)
    return {
        "delivery_id": str(delivery.id),
        "contract_id": str(contract.id),
        "complete": declared is not None and Declaration.problem_with(delivery.declaration) is None,
        "waste": {
            "ewc_code": lookup(contract.ewc_code).display,
            "ewc_description": lookup(contract.ewc_code).description,
            "waste_number": declared.waste_number if declared else None,
            "description": declared.description if declared else None,
            "properties": [
                {
                    "code": code,
                    "name_nb": HAZARDOUS_PROPERTIES[code][0],
                    "name_en": HAZARDOUS_PROPERTIES[code][1],
                }
                for code in (declared.properties if declared else ())
            ],
            "un_number": declared.un_number if declared else None,
            "packaging": declared.packaging if declared else None,
            "quantity": format(delivery.quantity.normalize(), "f"),
            "unit": delivery.unit,
            "delivered_on": delivery.delivered_on.isoformat(),
        },
        "producer": _who(supplier),
        "receiver": receiver_part,
        "carrier": delivery.carrier,
    }


def declaration_pdf(data: dict[str, Any], language: str) -> bytes:
    from services.contracts.documents import pdf  # fpdf2 is slow to import: on use

    return pdf.declaration(data, language)
