"""The settings of the processes ``symbiosis`` runs: the gateway's, the embedded servers'
of ``symbiosis up``, and which class each child reads, so that ``up`` hands each child only
the variables of its own settings (the Stripe keys reach contracts alone, the SMTP password
notifications alone)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from services.contracts.config import ContractsSettings
from services.listings.config import ListingsSettings
from services.matching.config import MatchingSettings
from services.notifications.config import NotificationsSettings
from services.portal.config import PortalSettings
from shared.settings import ENV_PREFIX, PORTAL, ProcessSettings, Settings, UpstreamSettings

# Variables that are not settings but reach every child: the crash tests' failpoints.
PASSED_THROUGH = frozenset({f"{ENV_PREFIX}FAILPOINTS"})


class GatewaySettings(UpstreamSettings):
    """What only the gateway reads: where the portal is (the services are in ``service_urls``)."""

    portal_url: str | None = Field(
        default=None,
        description="Where the gateway finds the portal (http://portal:8000); default: the "
        "local port after the services'.",
    )

    @property
    def portal_upstream(self) -> str:
        return self.portal_url or f"http://127.0.0.1:{self.portal_port}"


class StackSettings(Settings):
    """What only ``symbiosis up`` reads: the ports of the servers it starts itself."""

    embedded_postgres_port: int = Field(
        default=15432, ge=1, le=65535, description="Port of the embedded PostgreSQL."
    )
    embedded_kafka_port: int = Field(
        default=19092, ge=1, le=65535, description="Port of the embedded Apache Kafka (127.0.0.1)."
    )
    embedded_kafka_controller_port: int = Field(
        default=19093,
        ge=1,
        le=65535,
        description="Port of the embedded broker's KRaft controller (internal, 127.0.0.1).",
    )
    embedded_kafka_jit: Literal["quick", "full"] = Field(
        default="quick",
        description="How the embedded broker's Java compiles: `quick`, C1 only and serial "
        "garbage collection, which starts it on about half the CPU (a start on a busy machine "
        "takes about half as long) for a broker that carries one park's traffic; `full`, the "
        "Java default (C2 and G1), as a production broker runs (the pipeline benchmark uses "
        "it).",
    )
    embedded_smtp_port: int = Field(
        default=12525,
        ge=1,
        le=65535,
        description="Port of the embedded mail sink (when no SMTP host is set).",
    )
    embedded_stripe_mock_port: int = Field(
        default=12111,
        ge=1,
        le=65535,
        description="Port of stripe-mock, which `symbiosis up` starts when no Stripe key is "
        "set and the stripe-mock binary is installed (`make stripe-mock`).",
    )


# Each process `symbiosis` runs, and the one class it reads its settings from.
SETTINGS_OF: dict[str, type[ProcessSettings]] = {
    "listings": ListingsSettings,
    "matching": MatchingSettings,
    "contracts": ContractsSettings,
    "notifications": NotificationsSettings,
    PORTAL: PortalSettings,
    "gateway": GatewaySettings,
    "up": StackSettings,
    "keys": ListingsSettings,  # `symbiosis keys` makes the listings service's signing keys
    "kafka-setup": Settings,
}


def variables(cls: type[ProcessSettings]) -> frozenset[str]:
    """The environment variables ``cls`` reads."""
    return frozenset(ENV_PREFIX + name.upper() for name in cls.model_fields)


def environment_for(process: str, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the exchange's variables that ``process`` does not read: a child of
    ``symbiosis up`` sees its own settings and secrets, and no other's."""
    own = variables(SETTINGS_OF[process]) | PASSED_THROUGH
    return {k: v for k, v in env.items() if not k.startswith(ENV_PREFIX) or k in own}


# The sections of docs/settings.md: what all share first, then each process's own.
_SECTIONS: tuple[tuple[str, type[ProcessSettings], type[ProcessSettings] | None], ...] = (
    ("Every process", ProcessSettings, None),
    ("The gateway and the portal (where the services are)", UpstreamSettings, ProcessSettings),
    ("Every service (listings, matching, contracts, notifications)", Settings, ProcessSettings),
    ("listings", ListingsSettings, Settings),
    ("matching", MatchingSettings, Settings),
    ("contracts", ContractsSettings, Settings),
    ("notifications", NotificationsSettings, Settings),
    ("portal", PortalSettings, UpstreamSettings),
    ("gateway", GatewaySettings, UpstreamSettings),
    ("`symbiosis up` (the embedded servers)", StackSettings, Settings),
)


def _default(cls: type[ProcessSettings], name: str) -> str:
    field = cls.model_fields[name]
    if field.default_factory is not None or field.default is None:
        return "unset"
    value = field.default
    return f"`{value}`" if not isinstance(value, bool) else f"`{str(value).lower()}`"


def settings_reference() -> str:
    """docs/settings.md: every variable, in the section of the processes that read it."""
    lines = [
        "# Settings",
        "",
        "Generated from the settings classes by `make docs`; do not edit. Every process reads "
        f"`{ENV_PREFIX}*` variables from its environment, and only those of its own class: a "
        "service's own section plus the shared ones above it. `symbiosis up` gives each child "
        "only its own (the Stripe keys reach contracts alone, the SMTP password notifications "
        "alone). A value set on a process that does not read it is ignored.",
    ]
    for title, cls, base in _SECTIONS:
        own = [n for n in cls.model_fields if base is None or n not in base.model_fields]
        lines += ["", f"## {title}", "", f"`{cls.__module__}.{cls.__name__}`", ""]
        lines += ["| Variable | Default | Meaning |", "|---|---|---|"]
        for name in own:
            description = (cls.model_fields[name].description or "").replace("|", "\\|")
            lines.append(
                f"| `{ENV_PREFIX}{name.upper()}` | {_default(cls, name)} | {description} |"
            )
    return "\n".join(lines) + "\n"
