"""A company's likely by-products and needs from its NACE codes, as the API shows them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shared import knowledge, uncovering
from shared.ewc import catalogue
from shared.resources import RESOURCE_CLASSES


class SuggestionView(BaseModel):
    """A listing a company of these NACE activities would likely post."""

    kind: Literal["offer", "need"]
    nace: str = Field(description="The NACE activity it comes from.")
    activity: str
    resource: str | None = Field(description="For an offer: the likely by-product.")
    use: str | None = Field(description="For a need: what it is likely needed for.")
    label: str
    label_nb: str
    basis: str = Field(description="Why the knowledge base expects it.")


def label_of(resource: str | None, use: str | None) -> tuple[str, str]:
    if use is not None:
        name = knowledge.use_names().get(use)
        return (name.label, name.label_nb) if name else (use, use)
    assert resource is not None
    if resource.startswith("class:"):
        kind = RESOURCE_CLASSES[resource.removeprefix("class:")]
        return kind.label, kind.label_nb or kind.label
    entry = catalogue().get(resource)
    if entry is None:
        return resource, resource
    return entry.description, entry.description_nb


def suggestion_views(nace_codes: list[str]) -> list[SuggestionView]:
    found = []
    for s in uncovering.suggestions(nace_codes):
        label, label_nb = label_of(s.resource, s.use)
        activity = knowledge.nace().get(s.nace)
        found.append(
            SuggestionView(
                kind="offer" if s.kind == "offer" else "need",
                nace=s.nace,
                activity=activity.name if activity else s.nace,
                resource=s.resource,
                use=s.use,
                label=label,
                label_nb=label_nb,
                basis=s.basis,
            )
        )
    return found
