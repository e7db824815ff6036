"""The contracts service's app factory."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.contracts import handlers
from services.contracts.api import ProposalController
from shared.events import Topic
from shared.service import ServiceSpec, create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Litestar:
    spec = ServiceSpec(
        name="contracts",
        title="Viken Park exchange: contracts",
        description="Records proposed trades; negotiation, contracts and invoices follow.",
        migrations=Path(__file__).parent / "migrations",
        route_handlers=[ProposalController],
        produces=(Topic.CONTRACTS,),
        consumes=(Topic.PROPOSALS,),
        register_consumers=handlers.register,
    )
    return create_service_app(spec, settings or Settings())
