"""The partner contract under docs/, generated from the code and never edited by hand.

- ``docs/events/asyncapi.json``: AsyncAPI 3.0 of every topic and event type, from FastStream;
- ``docs/events/schemas/<type>.v<version>.json``: JSON Schema of each event (envelope and
  payload), from pydantic;
- ``docs/api/<service>.openapi.json``: each service's OpenAPI document, from Litestar;
- ``docs/park.schema.json`` and ``docs/plan.schema.json``: the park file that
  ``symbiosis optimize`` reads and the plan it writes, from pydantic;
- ``docs/settings.md``: every setting, in the section of the processes that read it, from
  the settings classes (``symbiosis.config``);
- ``infra/kafka/server.properties``: docker-compose.yml's Kafka configuration, the
  embedded broker's with compose's listeners (``symbiosis.broker.server``).

``symbiosis docs`` writes them; a test fails when the committed files differ.
"""

from __future__ import annotations

import importlib
import json
import tempfile
from pathlib import Path
from typing import Any, Literal

from faststream.kafka import KafkaBroker
from faststream.security import SASLScram512
from faststream.specification import AsyncAPI
from pydantic import BaseModel, Field, create_model

from services.listings.config import ListingsSettings
from shared.auth import ensure_signing_keys
from shared.events import PARTNER_FEED, PAYLOAD_TYPES, Envelope, Payload, Topic
from shared.settings import SERVICES
from symbiosis.broker.server import compose_properties
from symbiosis.config import SETTINGS_OF, settings_reference

DOCS = Path("docs")


def typed_envelope(payload: type[Payload]) -> type[BaseModel]:
    """The envelope of one event type, with its payload's schema under ``data``."""
    name = "".join(part.title() for part in payload.event_type.replace(".", "_").split("_"))
    model: type[BaseModel] = create_model(
        f"{name}Event",
        __base__=Envelope,
        __doc__=f"{payload.__doc__} (CloudEvents 1.0, structured mode.)",
        type=(Literal[payload.event_type], Field(description="The event type.")),  # type: ignore[arg-type]
        schemaversion=(Literal[payload.schema_version], Field(description="Payload version.")),  # type: ignore[arg-type]
        data=(payload, Field(description=payload.__doc__ or "")),
    )
    return model


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def asyncapi() -> dict[str, Any]:
    broker = KafkaBroker(
        "kafka:9092",
        description=(
            "The exchange's Kafka cluster. Every client signs in with SASL/SCRAM-SHA-512 as a "
            "principal of its own; ACLs allow each service its topics and groups, and a "
            "partner (credentials from a park administrator, docs/partners.md) reads only "
            f"`{Topic.PARTNERS.value}`, in consumer groups named `<username>.`..."
        ),
        security=SASLScram512(username="<principal>", password="<password>"),  # noqa: S106
    )
    for payload in PAYLOAD_TYPES.values():
        broker.publisher(
            payload.topic.value,
            title=f"{payload.topic.value}:{payload.event_type}",
            description=(
                f"`{payload.event_type}`: {payload.__doc__} Key: the event's subject. "
                f"Undecodable messages go to `{payload.topic.dead_letter}`."
            ),
            schema=typed_envelope(payload),
        )
    for payload in PARTNER_FEED:
        broker.publisher(
            Topic.PARTNERS.value,
            title=f"{Topic.PARTNERS.value}:{payload.event_type}",
            description=(
                f"`{payload.event_type}` for partners: as on `{payload.topic.value}`, with "
                "what partners may not see left out (docs/partners.md). Key: the subject."
            ),
            schema=typed_envelope(payload),
        )
    spec = AsyncAPI(
        broker,
        title="Viken Park symbiosis exchange: events",
        version="1",
        description=(
            "Every message is a CloudEvents 1.0 JSON object in structured mode "
            "(content-type application/cloudevents+json). Within a topic version, payloads "
            "only gain optional fields."
        ),
        schema_version="3.0.0",
    )
    document: dict[str, Any] = json.loads(spec.to_specification().to_json())
    return document


def event_schemas() -> dict[str, dict[str, Any]]:
    return {
        f"{payload.event_type}.v{payload.schema_version}.json": typed_envelope(
            payload
        ).model_json_schema()
        for payload in PAYLOAD_TYPES.values()
    }


def openapi_documents() -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as keys_dir:
        ensure_signing_keys(ListingsSettings(data_dir=Path(keys_dir)))
        documents = {}
        for name in SERVICES:
            module = importlib.import_module(f"services.{name}.app")
            app = module.create_app(SETTINGS_OF[name](data_dir=Path(keys_dir)))
            documents[name] = app.openapi_schema.to_schema()
    return documents


def generate() -> dict[Path, str]:
    """Every generated file, by path relative to the repository root."""
    files = {DOCS / "events" / "asyncapi.json": _dump(asyncapi())}
    for name, schema in event_schemas().items():
        files[DOCS / "events" / "schemas" / name] = _dump(schema)
    for name, document in openapi_documents().items():
        files[DOCS / "api" / f"{name}.openapi.json"] = _dump(document)
    from services.matching.park import Park, PlanReport

    files[DOCS / "park.schema.json"] = _dump(Park.model_json_schema())
    files[DOCS / "plan.schema.json"] = _dump(PlanReport.model_json_schema(mode="serialization"))
    files[Path("infra") / "kafka" / "server.properties"] = compose_properties()
    files[DOCS / "settings.md"] = settings_reference()
    return files
