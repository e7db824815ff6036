"""The company's offers and needs (create, edit, withdraw), the park's open listings, and
the search-as-you-type picker over the European List of Waste."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from services.portal.client import Api, ApiProblem
from services.portal.forms import (
    FREQUENCIES,
    KINDS,
    QUALITY_ROWS,
    TRANSPORTS,
    UNITS,
    kroner,
    listing_body,
    listing_fields,
    machine_number,
)
from services.portal.i18n import N_, _
from services.portal.pages import DEPENDENCIES, form_of, render, see_other
from services.portal.plan import marker as place
from services.portal.problems import FormErrors, explain
from services.portal.session import SignedIn, signed_in
from services.portal.trades import company_names
from services.portal.vocabulary import PropertyChoice, property_choice, property_choices
from shared.ewc import catalogue, normalise
from shared.knowledge import listing_resources, use_names
from shared.resources import RESOURCE_CLASSES, TRANSPORT_MODES, open_classes
from shared.vocabulary import Hit, find

PICKER_LIMIT = 15
SEARCH_FILTERS = (
    "kind",
    "q",
    "ewc_code",
    "chapter",
    "resource_class",
    "unit",
    "min_quantity",
    "max_quantity",
    "within_km",
    "sort",
    "cursor",
)
# The company's own listings, a page at a time.
MINE_PAGE = 50
# Typed as the page's language writes numbers (2,5 km), sent as the API reads them.
NUMBER_FILTERS = ("min_quantity", "max_quantity", "within_km")
_NO_SITE = N_("Your company's site has no position: place it on the company page first.")


def find_waste_codes(query: str, limit: int = PICKER_LIMIT) -> list[Hit]:
    """Codes and resource classes for what was typed: digits of a code, or words in
    bokmål or English, typos and inflected forms forgiven (``shared.vocabulary``, which the
    listings API's resource search uses too)."""
    return find(query, limit)


def _form_values(listing: dict[str, Any]) -> dict[str, Any]:
    """A listing as the edit form's values."""
    price = listing.get("price_per_unit_ore")
    values: dict[str, Any] = {
        **{k: listing.get(k) or "" for k in ("title", "description", "transport", "internal_note")},
        "quantity": listing.get("quantity", ""),
        "available_from": listing.get("available_from") or "",
        "available_until": listing.get("available_until") or "",
        "price": str(abs(kroner(price))) if price is not None else "",
        "gate_fee": "1" if price is not None and price < 0 else "",
        "transport_mode": listing.get("transport_mode") or "",
        "max_distance_km": ""
        if listing.get("max_distance_km") is None
        else str(listing["max_distance_km"]),
    }
    location = listing.get("location") or {}
    for key in ("plot", "latitude", "longitude"):
        values[key] = "" if location.get(key) is None else str(location[key])
    for i, row in enumerate(listing.get("quality") or []):
        for key in ("property", "unit", "min", "max", "value"):
            value = row.get(key)
            values[f"quality_{i}_{key}"] = "" if value is None else str(value)
    return values


@dataclass(frozen=True)
class QualityRow:
    """A quality row of the listing form: the properties it offers, the one chosen, and
    the unit shown beside its value (``kept_unit``: the stored unit of a property the
    exchange does not know, which an older listing may have)."""

    index: int
    choices: list[PropertyChoice]
    current: str
    unit_words: str
    kept_unit: str = ""


def resources_of(
    values: Mapping[str, Any], listing: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """What the listing is about (an existing one's resources; on the new-listing form, the
    code, class or use chosen so far), as ``shared.knowledge`` names resources."""
    if listing is not None:
        return listing_resources(
            listing.get("ewc_code"),
            listing.get("resource_class"),
            listing.get("use"),
            listing.get("accepts") or [],
        )
    kind = str(values.get("resource_class") or "")
    code = normalise(str(values.get("ewc_code") or ""))
    use = str(values.get("use") or "")
    return listing_resources(
        code if code in catalogue() and not kind else None,
        kind if kind in RESOURCE_CLASSES else None,
        use if use in use_names() else None,
        (),
    )


def quality_rows(
    values: Mapping[str, Any], listing: Mapping[str, Any] | None = None
) -> list[QualityRow]:
    """The form's quality rows, each offering the properties known for the resource (every
    property the exchange knows while none is chosen), and keeping the one a row has."""
    resources = resources_of(values, listing)
    choices = property_choices(resources)
    rows = []
    for i in range(QUALITY_ROWS):
        current = str(values.get(f"quality_{i}_property") or "")
        offered = list(choices)
        unit_words, kept_unit = "", ""
        if current:
            found = next((c for c in choices if c.name == current), None)
            found = found or property_choice(current, resources)
            if found is None:
                kept_unit = str(values.get(f"quality_{i}_unit") or "")
                found = PropertyChoice(current, current.replace("_", " "), kept_unit, kept_unit)
            if found not in offered:
                offered.insert(0, found)
            unit_words = found.unit_words
        rows.append(QualityRow(i, offered, current, unit_words, kept_unit))
    return rows


class ListingsController(Controller):
    path = "/listings"
    guards = [signed_in]
    dependencies = DEPENDENCIES

    @get("/", name="listings")
    async def mine(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        cursor: Annotated[str | None, Parameter(max_length=500)] = None,
    ) -> Template | Redirect:
        """The company's listings, a page at a time (newest first, as the API lists them)."""
        try:
            page = await api.get(
                "listings",
                "/listings",
                mine="true",
                limit=MINE_PAGE,
                **({"cursor": cursor} if cursor else {}),
            )
        except ApiProblem as problem:
            if problem.refused_cursor(cursor):
                return see_other("/listings")
            raise
        return render(
            request, "listings/mine.html", listings=page["items"], next_cursor=page["next_cursor"]
        )

    def _form(
        self,
        request: Request[Any, Any, Any],
        *,
        listing: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        errors: FormErrors | None = None,
        status_code: int = 200,
    ) -> Template:
        return render(
            request,
            "listings/form.html",
            status_code=status_code,
            errors=errors,
            values=values or {},
            listing=listing,
            kinds=KINDS,
            units=UNITS,
            frequencies=FREQUENCIES,
            transports=TRANSPORTS,
            resource_classes=open_classes(),
            uses=list(use_names().values()),
            transport_modes=TRANSPORT_MODES,
            quality_rows=quality_rows(values or {}, listing),
        )

    @get("/properties", name="listing_properties")
    async def properties(self, request: Request[Any, Any, Any]) -> Template:
        """The quality rows' property fields for the resource chosen so far (an htmx
        fragment swapped into the new-listing form when the resource changes)."""
        values = dict(request.query_params.items())
        return render(
            request,
            "listings/quality_properties.html",
            errors=None,
            quality_rows=quality_rows(values),
        )

    @get("/new", name="new_listing")
    async def new(self, request: Request[Any, Any, Any], kind: str = "offer") -> Template:
        return self._form(request, values={"kind": kind if kind in KINDS else "offer"})

    @post("/new")
    async def create(self, request: Request[Any, Any, Any], api: Api) -> Template | Redirect:
        form = await form_of(request)
        try:
            body = listing_body(form, new=True)
            created = await api.post("listings", "/listings", body)
        except FormErrors as refused:
            return self._form(request, values=form, errors=refused, status_code=400)
        except ApiProblem as problem:
            errors = explain(problem, listing_fields(form), default_field="title")
            return self._form(request, values=form, errors=errors, status_code=problem.status)
        return see_other(f"/listings/{created['id']}")

    @get("/{listing_id:uuid}", name="listing")
    async def show(
        self, request: Request[Any, Any, Any], api: Api, listing_id: uuid.UUID
    ) -> Template:
        listing = await api.get("listings", f"/listings/{listing_id}")
        return render(request, "listings/show.html", listing=listing)

    @get("/{listing_id:uuid}/edit")
    async def edit(
        self, request: Request[Any, Any, Any], api: Api, listing_id: uuid.UUID
    ) -> Template:
        listing = await api.get("listings", f"/listings/{listing_id}")
        return self._form(request, listing=listing, values=_form_values(listing))

    @post("/{listing_id:uuid}/edit")
    async def update(
        self, request: Request[Any, Any, Any], api: Api, listing_id: uuid.UUID
    ) -> Template | Redirect:
        form = await form_of(request)
        listing = await api.get("listings", f"/listings/{listing_id}")
        try:
            body = listing_body(form, new=False)
            await api.patch("listings", f"/listings/{listing_id}", body)
        except FormErrors as refused:
            return self._form(
                request, listing=listing, values=form, errors=refused, status_code=400
            )
        except ApiProblem as problem:
            errors = explain(problem, listing_fields(form), default_field="title")
            return self._form(
                request, listing=listing, values=form, errors=errors, status_code=problem.status
            )
        return see_other(f"/listings/{listing_id}")

    @post("/{listing_id:uuid}/withdraw")
    async def withdraw(
        self, request: Request[Any, Any, Any], api: Api, listing_id: uuid.UUID
    ) -> Template | Redirect:
        try:
            await api.post("listings", f"/listings/{listing_id}/withdraw")
        except ApiProblem as problem:
            listing = await api.get("listings", f"/listings/{listing_id}")
            return render(
                request,
                "listings/show.html",
                status_code=problem.status,
                errors=explain(problem),
                listing=listing,
            )
        return see_other(f"/listings/{listing_id}")

    @post("/{listing_id:uuid}/publish")
    async def publish(
        self, request: Request[Any, Any, Any], api: Api, listing_id: uuid.UUID
    ) -> Template | Redirect:
        try:
            await api.post("listings", f"/listings/{listing_id}/publish")
        except ApiProblem as problem:
            listing = await api.get("listings", f"/listings/{listing_id}")
            return render(
                request,
                "listings/show.html",
                status_code=problem.status,
                errors=explain(problem),
                listing=listing,
            )
        return see_other(f"/listings/{listing_id}")


class SearchController(Controller):
    guards = [signed_in]
    dependencies = DEPENDENCIES

    @get("/search", name="search")
    async def search(self, request: Request[Any, Any, Any], api: Api, person: SignedIn) -> Template:
        """The park's open listings, filtered as the listings search API filters; with a
        distance, those within it of the company's site. Results are drawn on the map."""
        filters = {k: request.query_params.get(k, "") for k in SEARCH_FILTERS}
        asked = {k: machine_number(v) if k in NUMBER_FILTERS else v for k, v in filters.items()}
        page: dict[str, Any] = {"items": [], "next_cursor": None}
        errors = None
        site = None
        if person.company_id:
            site = ((await api.get("listings", "/companies/me")).get("location")) or {}
        near: dict[str, Any] = {}
        if filters["within_km"]:
            if site and site.get("latitude") is not None:
                near = {"lat": site["latitude"], "lon": site["longitude"]}
            else:
                errors = FormErrors(
                    _(N_("Some of what you entered needs correcting; see the marked fields.")),
                    {"within_km": _(_NO_SITE)},
                )
        if errors is None:
            try:
                page = await api.get(
                    "listings", "/listings", status="open", limit=50, **asked, **near
                )
            except ApiProblem as problem:
                errors = explain(problem, {k: k for k in SEARCH_FILTERS} | {"lat": "within_km"})
        fragment = request.headers.get("hx-request") == "true"
        names = await company_names(api, {str(item["company_id"]) for item in page["items"]})
        markers = [
            place(
                (item.get("location") or {}).get("latitude"),
                (item.get("location") or {}).get("longitude"),
                f"{item['title']} ({names.get(str(item['company_id'])) or _('another company')})",
                kind="result",
                href=f"/listings/{item['id']}",
            )
            for item in page["items"]
        ]
        if site:
            markers.append(
                place(site.get("latitude"), site.get("longitude"), _("Our site"), kind="home")
            )
        # the same search from where this page ends (the API's cursor), for the next page
        following = {k: v for k, v in filters.items() if v and k != "cursor"}
        if page.get("next_cursor"):
            following["cursor"] = page["next_cursor"]
        return render(
            request,
            "listings/results.html" if fragment else "listings/search.html",
            next_query=urlencode(following),
            names=names,
            fragment=fragment,
            status_code=200 if errors is None else 400,
            errors=errors,
            values=filters,
            page=page,
            kinds=KINDS,
            units=UNITS,
            resource_classes=open_classes(),
            markers=markers,
        )

    @get("/waste-codes", name="waste_codes")
    async def waste_codes(
        self, request: Request[Any, Any, Any], q: str = "", ewc_code: str = ""
    ) -> Template:
        """The picker's choices for what has been typed so far (an htmx fragment)."""
        query = q or ewc_code
        return render(
            request, "listings/waste_codes.html", hits=find_waste_codes(query), query=query
        )
