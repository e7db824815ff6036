"""The papers as PDF (fpdf2): invoices and credit notes in the buyer's language, delivery
notes, the declaration of hazardous waste, and each company's report. Norwegian bokmål or
English; amounts written the way the language writes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from fpdf import FPDF

from services.contracts.documents.texts import T
from services.contracts.domain.invoice import CreditNote, Invoice, Party, format_account
from shared.units import format_quantity

_REPLACE = str.maketrans(
    {
        "\u2013": "-",
        "\u2014": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2082": "2",
        "\u2264": "<=",
        "\u2265": ">=",
        "\u2026": "...",
    }
)


def latin1(text: str) -> str:
    """What the PDF core fonts can print (Latin-1: æ, ø, å and °C are in it)."""
    return text.translate(_REPLACE).encode("latin-1", "replace").decode("latin-1")


def nok(ore: int | Decimal, language: str) -> str:
    amount = Decimal(ore) / 100
    text = f"{amount:,.2f}"
    if language == "nb":
        return "kr " + text.replace(",", " ").replace(".", ",")
    return "NOK " + text


def number(value: Decimal, language: str) -> str:
    text = format_quantity(value)
    return text.replace(".", ",") if language == "nb" else text


def day(value: date | None, language: str) -> str:
    if value is None:
        return "-"
    return value.strftime("%d.%m.%Y") if language == "nb" else value.isoformat()


class Paper(FPDF):
    """An A4 page with the exchange's header line and page numbers."""

    def __init__(self, title: str, language: str) -> None:
        super().__init__(format="A4")
        self.language = language
        self.heading = latin1(title)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 16, 18)
        self.set_title(self.heading)
        self.set_creator("Viken Park symbiosis exchange")
        self.add_page()

    def header(self) -> None:
        self.set_font("helvetica", "B", 16)
        self.cell(0, 9, self.heading, new_x="LMARGIN", new_y="NEXT")
        self.set_font("helvetica", "", 8)
        self.set_text_color(90)
        self.cell(
            0,
            5,
            latin1(T("Viken Park symbiosis exchange", self.language)),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        self.set_text_color(0)
        self.ln(3)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("helvetica", "", 8)
        self.set_text_color(90)
        self.cell(0, 5, f"{self.page_no()}/{{nb}}", align="R")
        self.set_text_color(0)

    def section(self, title: str) -> None:
        self.ln(2)
        self.set_font("helvetica", "B", 11)
        self.cell(0, 7, latin1(title), new_x="LMARGIN", new_y="NEXT")
        self.set_font("helvetica", "", 9)

    def facts(self, rows: Sequence[tuple[str, str]], width: float = 55) -> None:
        self.set_font("helvetica", "", 9)
        for label, value in rows:
            self.set_font("helvetica", "B", 9)
            self.cell(width, 5, latin1(label))
            self.set_font("helvetica", "", 9)
            self.multi_cell(0, 5, latin1(value), new_x="LMARGIN", new_y="NEXT")

    def text(self, words: str, size: int = 9) -> None:  # type: ignore[override]
        self.set_font("helvetica", "", size)
        self.multi_cell(0, 5, latin1(words), new_x="LMARGIN", new_y="NEXT")

    def grid(
        self, header: Sequence[str], body: Sequence[Sequence[str]], widths: Sequence[float]
    ) -> None:
        self.set_font("helvetica", "B", 8)
        self.set_fill_color(230)
        for title, width in zip(header, widths, strict=True):
            self.cell(width, 6, latin1(title), border=1, fill=True)
        self.ln()
        self.set_font("helvetica", "", 8)
        for line in body:
            for i, (value, width) in enumerate(zip(line, widths, strict=True)):
                self.cell(width, 6, latin1(value)[:70], border=1, align="R" if i else "L")
            self.ln()

    def bytes(self) -> bytes:
        self.alias_nb_pages()
        return bytes(self.output())


def party_lines(party: Party, language: str) -> list[str]:
    lines = [party.name]
    if party.street:
        lines.append(party.street)
    if party.postcode or party.city:
        lines.append(f"{party.postcode or ''} {party.city or ''}".strip())
    lines.append(f"{T('Org. no.', language)} {party.org_display}")
    return lines


def _parties(paper: Paper, left: tuple[str, Party | None], right: tuple[str, Party | None]) -> None:
    language = paper.language
    top = paper.get_y()
    for column, (title, party) in enumerate((left, right)):
        paper.set_xy(18 + column * 90, top)
        paper.set_font("helvetica", "B", 9)
        paper.cell(85, 5, latin1(title), new_x="LEFT", new_y="NEXT")
        paper.set_font("helvetica", "", 9)
        for line in party_lines(party, language) if party else [T("(not known)", language)]:
            paper.cell(85, 5, latin1(line), new_x="LEFT", new_y="NEXT")
    paper.set_x(18)
    paper.ln(3)


def _unit(unit: str, language: str) -> str:
    return T(f"unit:{unit}", language)


def invoice(invoice: Invoice, language: str) -> bytes:
    """The invoice as the buyer books it."""
    seller, buyer = invoice.seller_party(), invoice.buyer_party()
    paper = Paper(f"{T('Invoice', language)} {invoice.number}", language)
    _parties(paper, (T("Seller", language), seller), (T("Buyer", language), buyer))
    account = format_account(seller.bank_account) if seller.bank_account else "-"
    paper.facts(
        [
            (T("Invoice number", language), str(invoice.number)),
            (T("Invoice date", language), day(invoice.issue_date, language)),
            (T("Delivery date", language), day(invoice.delivery_date, language)),
            (T("Due date", language), day(invoice.due_date, language)),
            (T("Contract", language), str(invoice.contract_id)),
        ]
    )
    paper.section(T("What was delivered", language))
    what = invoice.description.split(", ")[0].removeprefix("Gate fee: ")
    if invoice.gate_fee:
        what = f"{T('Receiving', language)}: {what}"
    vat = invoice.vat_percent or Decimal(0)
    paper.grid(
        [
            T("Description", language),
            T("Quantity", language),
            T("Unit price", language),
            T("MVA", language),
            T("Amount", language),
        ],
        [
            [
                what,
                f"{number(invoice.quantity, language)} {_unit(invoice.unit, language)}",
                nok(invoice.unit_price_ore, language),
                f"{number(vat, language)} %",
                nok(invoice.net_ore, language),
            ]
        ],
        [70, 28, 28, 18, 30],
    )
    paper.ln(2)
    paper.facts(
        [
            (T("Total excl. MVA", language), nok(invoice.net_ore, language)),
            (f"MVA {number(vat, language)} %", nok(invoice.mva_ore, language)),
            (T("Total to pay", language), nok(invoice.total_ore, language)),
        ],
        width=120,
    )
    if not seller.vat_registered:
        paper.text(T("The seller is not registered for MVA; no MVA is charged.", language))
    paper.section(T("Payment", language))
    paper.facts(
        [
            (T("Account number", language), account),
            ("KID", invoice.kid or "-"),
            (T("Due date", language), day(invoice.due_date, language)),
            (T("Amount", language), nok(invoice.total_ore, language)),
        ]
    )
    paper.text(T("Or pay by card or bank transfer on the payment page Stripe sends.", language))
    paper.section(T("The platform fee", language))
    paper.text(
        T("fee-note", language).format(
            fee=nok(invoice.platform_fee_ore, language), net=nok(invoice.net_ore, language)
        )
    )
    return paper.bytes()


def credit_note(invoice: Invoice, note: CreditNote, language: str) -> bytes:
    seller, buyer = invoice.seller_party(), invoice.buyer_party()
    paper = Paper(f"{T('Credit note', language)} {note.number}", language)
    _parties(paper, (T("Seller", language), seller), (T("Buyer", language), buyer))
    vat = invoice.vat_percent or Decimal(0)
    paper.facts(
        [
            (T("Credit note number", language), str(note.number)),
            (T("Date", language), day(note.issue_date, language)),
            (
                T("Credits invoice", language),
                f"{invoice.number} ({day(invoice.issue_date, language)})",
            ),
            (T("Reason", language), note.reason_in(language)),
        ]
    )
    paper.section(T("Credited", language))
    paper.facts(
        [
            (T("Total excl. MVA", language), nok(note.net_ore, language)),
            (f"MVA {number(vat, language)} %", nok(note.mva_ore, language)),
            (T("Total credited", language), nok(note.total_ore, language)),
        ],
        width=120,
    )
    paper.text(T("Nothing is owed on the credited invoice.", language))
    return paper.bytes()


def delivery_note(data: dict[str, Any], language: str) -> bytes:
    paper = Paper(T("Delivery note", language), language)
    _parties(
        paper,
        (T("Supplier (sender)", language), data["supplier"]),
        (T("Receiver", language), data["receiver"]),
    )
    carrier = data["carrier"] or {}
    paper.facts(
        [
            (T("Delivery", language), data["delivery_id"]),
            (T("Contract", language), data["contract_id"]),
            (T("Delivered on", language), day(data["delivered_on"], language)),
            (T("Resource", language), data["resource"]),
            (T("Waste code", language), data["waste_code"] or "-"),
            (
                T("Quantity", language),
                f"{number(data['quantity'], language)} {_unit(data['unit'], language)}",
            ),
            (
                T("Measured by", language),
                T(f"measurement:{data['measurement']}", language) if data["measurement"] else "-",
            ),
            (T("Weighbridge ticket", language), data["weighbridge_ticket"] or "-"),
            (T("Note", language), data["note"] or "-"),
            (
                T("Carrier", language),
                " ".join(
                    filter(
                        None,
                        [
                            carrier.get("name"),
                            carrier.get("org_number") and f"({carrier['org_number']})",
                        ],
                    )
                )
                or "-",
            ),
            (T("Transport by", language), T(data["transport"], language)),
            (T("Status", language), T(data["status"], language)),
        ]
    )
    if data["hazardous"]:
        paper.text(T("Hazardous waste: see the declaration of this delivery.", language))
    paper.ln(10)
    paper.text(T("Signature, receiver: ______________________", language))
    return paper.bytes()


def declaration(data: dict[str, Any], language: str) -> bytes:
    paper = Paper(T("Declaration of hazardous waste", language), language)
    paper.text(T("declaration-basis", language))
    paper.section(T("The waste", language))
    waste = data["waste"]
    properties = ", ".join(f"{p['code']} {p['name_' + language]}" for p in waste["properties"])
    paper.facts(
        [
            (T("Waste code (EAL)", language), waste["ewc_code"]),
            (T("Waste substance number", language), waste["waste_number"] or "-"),
            (T("Description", language), waste["description"] or "-"),
            (T("Hazardous properties", language), properties or "-"),
            (T("UN number", language), f"UN {waste['un_number']}" if waste["un_number"] else "-"),
            (T("Packaging", language), waste["packaging"] or "-"),
            (
                T("Quantity", language),
                f"{number(Decimal(waste['quantity']), language)} {_unit(waste['unit'], language)}",
            ),
            (T("Delivered on", language), waste["delivered_on"]),
        ]
    )
    for title, key in (
        ("Producer (waste holder)", "producer"),
        ("Receiver", "receiver"),
        ("Carrier", "carrier"),
    ):
        paper.section(T(title, language))
        who = data[key] or {}
        rows = [
            (T("Name", language), who.get("name") or "-"),
            (T("Org. no.", language), who.get("org_number") or "-"),
        ]
        if key != "carrier":
            rows.append((T("Address", language), who.get("address") or "-"))
        if key == "receiver":
            rows.append(
                (
                    T("Permit for this waste", language),
                    T("yes", language) if who.get("permit") else T("no", language),
                )
            )
        paper.facts(rows)
    return paper.bytes()


def report(data: dict[str, Any], language: str) -> bytes:
    """A company's (or the park's) figures for a period, with factors and goals."""
    paper = Paper(f"{T('Impact report', language)}: {data['name']}", language)
    paper.facts(
        [
            (
                T("Period", language),
                f"{data['period_from'] or '...'} - {data['period_until'] or '...'}",
            ),
            (T("Deliveries", language), str(data["deliveries"])),
            (T("CO2e not estimated for", language), str(data["co2e_not_estimated"])),
        ]
    )
    paper.section(T("Figures", language))
    body = [
        [T(f"figure:{f['key']}", language), number(Decimal(str(f["value"])), language), f["unit"]]
        for f in data["figures"]
    ]
    paper.grid(
        [T("Figure", language), T("Value", language), T("Unit", language)], body, [110, 40, 24]
    )
    paper.section(T("Goals Viken Park reports on", language))
    for goal in data["goals"]:
        paper.set_font("helvetica", "B", 9)
        paper.multi_cell(
            0,
            5,
            latin1(f"{goal['id']}: {goal['title_' + language]}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        paper.text(", ".join(T(f"figure:{k}", language) for k in goal["figures"]))
    paper.section(T("Factors and sources", language))
    for factor in data["factors"]:
        source = f"({factor['source']}, {factor['year']})"
        paper.text(f"{factor['key']}: {factor['value']} {factor['unit']} {source}", size=8)
    if data.get("basis"):
        paper.section(T("Basis", language))
        for line in data["basis"]:
            paper.text(line, size=8)
    return paper.bytes()
