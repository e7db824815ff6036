"""The services' code words (statuses, roles, kinds, units) as words a person reads."""

from __future__ import annotations

from services.portal.i18n import N_, _

WORDS: dict[str, str] = {
    # roles and people
    "member": N_("member"),
    "admin": N_("admin"),
    "park_admin": N_("park administrator"),
    "partner": N_("partner"),
    "invited": N_("invited"),
    "active": N_("active"),
    "disabled": N_("disabled"),
    # listings
    "offer": N_("offer"),
    "need": N_("need"),
    "draft": N_("draft"),
    "open": N_("open"),
    "reserved": N_("reserved"),
    "closed": N_("closed"),
    "withdrawn": N_("withdrawn"),
    "once": N_("once"),
    "weekly": N_("weekly"),
    "monthly": N_("monthly"),
    "yearly": N_("yearly"),
    "supplier": N_("supplier"),
    "receiver": N_("receiver"),
    "either": N_("either party"),
    "exchange": N_("the exchange"),
    # resources that are not waste (shared/resources.py)
    "heat": N_("Heat (hot water or air)"),
    "steam": N_("Steam"),
    "cold": N_("Cooling"),
    "process_water": N_("Process or cooling water"),
    "treated_wastewater": N_("Treated wastewater"),
    "co2": N_("Carbon dioxide"),
    "by_product": N_("Non-waste by-product"),
    "capacity": N_("Spare capacity (storage, equipment, logistics)"),
    # units
    "t": N_("tonnes"),
    "kg": N_("kg"),
    "m3": N_("m³"),
    "MWh": N_("MWh"),
    "kWh": N_("kWh"),
    "pieces": N_("pieces"),
    # negotiations and contracts
    "agreed": N_("agreed"),
    "declined": N_("declined"),
    "expired": N_("expired"),
    "superseded": N_("superseded"),
    "proposed": N_("proposed"),
    "countered": N_("countered"),
    "accepted": N_("accepted"),
    "completed": N_("completed"),
    "cancelled": N_("cancelled"),
    "recorded": N_("recorded, awaiting confirmation"),
    "confirmed": N_("confirmed"),
    "disputed": N_("disputed"),
    "matcher": N_("the matcher"),
    "optimiser": N_("the park-wide plan"),
    # invoices
    "queued": N_("being issued"),
    "issued": N_("issued, awaiting payment"),
    "paid": N_("paid"),
    "payment_failed": N_("payment failed"),
    "void": N_("void"),
    "waiting": N_("waiting for company details"),
    "credited": N_("credited"),
    "not_needed": N_("nothing to do at Stripe"),
    "reduced": N_("cut to what remains"),
    # how a delivery was measured
    "weighbridge": N_("weighbridge"),
    "meter": N_("meter"),
    "volume": N_("volume"),
    "count": N_("count"),
    "estimate": N_("estimate"),
}


def word(value: object) -> str:
    """A code word in the person's language; an unknown one as it is."""
    text = str(value)
    return _(WORDS[text]) if text in WORDS else text
