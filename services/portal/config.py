"""The portal's own settings: the key of its session cookie, and where the services' APIs are.
The portal has no database and no Kafka client."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from shared.settings import UpstreamSettings


class PortalSettings(UpstreamSettings):
    """What only the portal reads."""

    portal_session_secret: SecretStr | None = Field(
        default=None,
        description="Key (at least 32 characters) that encrypts the portal's session cookie; "
        "unset: a random key kept in <data_dir>/keys/portal-session.key.",
    )

    @property
    def portal_session_key_path(self) -> Path:
        return self.keys_dir / "portal-session.key"
