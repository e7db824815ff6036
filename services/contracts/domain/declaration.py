"""The declaration of hazardous waste (deklarasjon av farlig avfall, avfallsforskriften
kapittel 11): what a delivery of hazardous waste carries so that the receiver can file it.

The waste code and quantity come from the contract and the delivery, producer and receiver
from the parties; the supplier gives the rest when recording the delivery: the Norwegian
waste substance number (avfallsstoffnummer), a description, the hazardous properties
(HP 1-15 of Regulation (EU) No 1357/2014), the UN number for transport where ADR applies,
and the carrier."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from services.contracts.domain.invoice import Party
from shared.refusals import Refusal

HAZARDOUS_PROPERTIES: dict[str, tuple[str, str]] = {
    "HP1": ("Eksplosiv", "Explosive"),
    "HP2": ("Oksiderende", "Oxidising"),
    "HP3": ("Brannfarlig", "Flammable"),
    "HP4": ("Irriterende", "Irritant"),
    "HP5": ("Spesifikk målorgan-toksisitet / aspirasjonsfare", "STOT / aspiration toxicity"),
    "HP6": ("Akutt giftig", "Acute toxicity"),
    "HP7": ("Kreftfremkallende", "Carcinogenic"),
    "HP8": ("Etsende", "Corrosive"),
    "HP9": ("Smittefarlig", "Infectious"),
    "HP10": ("Reproduksjonstoksisk", "Toxic for reproduction"),
    "HP11": ("Mutagen", "Mutagenic"),
    "HP12": ("Avgir akutt giftig gass", "Release of an acute toxic gas"),
    "HP13": ("Sensibiliserende", "Sensitising"),
    "HP14": ("Økotoksisk", "Ecotoxic"),
    "HP15": (
        "Kan gi farlige egenskaper den ikke har direkte",
        "Yields a hazardous property not displayed directly",
    ),
}

_WASTE_NUMBER = re.compile(r"^7\d{3}$")
_UN_NUMBER = re.compile(r"^(UN)?\d{4}$")


@dataclass(frozen=True)
class Declaration:
    """What the supplier declares for a delivery of hazardous waste."""

    waste_number: str
    description: str
    properties: tuple[str, ...]
    un_number: str | None = None
    packaging: str | None = None

    @classmethod
    def checked(
        cls,
        waste_number: str,
        description: str,
        properties: list[str],
        un_number: str | None = None,
        packaging: str | None = None,
    ) -> Declaration:
        """The declaration, or ValueError naming what is wrong."""
        number = waste_number.strip()
        if not _WASTE_NUMBER.match(number):
            raise Refusal(
                "declaration.waste_number_invalid",
                f"{waste_number!r} is not a waste substance number (avfallsstoffnummer: four "
                "digits from 7000, e.g. 7042 for organic solvents)",
                field="waste_number",
                value=waste_number,
            )
        if len(description.strip()) < 3:
            raise Refusal(
                "declaration.description_short",
                "describe the waste in a few words",
                field="description",
            )
        codes = sorted({p.strip().upper().replace(" ", "") for p in properties}, key=_hp_order)
        unknown = [c for c in codes if c not in HAZARDOUS_PROPERTIES]
        if unknown or not codes:
            raise Refusal(
                "declaration.properties_invalid",
                "name the waste's hazardous properties as HP1 to HP15"
                + (f" (not {', '.join(unknown)})" if unknown else ""),
                field="properties",
                unknown=unknown,
            )
        un = None
        if un_number:
            un = un_number.strip().upper().replace(" ", "")
            if not _UN_NUMBER.match(un):
                raise Refusal(
                    "declaration.un_number_invalid",
                    f"{un_number!r} is not a UN number (four digits, e.g. UN 1263)",
                    field="un_number",
                    value=un_number,
                )
            un = un.removeprefix("UN")
        return cls(number, description.strip(), tuple(codes), un, (packaging or "").strip() or None)

    def as_json(self) -> dict[str, Any]:
        return {
            "waste_number": self.waste_number,
            "description": self.description,
            "properties": list(self.properties),
            "un_number": self.un_number,
            "packaging": self.packaging,
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> Declaration:
        return cls(
            data["waste_number"],
            data["description"],
            tuple(data["properties"]),
            data.get("un_number"),
            data.get("packaging"),
        )

    @staticmethod
    def problem_with(data: dict[str, Any] | None) -> str | None:
        """Why a stored declaration is not enough to confirm the delivery, or None."""
        if not data:
            return "no declaration was recorded with the delivery"
        try:
            Declaration.checked(
                data.get("waste_number", ""),
                data.get("description", ""),
                list(data.get("properties") or []),
                data.get("un_number"),
            )
        except ValueError as exc:
            return str(exc)
        return None


def _hp_order(code: str) -> tuple[int, str]:
    digits = code.removeprefix("HP")
    return (int(digits), code) if digits.isdigit() else (99, code)


def permit_verified(receiver: Party | None, ewc_code: str) -> bool:
    """Whether the receiver may take this hazardous waste: the listings service tells us
    (``company.details_changed``) the codes of the company's permit while the park has
    verified it and it has not run out."""
    return receiver is not None and ewc_code in receiver.permits
