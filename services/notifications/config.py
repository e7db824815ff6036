"""The notifications service's own settings: the mail server (and its password, which no other
process loads), digests, and where webhooks may go."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import Settings


class NotificationsSettings(Settings):
    """What only the notifications service reads."""

    smtp_host: str | None = Field(
        default=None,
        description="Mail server for notification e-mails; unset: e-mails wait in their queue.",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="The mail server's port.")
    smtp_username: str | None = Field(default=None, description="User to sign in to it as.")
    smtp_password: SecretStr | None = Field(default=None, description="That user's password.")
    smtp_starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS.")
    smtp_sender: str = Field(
        default="Viken Park Symbiosis <noreply@vikenpark.example>",
        description="The From of notification e-mails.",
    )
    email_digest_hour: int = Field(
        default=7,
        ge=0,
        le=23,
        description="Hour (Europe/Oslo) at which daily digests are sent.",
    )
    webhook_allowed_hosts: str = Field(
        default="",
        description="Hosts and networks webhooks may go to besides public https addresses, "
        "comma-separated (`127.0.0.1, erp.park.lan, 10.20.0.0/16`), also over plain http: "
        "test receivers and on-premises systems. Empty: public https addresses only.",
    )
    webhook_max_endpoints: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Webhook endpoints one company (or one partner key) may register.",
    )
    webhook_max_in_flight: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="Webhook requests the notifications service has out at once, in all.",
    )
    webhook_max_in_flight_per_owner: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="Webhook requests out at once for one company's (or partner's) endpoints, "
        "so that slow endpoints delay only their owner; each endpoint has one at a time.",
    )
