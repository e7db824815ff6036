"""EHF: invoices and credit notes as Peppol BIS Billing 3.0 UBL documents (EN 16931 with the
Peppol and Norwegian rules), which Norwegian accounting systems import as they are.

The figures are the invoice's own (net, MVA, total in øre), so the EHF, the PDF and Stripe
say the same; tests/integration/test_ehf.py runs the official Peppol and EN 16931
validation artefacts on them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from services.contracts.domain.invoice import CreditNote, Invoice, Party

UBL = "urn:oasis:names:specification:ubl:schema:xsd:{}-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
ORGNR_SCHEME = "0192"  # Norwegian organisation number (Enhetsregisteret), ISO 6523 ICD
UNIT_CODES = {"t": "TNE", "kg": "KGM", "m3": "MTQ", "MWh": "MWH", "kWh": "KWH", "pieces": "H87"}

ET.register_namespace("cac", CAC)
ET.register_namespace("cbc", CBC)


def money(ore: int) -> str:
    return f"{(Decimal(ore) / 100).quantize(Decimal('0.01'))}"


def _cbc(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CBC}}}{tag}", attributes)
    element.text = text
    return element


def _cac(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{CAC}}}{name}")


def _amount(parent: ET.Element, name: str, ore: int) -> None:
    _cbc(parent, name, money(ore), currencyID="NOK")


def _party(parent: ET.Element, party: Party, seller: bool, with_vat: bool) -> None:
    node = _cac(parent, "Party")
    _cbc(node, "EndpointID", party.org_number, schemeID=ORGNR_SCHEME)
    _cbc(_cac(node, "PartyName"), "Name", party.name)
    address = _cac(node, "PostalAddress")
    if party.street:
        _cbc(address, "StreetName", party.street)
    if party.city:
        _cbc(address, "CityName", party.city)
    if party.postcode:
        _cbc(address, "PostalZone", party.postcode)
    _cbc(_cac(address, "Country"), "IdentificationCode", party.country)
    if with_vat and party.vat_id:
        scheme = _cac(node, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", party.vat_id)
        _cbc(_cac(scheme, "TaxScheme"), "ID", "VAT")
    if seller:
        # Norwegian limited companies are in the Register of Business Enterprises.
        scheme = _cac(node, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", "Foretaksregisteret")
        _cbc(_cac(scheme, "TaxScheme"), "ID", "TAX")
    legal = _cac(node, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", party.name)
    _cbc(legal, "CompanyID", party.org_number, schemeID=ORGNR_SCHEME)


def _category(parent: ET.Element, name: str, vat_registered: bool, percent: Decimal) -> None:
    node = _cac(parent, name)
    if vat_registered:
        _cbc(node, "ID", "S")
        _cbc(node, "Percent", f"{percent.quantize(Decimal('0.01'))}")
    else:
        _cbc(node, "ID", "O")
    _cbc(_cac(node, "TaxScheme"), "ID", "VAT")


def _tax_total(root: ET.Element, invoice: Invoice, seller: Party) -> None:
    total = _cac(root, "TaxTotal")
    _amount(total, "TaxAmount", invoice.mva_ore)
    sub = _cac(total, "TaxSubtotal")
    _amount(sub, "TaxableAmount", invoice.net_ore)
    _amount(sub, "TaxAmount", invoice.mva_ore)
    category = _cac(sub, "TaxCategory")
    if seller.vat_registered:
        _cbc(category, "ID", "S")
        _cbc(
            category, "Percent", f"{(invoice.vat_percent or Decimal(25)).quantize(Decimal('0.01'))}"
        )
    else:
        _cbc(category, "ID", "O")
        _cbc(
            category, "TaxExemptionReason", "Selger er ikke registrert i Merverdiavgiftsregisteret"
        )
    _cbc(_cac(category, "TaxScheme"), "ID", "VAT")


def _totals(root: ET.Element, invoice: Invoice) -> None:
    totals = _cac(root, "LegalMonetaryTotal")
    _amount(totals, "LineExtensionAmount", invoice.net_ore)
    _amount(totals, "TaxExclusiveAmount", invoice.net_ore)
    _amount(totals, "TaxInclusiveAmount", invoice.total_ore)
    _amount(totals, "PayableAmount", invoice.total_ore)


def item_name(invoice: Invoice) -> str:
    name = invoice.description.split(", ")[0].removeprefix("Gate fee: ")
    return f"Mottak av {name}" if invoice.gate_fee else name


def _line(root: ET.Element, name: str, quantity_name: str, invoice: Invoice, seller: Party) -> None:
    line = _cac(root, name)
    _cbc(line, "ID", "1")
    quantity = format(invoice.quantity.normalize(), "f")
    _cbc(line, quantity_name, quantity, unitCode=UNIT_CODES[invoice.unit])
    _amount(line, "LineExtensionAmount", invoice.net_ore)
    item = _cac(line, "Item")
    _cbc(item, "Description", invoice.description)
    _cbc(item, "Name", item_name(invoice)[:100])
    _category(
        item, "ClassifiedTaxCategory", seller.vat_registered, invoice.vat_percent or Decimal(25)
    )
    price = _cac(line, "Price")
    _cbc(price, "PriceAmount", money(invoice.unit_price_ore), currencyID="NOK")


def _document(kind: str) -> ET.Element:
    return ET.Element(f"{{{UBL.format(kind)}}}{kind}")


def _head(root: ET.Element, number: int, issued: str) -> None:
    _cbc(root, "CustomizationID", CUSTOMIZATION)
    _cbc(root, "ProfileID", PROFILE)
    _cbc(root, "ID", str(number))
    _cbc(root, "IssueDate", issued)


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def fee_note(invoice: Invoice) -> str:
    return (
        f"Plattformgebyr til Viken Park (parkoperatøren): NOK {money(invoice.platform_fee_ore)}, "
        "belastet selger og trukket fra utbetalingen; ikke en del av beløpet å betale."
    )


def invoice(invoice: Invoice) -> bytes:
    """A Peppol BIS Billing 3.0 Invoice (type 380) of a numbered invoice."""
    assert invoice.number is not None and invoice.issue_date and invoice.due_date
    seller, buyer = invoice.seller_party(), invoice.buyer_party()
    root = _document("Invoice")
    _head(root, invoice.number, invoice.issue_date.isoformat())
    _cbc(root, "DueDate", invoice.due_date.isoformat())
    _cbc(root, "InvoiceTypeCode", "380")
    _cbc(root, "Note", fee_note(invoice))
    _cbc(root, "DocumentCurrencyCode", "NOK")
    _cbc(root, "BuyerReference", f"Kontrakt {str(invoice.contract_id)[:8]}")
    _cbc(_cac(root, "ContractDocumentReference"), "ID", str(invoice.contract_id))
    _party(_cac(root, "AccountingSupplierParty"), seller, True, seller.vat_registered)
    _party(_cac(root, "AccountingCustomerParty"), buyer, False, seller.vat_registered)
    if invoice.delivery_date:
        _cbc(_cac(root, "Delivery"), "ActualDeliveryDate", invoice.delivery_date.isoformat())
    means = _cac(root, "PaymentMeans")
    _cbc(means, "PaymentMeansCode", "30", name="Credit transfer")
    if invoice.kid:
        _cbc(means, "PaymentID", invoice.kid)
    if seller.bank_account:
        account = _cac(means, "PayeeFinancialAccount")
        _cbc(account, "ID", seller.bank_account)
    _cbc(
        _cac(root, "PaymentTerms"),
        "Note",
        f"Betales innen {invoice.due_date.isoformat()} med KID {invoice.kid}",
    )
    _tax_total(root, invoice, seller)
    _totals(root, invoice)
    _line(root, "InvoiceLine", "InvoicedQuantity", invoice, seller)
    return _serialise(root)


def credit_note(invoice: Invoice, note: CreditNote) -> bytes:
    """A Peppol BIS Billing 3.0 CreditNote (type 381) annulling ``invoice`` in full."""
    assert invoice.number is not None and invoice.issue_date
    seller, buyer = invoice.seller_party(), invoice.buyer_party()
    root = _document("CreditNote")
    _head(root, note.number, note.issue_date.isoformat())
    _cbc(root, "CreditNoteTypeCode", "381")
    _cbc(root, "Note", f"Kreditering av faktura {invoice.number}: {note.reason_in('nb')}"[:1000])
    _cbc(root, "DocumentCurrencyCode", "NOK")
    _cbc(root, "BuyerReference", f"Kontrakt {str(invoice.contract_id)[:8]}")
    reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
    _cbc(reference, "ID", str(invoice.number))
    _cbc(reference, "IssueDate", invoice.issue_date.isoformat())
    _party(_cac(root, "AccountingSupplierParty"), seller, True, seller.vat_registered)
    _party(_cac(root, "AccountingCustomerParty"), buyer, False, seller.vat_registered)
    if invoice.delivery_date:
        _cbc(_cac(root, "Delivery"), "ActualDeliveryDate", invoice.delivery_date.isoformat())
    _tax_total(root, invoice, seller)
    _totals(root, invoice)
    _line(root, "CreditNoteLine", "CreditedQuantity", invoice, seller)
    return _serialise(root)
