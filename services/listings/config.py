"""The listings service's own settings: signing people's tokens and API keys, invitations,
listings that end soon, and where partners reach Kafka."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from shared.settings import Settings


class ListingsSettings(Settings):
    """What only the listings service reads."""

    auth_private_key_file: Path | None = Field(
        default=None,
        description="Ed25519 PEM that signs API keys and tokens (listings only).",
    )
    access_token_minutes: int = Field(
        default=60, ge=1, le=24 * 60, description="Lifetime of a person's access token."
    )
    invitation_hours: int = Field(
        default=72, ge=1, le=24 * 30, description="How long an invitation to a colleague holds."
    )
    listing_expiry_notice_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="An open listing whose window ends within this many days is announced "
        "to its company (`listing.expiring`), once.",
    )
    listing_expiry_check_seconds: float = Field(
        default=300,
        gt=0,
        description="How often the listings service looks for listings that end soon.",
    )
    kafka_partner_bootstrap_servers: str | None = Field(
        default=None,
        description="Where partners connect (their listener: SASL_SSL in compose); "
        "default: the services' bootstrap servers.",
    )
    kafka_partner_security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL"] | None = Field(
        default=None,
        description="How partners connect; default: as the services do.",
    )

    @property
    def private_key_path(self) -> Path:
        return self.auth_private_key_file or self.keys_dir / "token-signing.pem"

    @property
    def partner_bootstrap_servers(self) -> str:
        return self.kafka_partner_bootstrap_servers or self.require_kafka()

    @property
    def partner_security_protocol(self) -> Literal["SASL_PLAINTEXT", "SASL_SSL"]:
        if self.kafka_partner_security_protocol is not None:
            return self.kafka_partner_security_protocol
        return "SASL_SSL" if self.kafka_security_protocol == "SASL_SSL" else "SASL_PLAINTEXT"
