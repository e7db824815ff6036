"""The contracts service's own settings: negotiations' expiry, the platform fee, and Stripe's
keys (which no other process loads)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import Settings


class ContractsSettings(Settings):
    """What only the contracts service reads."""

    negotiation_expiry_hours: float = Field(
        default=14 * 24,
        gt=0,
        description="A negotiation nobody answers for this long expires.",
    )
    platform_fee_percent: float = Field(
        default=2.0,
        ge=0,
        le=50,
        description="The park operator's fee on each invoice, in percent of the amount before "
        "MVA, taken as a Stripe Connect application fee.",
    )
    stripe_api_key: SecretStr | None = Field(
        default=None,
        description="Stripe secret key (`sk_test_...` for stripe-mock or test mode); unset: "
        "confirmed deliveries wait in the invoice queue until it is set.",
    )
    stripe_api_base: str | None = Field(
        default=None,
        description="Stripe API base URL; set to stripe-mock's (http://127.0.0.1:12111) to "
        "talk to the mock. Default: Stripe itself.",
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signing secret (`whsec_...`) of the Stripe webhook endpoint; unset: "
        "webhooks are refused.",
    )
