"""Proposals and their negotiation: the reasons and the value of each proposed trade,
and accept, counter or decline."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from functools import partial
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from services.portal.client import Api, ApiProblem
from services.portal.forms import FREQUENCIES, TERMS_FIELDS, TRANSPORTS, kroner, terms_body
from services.portal.i18n import N_
from services.portal.pages import DEPENDENCIES, form_of, my_side, render, submit
from services.portal.problems import FormErrors
from services.portal.session import SignedIn, signed_in

OPEN = "open"


# How the list of proposals can be ordered: open ones first (the newest change first), by
# the newest change, or by title.
SORTS: dict[str, str] = {
    "open": N_("Open first"),
    "newest": N_("Newest first"),
    "title": N_("By title"),
}
PAGE_SIZE = 20
SIDES = ("supplier", "receiver")


def sort_trades(negotiations: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """The negotiations in the chosen order (the newest change first within a status)."""
    newest = sorted(negotiations, key=lambda n: str(n["updated_at"]), reverse=True)
    if sort == "title":
        return sorted(newest, key=lambda n: str(n["title"]).casefold())
    if sort == "open":
        return sorted(newest, key=lambda n: n["status"] != OPEN)
    return newest


def page_of(items: list[dict[str, Any]], page: int) -> tuple[list[dict[str, Any]], int, int]:
    """One page of the list, the page number (within the pages there are) and how many
    pages there are (at least one)."""
    pages = max(1, -(-len(items) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    return items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], page, pages


async def listing_titles(api: Api, ids: set[str | None]) -> dict[str, dict[str, Any]]:
    """Each listing's title and kind (a listing the company may no longer see is left
    out), asked for all at once."""

    async def one(listing_id: str) -> dict[str, Any] | None:
        try:
            listing: dict[str, Any] = await api.get("listings", f"/listings/{listing_id}")
        except ApiProblem:
            return None
        return {"title": listing["title"], "kind": listing["kind"]}

    ordered = sorted(i for i in ids if i)
    found = await asyncio.gather(*map(one, ordered))
    return {i: f for i, f in zip(ordered, found, strict=True) if f is not None}


async def company_names(api: Api, ids: set[str]) -> dict[str, str]:
    """The names of these companies (every member may know another's name), asked for all
    at once (a search page may name fifty) and remembered for a minute."""

    async def name(company_id: str) -> str:
        known = api.services.names.get(company_id)
        if known is not None:
            return str(known)
        try:
            card = await api.get("listings", f"/companies/{company_id}/card")
        except ApiProblem:
            return ""
        api.services.names.put(company_id, str(card["name"]))
        return str(card["name"])

    ordered = sorted(ids)
    return dict(zip(ordered, await asyncio.gather(*map(name, ordered)), strict=True))


def counter_values(terms: dict[str, Any] | None) -> dict[str, str]:
    """The terms on the table as the counter form's starting values."""
    if not terms:
        return {}
    price = terms.get("price_per_unit_ore")
    return {
        "quantity": str(terms.get("quantity") or ""),
        "price": str(abs(kroner(price))) if price is not None else "",
        "gate_fee": "1" if price is not None and price < 0 else "",
        "transport": terms.get("transport") or "either",
        "schedule": terms.get("schedule") or "once",
        "delivery_from": terms.get("delivery_from") or "",
        "delivery_until": terms.get("delivery_until") or "",
    }


class TradesController(Controller):
    guards = [signed_in]
    dependencies = DEPENDENCIES

    @get("/proposals", name="proposals")
    async def proposals(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        person: SignedIn,
        sort: str = "open",
        page: int = 1,
    ) -> Template:
        """Every negotiation of the company, a page at a time, each with the company's own
        listing it serves and what the other side offers or needs; the list alone for htmx."""
        negotiations = await api.get("contracts", "/negotiations")
        sort = sort if sort in SORTS else "open"
        shown, page, pages = page_of(sort_trades(negotiations, sort), page)
        sides = {n["id"]: my_side(person, n) for n in shown}
        names, listings = await asyncio.gather(
            company_names(
                api,
                {n["supplier_company_id"] for n in shown}
                | {n["receiver_company_id"] for n in shown},
            ),
            listing_titles(api, {n[key] for n in shown for key in ("offer_id", "need_id")}),
        )
        template = (
            "trades/list.html" if request.headers.get("hx-request") else "trades/proposals.html"
        )
        return render(
            request,
            template,
            negotiations=shown,
            names=names,
            listings=listings,
            sides=sides,
            sort=sort,
            sorts=SORTS,
            page=page,
            pages=pages,
            total=len(negotiations),
        )

    async def _page(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        person: SignedIn,
        negotiation_id: uuid.UUID,
        *,
        errors: FormErrors | None = None,
        values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        negotiation = await api.get("contracts", f"/negotiations/{negotiation_id}")
        value = None
        reasons: list[dict[str, Any]] = []
        with contextlib.suppress(ApiProblem):  # not every trade has the matcher's value
            proposal = await api.get("matching", f"/proposals/{negotiation_id}")
            value = proposal.get("value")
            reasons = proposal.get("reason_details") or []
        side = my_side(person, negotiation)
        terms = negotiation.get("terms")
        names = await company_names(
            api, {negotiation["supplier_company_id"], negotiation["receiver_company_id"]}
        )
        return render(
            request,
            "trades/negotiation.html",
            status_code=status_code,
            errors=errors,
            values=values or counter_values(terms),
            negotiation=negotiation,
            terms=terms,
            value=value,
            reasons=reasons,
            side=side,
            names=names,
            accepted_by_me=bool(terms and terms.get(f"{side}_accepted_at")),
            transports=TRANSPORTS,
            frequencies=FREQUENCIES,
        )

    @get("/negotiations/{negotiation_id:uuid}", name="negotiation")
    async def negotiation(
        self, request: Request[Any, Any, Any], api: Api, person: SignedIn, negotiation_id: uuid.UUID
    ) -> Template:
        return await self._page(request, api, person, negotiation_id)

    @post("/negotiations/{negotiation_id:uuid}/accept")
    async def accept(
        self, request: Request[Any, Any, Any], api: Api, person: SignedIn, negotiation_id: uuid.UUID
    ) -> Template | Redirect:
        form = await form_of(request)
        return await submit(
            partial(
                api.post,
                "contracts",
                f"/negotiations/{negotiation_id}/accept",
                {"terms_id": form.get("terms_id", "")},
            ),
            form,
            partial(self._page, request, api, person, negotiation_id),
            f"/negotiations/{negotiation_id}",
            keep_values=False,
        )

    @post("/negotiations/{negotiation_id:uuid}/counter")
    async def counter(
        self, request: Request[Any, Any, Any], api: Api, person: SignedIn, negotiation_id: uuid.UUID
    ) -> Template | Redirect:
        form = await form_of(request)

        async def send() -> None:
            body = terms_body(form, form.get("unit", ""))
            await api.post("contracts", f"/negotiations/{negotiation_id}/counter", body)

        return await submit(
            send,
            form,
            partial(self._page, request, api, person, negotiation_id),
            f"/negotiations/{negotiation_id}",
            fields=TERMS_FIELDS,
            default_field="quantity",
        )

    @post("/negotiations/{negotiation_id:uuid}/decline")
    async def decline(
        self, request: Request[Any, Any, Any], api: Api, person: SignedIn, negotiation_id: uuid.UUID
    ) -> Template | Redirect:
        form = await form_of(request)
        reason = form.get("reason", "").strip() or None
        return await submit(
            partial(
                api.post, "contracts", f"/negotiations/{negotiation_id}/decline", {"reason": reason}
            ),
            form,
            partial(self._page, request, api, person, negotiation_id),
            f"/negotiations/{negotiation_id}",
            fields={"reason": "reason"},
            default_field="reason",
        )
