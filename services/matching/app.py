"""The matching service's app factory."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.matching import handlers
from services.matching.api import ExplanationController, ProposalController
from services.matching.config import MatchingSettings
from services.matching.optimisations import OptimisationController
from shared.service import ServiceSpec, create_service_app


def create_app(settings: MatchingSettings | None = None) -> Litestar:
    spec = ServiceSpec(
        name="matching",
        title="Viken Park exchange: matching",
        description="Proposes trades between open offers and needs, and optimises the park.",
        migrations=Path(__file__).parent / "migrations",
        route_handlers=[ProposalController, ExplanationController, OptimisationController],
        register_consumers=handlers.register,
        background=(handlers.expire_periodically, handlers.rekey_on_start),
    )
    return create_service_app(spec, settings or MatchingSettings())
