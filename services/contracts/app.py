"""The contracts service's app factory."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.contracts import handlers
from services.contracts.api import ProposalController
from services.contracts.billing import invoice_periodically
from services.contracts.config import ContractsSettings
from services.contracts.deliveries import ContractController, DeliveryController
from services.contracts.invoices import InvoiceController
from services.contracts.negotiations import NegotiationController, expire_periodically
from services.contracts.reports import ReportController
from services.contracts.statistics import StatisticsController
from services.contracts.storage import invoices
from services.contracts.webhooks import StripeWebhookController
from shared.service import ServiceSpec, create_service_app


def create_app(settings: ContractsSettings | None = None) -> Litestar:
    spec = ServiceSpec(
        name="contracts",
        title="Viken Park exchange: contracts",
        description="Negotiations, contracts, deliveries, invoices and the impact ledger.",
        migrations=Path(__file__).parent / "migrations",
        route_handlers=[
            ProposalController,
            NegotiationController,
            ContractController,
            DeliveryController,
            InvoiceController,
            StatisticsController,
            ReportController,
            StripeWebhookController,
        ],
        register_consumers=handlers.register,
        background=(expire_periodically, invoice_periodically),
        queues=invoices.stripe_queue,
    )
    return create_service_app(spec, settings or ContractsSettings())
