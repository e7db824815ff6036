"""The partner contract under docs/ is what the code generates, byte for byte."""

import json
from pathlib import Path

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
