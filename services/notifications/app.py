"""The notifications service's app factory."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.notifications import handlers
from services.notifications.api import InboxController
from services.notifications.live import listen
from shared.events import Topic
from shared.service import ServiceSpec, create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Litestar:
    spec = ServiceSpec(
        name="notifications",
        title="Viken Park exchange: notifications",
        description="Each company's inbox of what concerns it, page by page and live.",
        migrations=Path(__file__).parent / "migrations",
        route_handlers=[InboxController],
        produces=(Topic.NOTIFICATIONS,),
        consumes=(Topic.PROPOSALS, Topic.CONTRACTS),
        register_consumers=handlers.register,
        background=(listen,),
    )
    return create_service_app(spec, settings or Settings())
