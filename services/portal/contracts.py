"""Agreed contracts, their deliveries (the supplier records, the receiver confirms or
disputes) and the invoices with their payment state."""

from __future__ import annotations

import uuid
from datetime import date
from functools import partial
from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from services.portal.client import Api
from services.portal.forms import DELIVERY_FIELDS, delivery_body
from services.portal.pages import DEPENDENCIES, form_of, my_side, render, submit
from services.portal.problems import FormErrors
from services.portal.session import SignedIn, signed_in
from services.portal.trades import company_names


class ContractsController(Controller):
    guards = [signed_in]
    dependencies = DEPENDENCIES

    @get("/contracts", name="contracts")
    async def contracts(
        self, request: Request[Any, Any, Any], api: Api, person: SignedIn
    ) -> Template:
        contracts = await api.get("contracts", "/contracts")
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
            body = delivery_body(form, form.get("unit", ""))
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


class InvoicesController(Controller):
    guards = [signed_in]
    dependencies = DEPENDENCIES

    @get("/invoices", name="invoices")
    async def invoices(
        self, request: Request[Any, Any, Any], api: Api, person: SignedIn
    ) -> Template:
        invoices = await api.get("contracts", "/invoices")
        names = await company_names(
            api,
            {i["payer_company_id"] for i in invoices} | {i["payee_company_id"] for i in invoices},
        )
        return render(request, "contracts/invoices.html", invoices=invoices, names=names)

    @get("/invoices/{invoice_id:uuid}", name="invoice")
    async def invoice(
        self, request: Request[Any, Any, Any], api: Api, invoice_id: uuid.UUID
    ) -> Template:
        invoice = await api.get("contracts", f"/invoices/{invoice_id}")
        names = await company_names(api, {invoice["payer_company_id"], invoice["payee_company_id"]})
        return render(request, "contracts/invoice.html", invoice=invoice, names=names)
