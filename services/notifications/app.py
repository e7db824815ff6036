"""The notifications service's app factory."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.notifications import handlers
from services.notifications.api import InboxController
from services.notifications.config import NotificationsSettings
from services.notifications.directory import PreferencesController
from services.notifications.email import email_periodically
from services.notifications.live import listen
from services.notifications.storage import queues
from services.notifications.webhook_delivery import deliver_periodically
from services.notifications.webhooks import WebhookEndpointController
from shared.service import ServiceSpec, create_service_app


def create_app(settings: NotificationsSettings | None = None) -> Litestar:
    spec = ServiceSpec(
        name="notifications",
        title="Viken Park exchange: notifications",
        description="Each company's inbox of what concerns it, page by page and live; "
        "e-mails to its people in their language, as they prefer; webhooks to companies' and "
        "partners' endpoints, signed, retried and logged.",
        migrations=Path(__file__).parent / "migrations",
        route_handlers=[InboxController, PreferencesController, WebhookEndpointController],
        register_consumers=handlers.register,
        background=(listen, deliver_periodically, email_periodically),
        queues=queues.depths,
    )
    return create_service_app(spec, settings or NotificationsSettings())
