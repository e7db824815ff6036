"""The papers of a trade, on the running services: an invoice a Norwegian company can book
and pay (number, dates, parties with MVA, account and KID) as PDF in the buyer's language
and as EHF that passes the official Peppol BIS 3.0 and EN 16931 rules; the delivery note; a
credit note when an invoiced delivery is disputed; a seller outside the MVA register; the
declaration of hazardous waste; and each company's own report."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from stdnum import luhn

from tests import peppol
from tests.e2e.test_accounts import PASSWORD, bearer, make_park_admin, sign_in, unique_email
from tests.security.probes import park_admin_token
from tests.support import Stack, eventually, register_company

pytestmark = pytest.mark.e2e

API = "/api/contracts"
INBOX = "/api/notifications/inbox/"


def text_of(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def trade(
    client: httpx.AsyncClient,
    code: str,
    supplier: dict[str, Any],
    receiver: dict[str, Any],
    tonnes: int = 20,
    prices: tuple[int, int] = (100, 300),
    hazardous: bool = False,
) -> dict[str, Any]:
    """An offer and a need of ``code``, the proposal agreed as the exchange put it: the
    contract."""
    for company, kind, price in ((supplier, "offer", prices[0]), (receiver, "need", prices[1])):
        made = await client.post(
            "/api/listings/listings/",
            json={
                "kind": kind,
                "ewc_code": code,
                "hazardous": hazardous,
                "title": f"{code} {kind}",
                "quantity": str(tonnes),
                "unit": "t",
                "price_per_unit_ore": price * 100,
            },
            headers=company["headers"],
        )
        assert made.status_code == 201, made.text

    async def negotiation() -> dict[str, Any] | None:
        rows = (await client.get(f"{API}/negotiations/", headers=receiver["headers"])).json()
        return next(
            (r for r in rows if r["supplier_company_id"] == supplier["company"]["id"]), None
        )

    found = await eventually(negotiation)
    for side in (supplier, receiver):
        answer = await client.post(
            f"{API}/negotiations/{found['id']}/accept",
            json={"terms_id": found["terms"]["id"]},
            headers=side["headers"],
        )
        assert answer.status_code == 200, answer.text
    contract: dict[str, Any] = (
        await client.get(
            f"{API}/contracts/{answer.json()['contract_id']}", headers=receiver["headers"]
        )
    ).json()
    return contract


async def deliver(
    client: httpx.AsyncClient, contract: dict[str, Any], supplier: dict[str, Any], **extra: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/contracts/{contract['id']}/deliveries",
        json={"delivered_on": date.today().isoformat(), **extra},
        headers=supplier["headers"],
    )


async def invoiced(
    client: httpx.AsyncClient, who: dict[str, Any], contract_id: str
) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        rows = (await client.get(f"{API}/invoices/", headers=who["headers"])).json()
        return next((r for r in rows if r["contract_id"] == contract_id and r["number"]), None)

    result: dict[str, Any] = await eventually(found)
    return result


async def test_an_invoice_to_book_and_pay_its_papers_and_its_credit_note(
    client: httpx.AsyncClient,
) -> None:
    # Wood (19 12 07), traded by this test alone.
    seller = await register_company(client, "Papers Trevare AS")
    buyer = await register_company(client, "Papers Energi AS", language="en")
    contract = await trade(client, "19 12 07", seller, buyer)
    recorded = await deliver(
        client,
        contract,
        seller,
        quantity="12.48",
        measurement="weighbridge",
        weighbridge_ticket="T-20417",
        carrier={"name": "Østfold Transport AS", "org_number": "921300018"},
    )
    assert recorded.status_code == 201, recorded.text
    delivery = recorded.json()
    assert delivery["carrier"] == {"name": "Østfold Transport AS", "org_number": "921300018"}
    bad_carrier = await deliver(
        client, contract, seller, quantity="1", carrier={"name": "X AS", "org_number": "123"}
    )
    assert bad_carrier.status_code == 400 and "carrier" in bad_carrier.text

    # the delivery note, with parties, carrier, waste code, quantity, ticket, date, contract
    note = await client.get(
        f"{API}/deliveries/{delivery['id']}/note.pdf", headers=seller["headers"]
    )
    assert note.status_code == 200 and note.headers["content-type"] == "application/pdf"
    words = text_of(note.content)
    for expected in (
        "Delivery note",
        "Papers Trevare AS",
        "Papers Energi AS",
        "Østfold Transport AS",
        "19 12 07",
        "12.48",
        "T-20417",
        contract["id"],
        "weighbridge",
    ):
        assert expected in words, expected
    assert "Følgeseddel" in text_of(
        (
            await client.get(
                f"{API}/deliveries/{delivery['id']}/note.pdf?lang=nb", headers=seller["headers"]
            )
        ).content
    )

    confirmed = await client.post(
        f"{API}/deliveries/{delivery['id']}/confirm", headers=buyer["headers"]
    )
    assert confirmed.status_code == 200, confirmed.text
    invoice = await invoiced(client, buyer, contract["id"])
    # 12.48 t at the middle of 100 and 300 NOK/t: 200 NOK/t
    assert (invoice["net_ore"], invoice["mva_ore"], invoice["total_ore"]) == (249600, 62400, 312000)
    assert invoice["platform_fee_ore"] == 4992 and float(invoice["vat_percent"]) == 25
    assert invoice["number"] >= 1 and luhn.is_valid(invoice["kid"])
    assert invoice["kid"].startswith(f"{invoice['number']:07d}")
    assert (
        date.fromisoformat(invoice["due_date"]) - date.fromisoformat(invoice["issue_date"])
    ).days == 14
    assert invoice["delivery_date"] == date.today().isoformat()
    assert invoice["seller"]["name"] == "Papers Trevare AS" and invoice["seller"]["vat_registered"]
    assert invoice["account_number"] == invoice["seller"]["bank_account"]

    # the PDF, in the buyer's language (English here), with what bookkeeping needs
    pdf = await client.get(f"{API}/invoices/{invoice['id']}/pdf", headers=buyer["headers"])
    assert pdf.status_code == 200
    words = text_of(pdf.content)
    seller_org = invoice["seller"]["org_number"]
    for expected in (
        f"Invoice {invoice['number']}",
        "Papers Trevare AS",
        "Papers Energi AS",
        f"{seller_org[:3]} {seller_org[3:6]} {seller_org[6:]} MVA",
        "Tofteberg 1",
        "1617 Fredrikstad",
        invoice["kid"],
        invoice["due_date"],
        "12.48",
        "NOK 2,496.00",
        "NOK 624.00",
        "NOK 3,120.00",
        "NOK 49.92",
        "platform fee",
    ):
        assert expected in words, expected
    account = invoice["seller"]["bank_account"]
    assert f"{account[:4]}.{account[4:6]}.{account[6:]}" in words
    norwegian = text_of(
        (
            await client.get(
                f"{API}/invoices/{invoice['id']}/pdf?lang=nb", headers=seller["headers"]
            )
        ).content
    )
    assert f"Faktura {invoice['number']}" in norwegian and "kr 3 120,00" in norwegian

    # the EHF passes the official rules, with the same figures
    ehf = await client.get(f"{API}/invoices/{invoice['id']}/ehf", headers=buyer["headers"])
    assert ehf.status_code == 200 and ehf.headers["content-type"].startswith("application/xml")
    assert peppol.errors(ehf.content) == []
    for expected in (
        b'<cbc:PayableAmount currencyID="NOK">3120.00',
        f"<cbc:PaymentID>{invoice['kid']}".encode(),
        f"NO{seller_org}MVA".encode(),
    ):
        assert expected in ehf.content

    # a stranger sees none of it
    stranger = await register_company(client, "Papers Nosy AS")
    for path in (
        f"/invoices/{invoice['id']}/pdf",
        f"/invoices/{invoice['id']}/ehf",
        f"/deliveries/{delivery['id']}/note.pdf",
    ):
        assert (await client.get(f"{API}{path}", headers=stranger["headers"])).status_code == 404

    # disputed after invoicing: a credit note for the full amount, in the seller's series
    disputed = await client.post(
        f"{API}/deliveries/{delivery['id']}/dispute",
        json={"reason": "Wet wood, our weighbridge shows 9 t"},
        headers=buyer["headers"],
    )
    assert disputed.status_code == 200 and disputed.json()["status"] == "disputed"
    credited = (
        await client.get(f"{API}/invoices/{invoice['id']}", headers=buyer["headers"])
    ).json()
    assert credited["status"] == "credited"
    note_view = credited["credit_note"]
    assert note_view["number"] == invoice["number"] + 1 and note_view["total_ore"] == 312000
    assert (
        note_view["reason"]
        == "delivery disputed after invoicing: Wet wood, our weighbridge shows 9 t"
    )
    assert note_view["reason_detail"] == {"code": "credit_note.delivery_disputed", "params": {}}
    assert note_view["reason_typed"] == "Wet wood, our weighbridge shows 9 t"
    bokmal = text_of(
        (
            await client.get(
                f"{API}/invoices/{invoice['id']}/credit-note/pdf?lang=nb",
                headers=buyer["headers"],
            )
        ).content
    )
    assert "leveransen ble bestridt etter fakturering" in bokmal
    assert "delivery disputed" not in bokmal
    credit_pdf = text_of(
        (
            await client.get(
                f"{API}/invoices/{invoice['id']}/credit-note/pdf", headers=buyer["headers"]
            )
        ).content
    )
    assert (
        f"Credit note {note_view['number']}" in credit_pdf and f"{invoice['number']}" in credit_pdf
    )
    credit_ehf = (
        await client.get(
            f"{API}/invoices/{invoice['id']}/credit-note/ehf", headers=buyer["headers"]
        )
    ).content
    assert b"<cbc:CreditNoteTypeCode>381" in credit_ehf and peppol.errors(credit_ehf) == []

    # both sides are told of the credit note and the void invoice
    for company in (seller, buyer):

        async def told(company: dict[str, Any] = company) -> set[str] | None:
            rows = (await client.get(f"{INBOX}?lang=en", headers=company["headers"])).json()
            kinds = {r["event_type"] for r in rows} & {"credit_note.issued", "invoice.voided"}
            return kinds if len(kinds) == 2 else None

        await eventually(told)

    # the contract runs again for the disputed quantity; the delivery left the ledger
    again = (
        await client.get(f"{API}/contracts/{contract['id']}", headers=seller["headers"])
    ).json()
    assert again["status"] == "active" and float(again["delivered"]) == 0


async def test_a_seller_outside_the_mva_register_invoices_without_mva(
    client: httpx.AsyncClient,
) -> None:
    seller = await register_company(client, "Papers Småsag", vat_registered=False)
    buyer = await register_company(client, "Papers Kjøper AS")
    contract = await trade(client, "02 01 07", seller, buyer, tonnes=10, prices=(100, 100))
    recorded = await deliver(client, contract, seller, quantity="10")
    assert (
        await client.post(
            f"{API}/deliveries/{recorded.json()['id']}/confirm", headers=buyer["headers"]
        )
    ).status_code == 200
    invoice = await invoiced(client, buyer, contract["id"])
    assert (invoice["net_ore"], invoice["mva_ore"], invoice["total_ore"]) == (100000, 0, 100000)
    ehf = (
        await client.get(f"{API}/invoices/{invoice['id']}/ehf", headers=buyer["headers"])
    ).content
    assert b"<cbc:ID>O</cbc:ID>" in ehf and b"MVA</cbc:CompanyID>" not in ehf
    assert peppol.errors(ehf) == []
    words = text_of(
        (await client.get(f"{API}/invoices/{invoice['id']}/pdf", headers=buyer["headers"])).content
    )
    assert "Merverdiavgiftsregisteret" in words


async def test_an_invoice_waits_for_the_sellers_bank_account(client: httpx.AsyncClient) -> None:
    seller = await register_company(client, "Papers Uten Konto AS", bank_account=None)
    buyer = await register_company(client, "Papers Venter AS")
    contract = await trade(client, "10 01 01", seller, buyer, tonnes=5, prices=(100, 100))
    recorded = await deliver(client, contract, seller, quantity="5")
    assert (
        await client.post(
            f"{API}/deliveries/{recorded.json()['id']}/confirm", headers=buyer["headers"]
        )
    ).status_code == 200
    rows = (await client.get(f"{API}/invoices/", headers=seller["headers"])).json()
    [waiting] = [r for r in rows if r["contract_id"] == contract["id"]]
    assert waiting["status"] == "waiting" and waiting["number"] is None
    assert "seller's bank account" in waiting["waiting_for"]
    assert (
        await client.get(f"{API}/invoices/{waiting['id']}/pdf", headers=seller["headers"])
    ).status_code == 409
    changed = await client.patch(
        "/api/listings/companies/me",
        json={"bank_account": "86011117947"},
        headers=seller["headers"],
    )
    assert changed.status_code == 200, changed.text
    issued = await invoiced(client, seller, contract["id"])
    assert issued["account_number"] == "86011117947" and issued["status"] in ("queued", "issued")
    bad = await client.patch(
        "/api/listings/companies/me",
        json={"bank_account": "86011117948"},
        headers=seller["headers"],
    )
    assert bad.status_code == 400 and "bank_account" in bad.text


async def state_permit(
    client: httpx.AsyncClient, company: dict[str, Any], number: str, codes: list[str]
) -> None:
    stated = await client.put(
        "/api/listings/companies/me/permit",
        json={
            "number": number,
            "authority": "Statsforvalteren i Østfold, Buskerud, Oslo og Akershus",
            "valid_until": date(date.today().year + 2, 12, 31).isoformat(),
            "waste_codes": codes,
        },
        headers=company["headers"],
    )
    assert stated.status_code == 200, stated.text


async def verify_permit(
    client: httpx.AsyncClient, stack: Stack, company: dict[str, Any], number: str
) -> None:
    verified = await client.post(
        f"/api/listings/companies/{company['company']['id']}/permit/verify",
        json={"number": number},
        headers=bearer(park_admin_token(stack)),
    )
    assert verified.status_code == 200, verified.text


async def test_hazardous_waste_carries_its_declaration_and_the_receivers_permit(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    # Used engine oil (13 02 05*): the receiver holds a permit the park verified, the
    # supplier declares the waste.
    supplier = await register_company(client, "Papers Verksted AS")
    receiver = await register_company(client, "Papers Oljegjenvinning AS")
    await state_permit(client, receiver, "2020.0042.T", ["13 02 05"])
    await verify_permit(client, stack, receiver, "2020.0042.T")
    contract = await trade(
        client, "13 02 05", supplier, receiver, tonnes=4, prices=(-1000, -500), hazardous=True
    )
    assert contract["hazardous"]
    missing = await deliver(
        client, contract, supplier, quantity="2", carrier={"name": "Spesialavfall AS"}
    )
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "declaration"
    wrong = await deliver(
        client,
        contract,
        supplier,
        quantity="2",
        declaration={"waste_number": "1234", "description": "Oil", "properties": ["HP14"]},
    )
    assert wrong.status_code == 400 and "avfallsstoffnummer" in wrong.text
    recorded = await deliver(
        client,
        contract,
        supplier,
        quantity="2",
        measurement="weighbridge",
        weighbridge_ticket="HW-7",
        carrier={"name": "Spesialavfall AS"},
        declaration={
            "waste_number": "7012",
            "description": "Spent engine oil",
            "properties": ["HP14", "hp5"],
            "un_number": "UN 3082",
        },
    )
    assert recorded.status_code == 201, recorded.text
    delivery = recorded.json()
    data = (
        await client.get(
            f"{API}/deliveries/{delivery['id']}/declaration", headers=receiver["headers"]
        )
    ).json()
    assert data["complete"] and data["waste"]["ewc_code"] == "13 02 05*"
    assert [p["code"] for p in data["waste"]["properties"]] == ["HP5", "HP14"]
    assert data["producer"]["name"] == "Papers Verksted AS" and data["receiver"]["permit"] is True
    assert data["carrier"]["name"] == "Spesialavfall AS" and data["waste"]["un_number"] == "3082"
    words = text_of(
        (
            await client.get(
                f"{API}/deliveries/{delivery['id']}/declaration.pdf", headers=receiver["headers"]
            )
        ).content
    )
    assert "Deklarasjon av farlig avfall" in words and "7012" in words and "HP14" in words

    # a permit stated anew waits for the park again: until it is verified, the delivery
    # cannot be confirmed
    path = f"{API}/deliveries/{delivery['id']}/declaration"

    async def permit(held: bool) -> bool:
        found = (await client.get(path, headers=receiver["headers"])).json()
        return bool(found["receiver"]["permit"] is held)

    await state_permit(client, receiver, "2026.0117.T", ["13 02 05"])
    await eventually(lambda: permit(False))
    answer = await client.post(
        f"{API}/deliveries/{delivery['id']}/confirm", headers=receiver["headers"]
    )
    assert answer.status_code == 409 and "permit" in answer.json()["detail"]
    await verify_permit(client, stack, receiver, "2026.0117.T")
    await eventually(lambda: permit(True))
    answer = await client.post(
        f"{API}/deliveries/{delivery['id']}/confirm", headers=receiver["headers"]
    )
    assert answer.status_code == 200, answer.text


async def test_each_company_downloads_its_own_report(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    supplier = await register_company(client, "Report Tegl AS")
    receiver = await register_company(client, "Report Fyll AS")
    contract = await trade(client, "10 12 01", supplier, receiver, tonnes=8, prices=(100, 300))
    for tonnes in ("5", "3"):
        recorded = await deliver(client, contract, supplier, quantity=tonnes)
        assert (
            await client.post(
                f"{API}/deliveries/{recorded.json()['id']}/confirm", headers=receiver["headers"]
            )
        ).status_code == 200
    mine = (await client.get(f"{API}/reports/mine", headers=supplier["headers"])).json()
    figures = {f["key"]: float(f["value"]) for f in mine["figures"]}
    assert mine["name"] == "Report Tegl AS" and mine["deliveries"] == 2
    assert figures["supplied_tonnes"] == 8 and figures["received_tonnes"] == 0
    assert figures["earned_nok"] == 8 * 200 and figures["paid_nok"] == 0
    assert figures["saved_nok"] == 8 * 100  # over its own asking price
    theirs = {
        f["key"]: float(f["value"])
        for f in (await client.get(f"{API}/reports/mine", headers=receiver["headers"])).json()[
            "figures"
        ]
    }
    assert (
        theirs["received_tonnes"] == 8 and theirs["paid_nok"] == 1600 and theirs["saved_nok"] == 800
    )
    assert {g["id"] for g in mine["goals"]} == {
        "SDG 12.5",
        "SDG 12.2",
        "SDG 9.4",
        "SDG 7.a",
        "EU taxonomy: circular economy",
    }
    assert all(f["source"] for f in mine["factors"])
    empty = (
        await client.get(f"{API}/reports/mine?until=2000-01-01", headers=supplier["headers"])
    ).json()
    assert empty["deliveries"] == 0
    assert (
        await client.get(
            f"{API}/reports/mine?start=2030-01-01&until=2020-01-01", headers=supplier["headers"]
        )
    ).status_code == 400

    pdf = await client.get(f"{API}/reports/mine/pdf?lang=en", headers=supplier["headers"])
    words = text_of(pdf.content)
    assert "Report Tegl AS" in words and "SDG 12.5" in words and "Supplied (tonnes)" in words
    table = (await client.get(f"{API}/reports/mine/csv", headers=supplier["headers"])).text
    rows = list(csv.reader(io.StringIO(table)))
    assert rows[0] == ["figure", "value", "unit", "goals"]
    assert sum(contract["id"] in ",".join(r) for r in rows) == 2

    # the park administrator has the same for the whole park; companies may not
    assert (await client.get(f"{API}/reports/park", headers=supplier["headers"])).status_code == 403
    email = unique_email("report")
    make_park_admin(stack, email, PASSWORD)
    admin = bearer(await sign_in(client, email))
    park = (await client.get(f"{API}/reports/park", headers=admin)).json()
    assert park["company_id"] is None and park["deliveries"] >= 2
    assert (await client.get(f"{API}/reports/park/pdf", headers=admin)).status_code == 200
    assert (await client.get(f"{API}/reports/mine", headers=admin)).status_code == 403
