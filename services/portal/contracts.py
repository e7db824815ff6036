"""Agreed contracts, their deliveries (the supplier records, the receiver confirms or
disputes, also after it was invoiced) with their delivery notes and hazardous-waste
declarations, the invoices with their PDF, EHF and credit notes, and each company's own
report (the park's, for a park administrator)."""

from __future__ import annotations

import uuid
from datetime import date
from functools import partial
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Redirect, Template

from services.portal.client import Api
from services.portal.forms import DELIVERY_FIELDS, delivery_body
from services.portal.forms import day as typed_day
from services.portal.i18n import N_, _
from services.portal.pages import DEPENDENCIES, form_of, my_side, render, submit
from services.portal.problems import FormErrors
from services.portal.session import SignedIn, signed_in
from services.portal.trades import company_names

# Contracts and invoices a page.
TRADES_PAGE = 50


async def _a_page(api: Api, path: str, page: int) -> tuple[list[dict[str, Any]], bool]:
    """A page of the contracts service's list at ``path``, and whether more follow."""
    found = await api.get("contracts", path, limit=TRADES_PAGE + 1, offset=(page - 1) * TRADES_PAGE)
    return found[:TRADES_PAGE], len(found) > TRADES_PAGE


class ContractsController(Controller):
    guards = [signed_in]
    dependencies = DEPENDENCIES

    @get("/contracts", name="contracts")
    async def contracts(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        person: SignedIn,
        page: Annotated[int, Parameter(ge=1, le=10_000)] = 1,
    ) -> Template:
        """The company's contracts, newest first, a page at a time."""
        contracts, more = await _a_page(api, "/contracts", page)
        names = await company_names(
            api,
            {c["supplier_company_id"] for c in contracts}
            | {c["receiver_company_id"] for c in contracts},
        )
        return render(
            request,
            "contracts/list.html",
            contracts=contracts,
            names=names,
            sides={c["id"]: my_side(person, c) for c in contracts},
            page=page,
            more=more,
        )

    async def _page(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        person: SignedIn,
        contract_id: uuid.UUID,
        *,
        errors: FormErrors | None = None,
        values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        contract = await api.get("contracts", f"/contracts/{contract_id}")
        invoices = [
            i for i in await api.get("contracts", "/invoices") if i["contract_id"] == contract["id"]
        ]
        names = await company_names(
            api, {contract["supplier_company_id"], contract["receiver_company_id"]}
        )
        return render(
            request,
            "contracts/contract.html",
            status_code=status_code,
            errors=errors,
            values=values or {"delivered_on": date.today().isoformat()},
            contract=contract,
            invoices={i["delivery_id"]: i for i in invoices},
            names=names,
            side=my_side(person, contract),
        )

    @get("/contracts/{contract_id:uuid}", name="contract")
    async def contract(
        self, request: Request[Any, Any, Any], api: Api, person: SignedIn, contract_id: uuid.UUID
    ) -> Template:
        return await self._page(request, api, person, contract_id)

    @post("/contracts/{contract_id:uuid}/deliveries")
    async def record(
        self, request: Request[Any, Any, Any], api: Api, person: SignedIn, contract_id: uuid.UUID
    ) -> Template | Redirect:
        form = await form_of(request)

        async def send() -> None:
            body = delivery_body(form, form.get("unit", ""), form.get("hazardous") == "1")
            await api.post("contracts", f"/contracts/{contract_id}/deliveries", body)

        return await submit(
            send,
            form,
            partial(self._page, request, api, person, contract_id),
            f"/contracts/{contract_id}",
            fields=DELIVERY_FIELDS,
            default_field="quantity",
        )

    @post("/deliveries/{delivery_id:uuid}/{answer:str}")
    async def answer(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        person: SignedIn,
        delivery_id: uuid.UUID,
        answer: str,
    ) -> Template | Redirect:
        """The receiver confirms a delivery, or disputes it with a reason."""
        form = await form_of(request)
        try:
            contract_id = uuid.UUID(form.get("contract_id", ""))
        except ValueError:
            raise NotFoundException("no such contract") from None
        if answer not in ("confirm", "dispute"):
            return await self._page(request, api, person, contract_id, status_code=404)
        body = {"reason": form.get("reason", "").strip()} if answer == "dispute" else {}
        return await submit(
            partial(api.post, "contracts", f"/deliveries/{delivery_id}/{answer}", body),
            form,
            partial(self._page, request, api, person, contract_id),
            f"/contracts/{contract_id}",
            fields={"reason": f"reason-{delivery_id}"},
            default_field=f"reason-{delivery_id}",
        )


async def download(api: Api, path: str, **params: Any) -> Response[bytes]:
    """A paper from the contracts API (PDF, EHF, CSV), passed on to the browser as it is."""
    answer = await api.respond("GET", "contracts", path, params=params)
    return Response(
        answer.content,
        media_type=answer.headers.get("content-type", "application/octet-stream"),
        headers={"Content-Disposition": answer.headers.get("content-disposition", "inline")},
    )


class PapersController(Controller):
    """The papers of a delivery, downloaded through the portal with the person's token."""

    guards = [signed_in]
    dependencies = DEPENDENCIES

    @get("/deliveries/{delivery_id:uuid}/note.pdf", name="delivery_note")
    async def note(self, api: Api, delivery_id: uuid.UUID) -> Response[bytes]:
        return await download(api, f"/deliveries/{delivery_id}/note.pdf", lang=api.language)

    @get("/deliveries/{delivery_id:uuid}/declaration.pdf", name="declaration")
    async def declaration(self, api: Api, delivery_id: uuid.UUID) -> Response[bytes]:
        return await download(api, f"/deliveries/{delivery_id}/declaration.pdf", lang=api.language)

    @get("/invoices/{invoice_id:uuid}/{paper:str}", name="invoice_paper")
    async def invoice_paper(self, api: Api, invoice_id: uuid.UUID, paper: str) -> Response[bytes]:
        """The invoice as PDF (in the buyer's language) or EHF, and its credit note."""
        paths = {
            "invoice.pdf": "pdf",
            "invoice.xml": "ehf",
            "credit-note.pdf": "credit-note/pdf",
            "credit-note.xml": "credit-note/ehf",
        }
        if paper not in paths:
            raise NotFoundException("no such paper")
        return await download(api, f"/invoices/{invoice_id}/{paths[paper]}")


FIGURES = {
    "supplied_tonnes": N_("Supplied (tonnes)"),
    "received_tonnes": N_("Received (tonnes)"),
    "earned_nok": N_("Earned (NOK excl. MVA)"),
    "paid_nok": N_("Paid (NOK excl. MVA)"),
    "saved_nok": N_("Saved against our own listed price (NOK)"),
    "tonnes_diverted": N_("Tonnes kept out of disposal"),
    "virgin_material_tonnes": N_("Virgin material replaced (tonnes)"),
    "water_m3": N_("Water reused (m³)"),
    "energy_mwh": N_("Energy recovered (MWh)"),
    "co2e_avoided_kg": N_("CO₂e avoided (kg)"),
    "transport_kg_co2e": N_("Transport emissions (kg CO₂e)"),
    "co2e_net_kg": N_("CO₂e avoided net of transport (kg)"),
}


def _period(typed: dict[str, str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """The period's dates as the API takes them (ISO), from what was typed; and a message
    for each that is not a date."""
    period: dict[str, str | None] = {}
    problems: dict[str, str] = {}
    for name, text in typed.items():
        period[name] = None
        if text:
            try:
                period[name] = typed_day(text).isoformat()
            except ValueError:
                problems[name] = _(N_("Enter a date."))
    return period, problems


class ReportController(Controller):
    """The company's own figures for a period (the park's, for a park administrator)."""

    guards = [signed_in]
    dependencies = DEPENDENCIES

    def _which(self, person: SignedIn) -> str:
        return "/reports/mine" if person.company_id else "/reports/park"

    @get("/report", name="report")
    async def report(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        person: SignedIn,
        start: str | None = None,
        until: str | None = None,
    ) -> Template:
        typed = {"start": start or "", "until": until or ""}
        period, problems = _period(typed)
        errors = None
        if problems:
            errors = FormErrors(
                _(N_("Some of what you entered needs correcting; see the marked fields.")),
                problems,
            )
            period = {"start": None, "until": None}
        report = await api.get("contracts", self._which(person), **period)
        return render(
            request,
            "contracts/report.html",
            status_code=400 if errors else 200,
            errors=errors,
            report=report,
            figure_names={key: _(label) for key, label in FIGURES.items()},
            values=typed,
            query={k: v for k, v in period.items() if v},
        )

    @get("/report/{kind:str}", name="report_download")
    async def report_download(
        self,
        api: Api,
        person: SignedIn,
        kind: str,
        start: str | None = None,
        until: str | None = None,
    ) -> Response[bytes]:
        if kind not in ("pdf", "csv"):
            raise NotFoundException("no such download")
        params, _problems = _period({"start": start or "", "until": until or ""})
        if kind == "pdf":
            params["lang"] = api.language
        return await download(api, f"{self._which(person)}/{kind}", **params)


class InvoicesController(Controller):
    guards = [signed_in]
    dependencies = DEPENDENCIES

    @get("/invoices", name="invoices")
    async def invoices(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        person: SignedIn,
        page: Annotated[int, Parameter(ge=1, le=10_000)] = 1,
    ) -> Template:
        """The invoices the company pays or is paid, newest first, a page at a time."""
        invoices, more = await _a_page(api, "/invoices", page)
        names = await company_names(
            api,
            {i["payer_company_id"] for i in invoices} | {i["payee_company_id"] for i in invoices},
        )
        titles = {c["id"]: c["title"] for c in await api.get("contracts", "/contracts")}
        return render(
            request,
            "contracts/invoices.html",
            invoices=invoices,
            names=names,
            titles=titles,
            page=page,
            more=more,
        )

    @get("/invoices/{invoice_id:uuid}", name="invoice")
    async def invoice(
        self, request: Request[Any, Any, Any], api: Api, invoice_id: uuid.UUID
    ) -> Template:
        invoice = await api.get("contracts", f"/invoices/{invoice_id}")
        names = await company_names(api, {invoice["payer_company_id"], invoice["payee_company_id"]})
        contract = await api.get("contracts", f"/contracts/{invoice['contract_id']}")
        return render(
            request,
            "contracts/invoice.html",
            invoice=invoice,
            names=names,
            titles={contract["id"]: contract["title"]},
        )
