"""The words of the papers in Norwegian bokmål and English: ``T(key, language)``. A key is
the English text, or a name (``fee-note``, ``unit:t``, ``figure:...``) whose English is
given here too."""

from __future__ import annotations

_NB: dict[str, str] = {
    "Viken Park symbiosis exchange": "Viken Park symbiosebørs",
    "Invoice": "Faktura",
    "Credit note": "Kreditnota",
    "Seller": "Selger",
    "Buyer": "Kjøper",
    "Org. no.": "Org.nr.",
    "(not known)": "(ikke kjent)",
    "Invoice number": "Fakturanummer",
    "Invoice date": "Fakturadato",
    "Delivery date": "Leveringsdato",
    "Due date": "Forfallsdato",
    "Contract": "Avtale",
    "What was delivered": "Hva som er levert",
    "Receiving": "Mottak av",
    "Description": "Beskrivelse",
    "Quantity": "Mengde",
    "Unit price": "Enhetspris",
    "MVA": "MVA",
    "Amount": "Beløp",
    "Total excl. MVA": "Sum ekskl. MVA",
    "Total to pay": "Å betale",
    "The seller is not registered for MVA; no MVA is charged.": (
        "Selger er ikke registrert i Merverdiavgiftsregisteret; det beregnes ikke MVA."
    ),
    "Payment": "Betaling",
    "Account number": "Kontonummer",
    "Or pay by card or bank transfer on the payment page Stripe sends.": (
        "Eller betal med kort eller bankoverføring på betalingssiden Stripe sender."
    ),
    "The platform fee": "Plattformgebyret",
    "Credit note number": "Kreditnotanummer",
    "Date": "Dato",
    "Credits invoice": "Krediterer faktura",
    "Reason": "Årsak",
    "Credited": "Kreditert",
    "Total credited": "Sum kreditert",
    "Nothing is owed on the credited invoice.": (
        "Det skyldes ingenting på den krediterte fakturaen."
    ),
    "Delivery note": "Følgeseddel",
    "Supplier (sender)": "Leverandør (avsender)",
    "Receiver": "Mottaker",
    "Delivery": "Levering",
    "Delivered on": "Levert",
    "Resource": "Ressurs",
    "Waste code": "Avfallskode",
    "Measured by": "Målt med",
    "Weighbridge ticket": "Veieseddel",
    "Note": "Merknad",
    "Carrier": "Transportør",
    "Transport by": "Transport ved",
    "Status": "Status",
    "supplier": "leverandør",
    "receiver": "mottaker",
    "recorded": "registrert",
    "confirmed": "bekreftet",
    "disputed": "bestridt",
    "Hazardous waste: see the declaration of this delivery.": (
        "Farlig avfall: se deklarasjonen for denne leveringen."
    ),
    "Signature, receiver: ______________________": "Signatur, mottaker: ______________________",
    "Declaration of hazardous waste": "Deklarasjon av farlig avfall",
    "The waste": "Avfallet",
    "Waste code (EAL)": "Avfallskode (EAL)",
    "Waste substance number": "Avfallsstoffnummer",
    "Hazardous properties": "Farlige egenskaper",
    "UN number": "UN-nummer",
    "Packaging": "Emballasje",
    "Producer (waste holder)": "Avfallsprodusent (avfallsbesitter)",
    "Name": "Navn",
    "Address": "Adresse",
    "Permit for this waste": "Tillatelse for dette avfallet",
    "yes": "ja",
    "no": "nei",
    "Impact report": "Rapport om effekt",
    "Period": "Periode",
    "Deliveries": "Leveranser",
    "CO2e not estimated for": "CO2e ikke beregnet for",
    "Figures": "Tall",
    "Figure": "Tall",
    "Value": "Verdi",
    "Unit": "Enhet",
    "Goals Viken Park reports on": "Mål Viken Park rapporterer på",
    "Factors and sources": "Faktorer og kilder",
    "Basis": "Grunnlag",
}

_NAMED: dict[str, tuple[str, str]] = {
    "fee-note": (
        "Viken Parks plattformgebyr på {fee} (av {net} eks. MVA) belastes selger og trekkes fra "
        "utbetalingen til selger. Det er ikke en del av beløpet du betaler.",
        "Viken Park's platform fee of {fee} (on {net} excl. MVA) is charged to the seller and "
        "taken from the seller's payout. It is not part of what you pay.",
    ),
    "declaration-basis": (
        "Opplysninger for deklarasjon av farlig avfall etter avfallsforskriften kapittel 11, "
        "til innlevering av mottaker (avfallsdeklarering.no). Også som JSON fra børsens API.",
        "The data of the declaration of hazardous waste under the Norwegian Waste Regulations, "
        "chapter 11, for the receiver to file (avfallsdeklarering.no); also as JSON from the "
        "exchange's API.",
    ),
    "unit:t": ("tonn", "t"),
    "unit:kg": ("kg", "kg"),
    "unit:m3": ("m3", "m3"),
    "unit:MWh": ("MWh", "MWh"),
    "unit:kWh": ("kWh", "kWh"),
    "unit:pieces": ("stk.", "pieces"),
    "measurement:weighbridge": ("brovekt", "weighbridge"),
    "measurement:meter": ("måler", "meter"),
    "measurement:volume": ("volum", "volume"),
    "measurement:count": ("telling", "count"),
    "measurement:estimate": ("anslag", "estimate"),
    "figure:supplied_tonnes": ("Levert (tonn)", "Supplied (tonnes)"),
    "figure:received_tonnes": ("Mottatt (tonn)", "Received (tonnes)"),
    "figure:earned_nok": ("Inntekt (kr eks. MVA)", "Earned (NOK excl. MVA)"),
    "figure:paid_nok": ("Betalt (kr eks. MVA)", "Paid (NOK excl. MVA)"),
    "figure:saved_nok": (
        "Spart mot egen oppgitt pris (kr)",
        "Saved against own listed price (NOK)",
    ),
    "figure:tonnes_diverted": ("Tonn holdt unna sluttbehandling", "Tonnes kept out of disposal"),
    "figure:virgin_material_tonnes": (
        "Jomfruelig materiale erstattet (tonn)",
        "Virgin material replaced (tonnes)",
    ),
    "figure:water_m3": ("Vann gjenbrukt (m3)", "Water reused (m3)"),
    "figure:energy_mwh": ("Energi gjenvunnet (MWh)", "Energy recovered (MWh)"),
    "figure:co2e_avoided_kg": ("CO2e unngått (kg)", "CO2e avoided (kg)"),
    "figure:transport_kg_co2e": ("Transport (kg CO2e)", "Transport (kg CO2e)"),
    "figure:co2e_net_kg": (
        "CO2e unngått netto etter transport (kg)",
        "CO2e avoided net of transport (kg)",
    ),
}


def T(key: str, language: str) -> str:
    """``key`` in ``language`` (``nb`` or ``en``)."""
    if key in _NAMED:
        nb, en = _NAMED[key]
        return nb if language == "nb" else en
    if language == "nb":
        return _NB.get(key, key)
    return key
