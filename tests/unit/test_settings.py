"""Each process loads only its own settings: a service's class holds what it alone uses,
``symbiosis up`` hands each child only its own variables, and a setting given to the wrong
class is refused rather than ignored."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from services.contracts.config import ContractsSettings
from services.listings.config import ListingsSettings
from services.matching.config import MatchingSettings
from services.notifications.config import NotificationsSettings
from services.portal.config import PortalSettings
from shared.settings import SERVICES, ProcessSettings, Settings
from symbiosis.config import (
    SETTINGS_OF,
    GatewaySettings,
    StackSettings,
    environment_for,
    settings_reference,
    variables,
)

ENVIRONMENT = {
    "PATH": "/usr/bin",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
    "SYMBIOSIS_DATA_DIR": "/var/lib/symbiosis",
    "SYMBIOSIS_DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/symbiosis",
    "SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "SYMBIOSIS_STRIPE_API_KEY": "sk_test_only_for_contracts",
    "SYMBIOSIS_STRIPE_WEBHOOK_SECRET": "whsec_only_for_contracts",
    "SYMBIOSIS_SMTP_PASSWORD": "only-for-notifications",
    "SYMBIOSIS_PORTAL_SESSION_SECRET": "s" * 40,
    "SYMBIOSIS_AUTH_PRIVATE_KEY_FILE": "/keys/token-signing.pem",
    "SYMBIOSIS_FAILPOINTS": "email.after_smtp",
    "SYMBIOSIS_EMBEDDED_POSTGRES_PORT": "15432",
}


def test_the_stripe_keys_reach_contracts_alone() -> None:
    for process in SETTINGS_OF:
        env = environment_for(process, ENVIRONMENT)
        has_key = "SYMBIOSIS_STRIPE_API_KEY" in env
        assert has_key == (process == "contracts"), process
        assert ("SYMBIOSIS_STRIPE_WEBHOOK_SECRET" in env) == (process == "contracts"), process


def test_secrets_of_one_process_reach_no_other() -> None:
    owners = {
        "SYMBIOSIS_SMTP_PASSWORD": {"notifications"},
        "SYMBIOSIS_PORTAL_SESSION_SECRET": {"portal"},
        "SYMBIOSIS_AUTH_PRIVATE_KEY_FILE": {"listings", "keys"},
        "SYMBIOSIS_DATABASE_URL": {*SERVICES, "keys", "up", "kafka-setup"},
        "SYMBIOSIS_EMBEDDED_POSTGRES_PORT": {"up"},
    }
    for variable, readers in owners.items():
        given = {p for p in SETTINGS_OF if variable in environment_for(p, ENVIRONMENT)}
        assert given == readers, variable


def test_what_is_not_the_exchanges_passes_through() -> None:
    for process in SETTINGS_OF:
        env = environment_for(process, ENVIRONMENT)
        assert env["PATH"] == "/usr/bin"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
        assert env["SYMBIOSIS_FAILPOINTS"] == "email.after_smtp"  # the crash tests' switch
        assert env["SYMBIOSIS_DATA_DIR"] == "/var/lib/symbiosis"


def test_each_child_reads_its_whole_environment_as_its_own_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for process, cls in SETTINGS_OF.items():
        env = environment_for(process, ENVIRONMENT)
        for name in variables(cls):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = cls()
        assert str(settings.data_dir) == "/var/lib/symbiosis"
    assert ContractsSettings().stripe_api_key == SecretStr("sk_test_only_for_contracts")


def test_a_setting_given_to_a_class_that_does_not_read_it_is_refused() -> None:
    with pytest.raises(ValidationError, match="stripe_api_key"):
        NotificationsSettings(stripe_api_key="sk_test_x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="smtp_host"):
        Settings(smtp_host="127.0.0.1")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="database_url"):
        PortalSettings(database_url="postgresql://u:p@127.0.0.1/x")  # type: ignore[call-arg]


def test_no_setting_is_declared_twice() -> None:
    """A variable has one declaration: in the one class that reads it, or in a base that
    every reader shares."""
    declared: dict[str, str] = {}
    for cls in {*SETTINGS_OF.values(), ProcessSettings, Settings}:
        for name in cls.__annotations__:
            if name in cls.model_fields:
                owner = f"{cls.__module__}.{cls.__name__}"
                assert declared.setdefault(name, owner) == owner, (name, declared[name], owner)


def test_services_read_their_own_class_and_the_stack_all_it_starts() -> None:
    assert SETTINGS_OF["listings"] is ListingsSettings
    assert SETTINGS_OF["matching"] is MatchingSettings
    assert SETTINGS_OF["contracts"] is ContractsSettings
    assert SETTINGS_OF["notifications"] is NotificationsSettings
    assert SETTINGS_OF["portal"] is PortalSettings
    assert SETTINGS_OF["gateway"] is GatewaySettings
    assert "embedded_kafka_port" in StackSettings.model_fields
    assert "embedded_kafka_port" not in MatchingSettings.model_fields
    assert "stripe_api_key" not in StackSettings.model_fields


def test_the_reference_lists_every_variable_once() -> None:
    text = settings_reference()
    every = set().union(*(variables(cls) for cls in SETTINGS_OF.values()))
    for name in every:
        assert text.count(f"| `{name}` |") == 1, name


def test_forwarded_addresses_are_believed_only_from_the_proxies_in_front() -> None:
    # the gateway is the edge: by default it believes nobody's X-Forwarded-For
    assert GatewaySettings().forwarded_allow_ips(edge=True) is None
    # behind it, a service believes the gateway, which `up` runs on 127.0.0.1
    assert ListingsSettings().forwarded_allow_ips(edge=False) == "127.0.0.1"
    behind_ingress = GatewaySettings(trusted_proxies="10.42.0.0/16")
    assert behind_ingress.forwarded_allow_ips(edge=True) == "10.42.0.0/16"
    assert ListingsSettings(trusted_proxies="").forwarded_allow_ips(edge=False) is None
