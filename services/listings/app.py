"""The listings service's app factory."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar
from litestar.di import Provide

from services.listings import handlers
from services.listings.accounts import (
    ApiKeyController,
    AuditController,
    AuthController,
    CompanyController,
    PartnerKeyController,
    PeopleController,
    PermitController,
    announce_companies,
)
from services.listings.api import ListingController
from services.listings.config import ListingsSettings
from services.listings.expiry import announce_periodically
from services.listings.partners import PartnerCredentialController
from services.listings.uncovering import ParkController, ResourceController, SuggestionController
from shared.auth import load_private_key
from shared.service import ServiceSpec, create_service_app


def create_app(settings: ListingsSettings | None = None) -> Litestar:
    settings = settings or ListingsSettings()
    signing_key = load_private_key(settings.private_key_path)
    spec = ServiceSpec(
        name="listings",
        title="Viken Park exchange: listings",
        description=(
            "Companies register and manage their people and API keys; people sign in; "
            "companies post offers and needs."
        ),
        migrations=Path(__file__).parent / "migrations",
        route_handlers=[
            CompanyController,
            AuthController,
            PeopleController,
            ApiKeyController,
            PartnerKeyController,
            PartnerCredentialController,
            AuditController,
            PermitController,
            ListingController,
            ResourceController,
            SuggestionController,
            ParkController,
        ],
        register_consumers=handlers.register,
        background=(announce_periodically, announce_companies),
        dependencies={"signing_key": Provide(lambda: signing_key, sync_to_thread=False)},
    )
    return create_service_app(spec, settings)
