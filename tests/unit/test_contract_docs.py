"""The partner contract under docs/ is what the code generates, byte for byte."""

import importlib
import json
from pathlib import Path
from typing import Any

from shared.events import PAYLOAD_TYPES
from symbiosis.contract_docs import generate

ROOT = Path(__file__).resolve().parents[2]


def test_committed_docs_match_the_code() -> None:
    stale = [
        str(path)
        for path, text in generate().items()
        if not (ROOT / path).exists() or (ROOT / path).read_text() != text
    ]
    assert not stale, f"docs/ is out of date; run `make docs` and commit: {stale}"


def test_every_event_type_is_in_the_asyncapi_document() -> None:
    document = json.loads((ROOT / "docs/events/asyncapi.json").read_text())
    assert document["asyncapi"].startswith("3.")
    titles = set(document["channels"])
    for payload in PAYLOAD_TYPES.values():
        assert f"{payload.topic.value}:{payload.event_type}" in titles
        schema = json.loads(
            (ROOT / f"docs/events/schemas/{payload.event_type}.v1.json").read_text()
        )
        assert schema["properties"]["type"]["const"] == payload.event_type


def _operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    found = []
    for path in sorted((ROOT / "docs/api").glob("*.openapi.json")):
        document = json.loads(path.read_text())
        for route, methods in document["paths"].items():
            for method, operation in methods.items():
                found.append((path.name, method, route, operation))
    return found


def test_every_operation_is_described() -> None:
    undescribed = [
        f"{method.upper()} {route}"
        for _, method, route, operation in _operations()
        if not operation.get("description", "").strip()
    ]
    assert not undescribed, f"add a docstring to: {undescribed}"


def test_every_request_body_has_examples_that_the_api_accepts() -> None:
    modules = [
        importlib.import_module(f"services.{s}.{m}" if s != "shared" else f"shared.{m}")
        for s, m in (
            ("listings", "api"),
            ("listings", "accounts"),
            ("listings", "partners"),
            ("matching", "park"),
            ("listings", "uncovering"),
            ("contracts", "negotiations"),
            ("contracts", "deliveries"),
            ("notifications", "webhooks"),
            ("notifications", "directory"),
            ("shared", "events"),
        )
    ]
    checked = 0
    for _, method, route, operation in _operations():
        body = operation.get("requestBody")
        if body is None:
            continue
        schema = body["content"]["application/json"]["schema"]
        examples = schema.get("examples")
        assert examples, f"{method.upper()} {route} has a request body without examples"
        name = schema["allOf"][0]["$ref"].rsplit("/", 1)[-1]
        model = next((getattr(m, name) for m in modules if hasattr(m, name)), None)
        assert model is not None, f"add the module of {name} to this test"
        for example in examples:
            model.model_validate(example)
            checked += 1
    assert checked >= 10
