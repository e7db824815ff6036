"""The matcher's reasons for a proposal, in the person's language.

The matching service writes each reason as an English sentence (in its events and API,
for developers and partners' systems). A person reads them here in bokmål or English:
each kind of sentence the matcher writes is recognised by its shape and written again
from the catalogue, with its numbers and codes. A sentence of a shape not known here is
shown as the matcher wrote it; tests/unit/test_portal_reasons.py fails when the matcher
writes one that is not known.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from services.portal.i18n import N_, _
from services.portal.vocabulary import word

Pattern = tuple[re.Pattern[str], str, Callable[[dict[str, str]], dict[str, str]] | None]


def _words(*names: str) -> Callable[[dict[str, str]], dict[str, str]]:
    """Put the named parts (code words: units, resource classes) into words."""

    def convert(parts: dict[str, str]) -> dict[str, str]:
        return {k: word(_resource(v)) if k in names else v for k, v in parts.items()}

    return convert


def _resource(value: str) -> str:
    return value.removeprefix("class:")


_BOUND_WORDS = (
    ("at least", N_("at least")),
    ("at most", N_("at most")),
    (" to ", N_(" to ")),
    (" and ", N_(" and ")),
)


def _bounds(parts: dict[str, str]) -> dict[str, str]:
    """``at least 5 and at most 45``, ``30 to 40``: the words between the numbers."""
    out = dict(parts)
    for key in ("stated", "bounds"):
        text = out[key]
        for english, message in _BOUND_WORDS:
            text = text.replace(english, _(message))
        out[key] = text
    return out


_NUMBER = r"-?[\d,]+(?:\.\d+)?"
_QUANTITY = r"[\d.]+ \S+"
_PATTERNS: tuple[Pattern, ...] = tuple(
    (re.compile(f"^{pattern}$"), message, convert)
    for pattern, message, convert in (
        (
            r"same List of Waste code (?P<code>\d{6})",
            N_("same List of Waste code %(code)s"),
            lambda parts: {"code": f"{parts['code'][:2]} {parts['code'][2:4]} {parts['code'][4:]}"},
        ),
        (
            r"same resource class (?P<kind>\S+)",
            N_("the same kind of resource: %(kind)s"),
            _words("kind"),
        ),
        (
            r"(?P<offer>\S+) serves a need for (?P<need>\S+) as (?P<use>.+) \((?P<basis>.+)\)",
            N_("%(offer)s serves a need for %(need)s as %(use)s (%(basis)s)"),
            _words("offer", "need"),
        ),
        (
            r"(?P<waste>.+) is hazardous; the receiver declared the permit to receive it",
            N_("%(waste)s is hazardous; the receiver has declared the permit to receive it"),
            None,
        ),
        (
            r"(?P<waste>.+) is hazardous; the receiver holds the permit to receive it",
            N_("%(waste)s is hazardous; the receiver holds the permit to receive it"),
            None,
        ),
        (
            rf"the offer of (?P<offered>{_QUANTITY}) covers (?P<covered>{_QUANTITY}) of the "
            rf"(?P<needed>{_QUANTITY}) needed",
            N_("the offer of %(offered)s covers %(covered)s of the %(needed)s needed"),
            None,
        ),
        (
            r"(?P<name>\S+) (?P<stated>.+?) (?P<unit>\S+) meets the need's (?P<bounds>.+) "
            r"(?P=unit)",
            N_("%(name)s %(stated)s %(unit)s meets the need's limit of %(bounds)s %(unit)s"),
            _bounds,
        ),
        (
            rf"the sites are (?P<km>{_NUMBER}) km apart",
            N_("the sites are %(km)s km apart"),
            None,
        ),
        (
            rf"prices leave (?P<gap>{_NUMBER}) NOK/(?P<unit>\S+) to share: (?P<total>{_NUMBER}) "
            rf"NOK in all, less (?P<haulage>{_NUMBER}) NOK haulage",
            N_(
                "the prices leave %(gap)s NOK per %(unit)s to share: %(total)s NOK in all, "
                "less %(haulage)s NOK for haulage"
            ),
            None,
        ),
        (
            rf"prices leave (?P<gap>{_NUMBER}) NOK/(?P<unit>\S+) to share: (?P<total>{_NUMBER}) "
            r"NOK in all",
            N_("the prices leave %(gap)s NOK per %(unit)s to share: %(total)s NOK in all"),
            None,
        ),
        (
            rf"prices are (?P<gap>{_NUMBER}) NOK/(?P<unit>\S+) apart: a deal needs one side "
            r"to move",
            N_("the prices are %(gap)s NOK per %(unit)s apart: a deal needs one side to move"),
            None,
        ),
        (
            rf"avoids about (?P<kg>{_NUMBER}) kg CO2e \((?P<factors>.*)\), (?P<net>{_NUMBER}) "
            r"kg net of road transport",
            N_(
                "avoids about %(kg)s kg CO2e (%(factors)s), %(net)s kg after the road "
                "transport's emissions"
            ),
            None,
        ),
        (
            rf"avoids about (?P<kg>{_NUMBER}) kg CO2e \((?P<factors>.*)\)",
            N_("avoids about %(kg)s kg CO2e (%(factors)s)"),
            None,
        ),
        (
            rf"part of the park-wide plan (?P<plan>\S+): (?P<planned>{_QUANTITY}) of the "
            rf"(?P<needed>{_QUANTITY}) needed, with (?P<others>\d+) other supplies",
            N_(
                "part of the park-wide plan: %(planned)s of the %(needed)s needed, with "
                "%(others)s other supplies"
            ),
            None,
        ),
        (
            rf"part of the park-wide plan (?P<plan>\S+): (?P<planned>{_QUANTITY}) of the "
            rf"(?P<needed>{_QUANTITY}) needed",
            N_("part of the park-wide plan: %(planned)s of the %(needed)s needed"),
            None,
        ),
        (
            r"the blend of the plan's supplies keeps the need's quality limits",
            N_("the blend of the plan's supplies keeps the need's quality limits"),
            None,
        ),
    )
)


def known(reason: str) -> bool:
    """Whether the portal knows this kind of reason."""
    return any(pattern.match(reason) for pattern, _message, _convert in _PATTERNS)


def in_words(reason: str) -> str:
    """The matcher's reason in the current language (as written, if of an unknown kind)."""
    for pattern, message, convert in _PATTERNS:
        found = pattern.match(reason)
        if found:
            parts = {k: v for k, v in found.groupdict().items() if v is not None}
            return _(message, **(convert(parts) if convert else parts))
    return reason
