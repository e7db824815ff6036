"""The impact ledger: what each confirmed delivery did for the park, with the factors.

One row per delivery, for the exchange between the two companies, never one per party:
park totals are sums of deliveries, so nothing is counted twice. See docs/impact.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.contracts.domain.contract import Contract, Delivery
from services.contracts.storage import invoices as invoice_store
from shared import knowledge
from shared.db import Connection
from shared.units import convert, dimension

WATER = {"class:process_water", "class:treated_wastewater"}
ENERGY = {"class:heat", "class:steam", "class:cold"}


def _factor(key: str) -> dict[str, Any]:
    factor = knowledge.emission_factors()[key]
    return {
        "key": key,
        "value": str(factor.value),
        "unit": factor.unit,
        "source": factor.source,
        "year": factor.year,
    }


async def record(conn: Connection, contract: Contract, delivery: Delivery) -> None:
    unit = contract.unit
    quantity = convert(delivery.quantity, delivery.unit, unit)
    assert quantity is not None
    resource = contract.ewc_code or f"class:{contract.resource_class}"
    mass = dimension(unit) == "mass"
    tonnes = convert(quantity, unit, "t") if mass else None
    water = convert(quantity, unit, "m3") if resource in WATER else None
    energy = convert(quantity, unit, "MWh") if resource in ENERGY else None
    value = contract.value or {}
    # the use the matcher matched the pair for decides which impact row holds
    avoided = knowledge.avoided(resource, quantity, unit, value.get("use"))
    factors = [_factor(key) for key in avoided.factors]
    basis = [avoided.basis]
    distance = value.get("distance_km")
    transport = None
    if value.get("transport_mode") == "pipe":
        basis.append("moved by pipe: no road transport (pumping energy not estimated)")
    elif tonnes is not None and distance is not None:
        per_tkm = sum(knowledge.emission_factors()[k].value for k in knowledge.TRANSPORT_FACTORS)
        transport = tonnes * Decimal(str(distance)) * per_tkm
        factors += [_factor(key) for key in knowledge.TRANSPORT_FACTORS]
        basis.append(f"road transport over {distance} km straight line (DESNZ, well-to-wheel)")
    price = contract.price_per_unit_ore
    amount = int((quantity * price).to_integral_value())
    # each side's gain against its own listed price, converted to the contract's unit
    proposal_unit = await invoice_store.proposal_unit(conn, contract.negotiation_id)
    per = convert(Decimal(1), unit, proposal_unit) if proposal_unit else None
    ask, bid = value.get("offer_price_ore_per_unit"), value.get("need_price_ore_per_unit")
    supplier_gain = receiver_gain = None
    if per is not None and ask is not None:
        supplier_gain = int(((price - Decimal(str(ask)) * per) * quantity).to_integral_value())
    if per is not None and bid is not None:
        receiver_gain = int(((Decimal(str(bid)) * per - price) * quantity).to_integral_value())
    await invoice_store.add_impact_entry(
        conn,
        invoice_store.ImpactEntry(
            delivery_id=delivery.id,
            contract_id=contract.id,
            supplier_company_id=contract.supplier_company_id,
            receiver_company_id=contract.receiver_company_id,
            resource=resource,
            delivered_on=delivery.delivered_on,
            quantity=quantity,
            unit=unit,
            tonnes_diverted=tonnes if contract.ewc_code else None,
            water_m3=water,
            energy_mwh=energy,
            co2e_avoided_kg=None if avoided.kg is None else Decimal(str(round(avoided.kg, 3))),
            transport_kg_co2e=None if transport is None else round(transport, 3),
            amount_ore=amount,
            supplier_gain_ore=supplier_gain,
            receiver_gain_ore=receiver_gain,
            factors=factors,
            basis=" ".join(basis),
        ),
    )
