"""Every event survives JSON and its schema only changes on purpose.

To accept a deliberate schema change: `UPDATE_SNAPSHOTS=1 pytest shared/tests/test_event_contracts.py`.
"""

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared import topics
from shared.events import ALL_EVENTS, Event, UtmEvent

SNAPSHOT = Path(__file__).parent / "snapshots" / "event_schemas.json"


def _example(model: type[Any]) -> dict[str, Any]:
    """A minimal valid payload built from the schema's examples or simple values per type."""
    schema = model.model_json_schema()
    return _fill(schema, schema)


def _fill(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _fill(root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root)
    if "const" in schema:
        return schema["const"]
    if "examples" in schema:
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return _fill(schema["anyOf"][0], root)
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        return {
            name: _fill(prop, root)
            for name, prop in schema["properties"].items()
            if name in schema.get("required", []) or "default" not in prop
        }
    if kind == "object":
        return {}
    if kind == "array":
        return [_fill(schema["items"], root)] if schema.get("minItems", 0) else []
    if schema.get("format") == "date-time":
        return "2026-11-25T09:30:00Z"
    if schema.get("format") == "uuid":
        return "1c7e3a52-8f0e-4c3a-9d55-2f6f0a8b1e11"
    return {"string": "x", "integer": schema.get("minimum", 1), "number": 1.5, "boolean": True}[kind]


@pytest.mark.parametrize("model", [*ALL_EVENTS, UtmEvent], ids=lambda m: m.__name__)
def test_event_round_trips_through_json(model: type[Any]) -> None:
    event = model.model_validate(_example(model))
    again = model.model_validate_json(event.model_dump_json())
    assert again == event


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: m.__name__)
def test_event_names_its_topic(model: type[Event]) -> None:
    assert model.TOPIC in topics.ALL_TOPICS
    assert model.model_fields["event_type"].default == model.TOPIC


def test_unknown_fields_are_ignored_and_events_are_frozen() -> None:
    model = ALL_EVENTS[0]
    event = model.model_validate({**_example(model), "added_by_a_newer_producer": 1})
    with pytest.raises(ValidationError):
        event.event_type = "other"  # type: ignore[misc]


def test_schemas_match_the_committed_snapshot() -> None:
    current = {model.__name__: model.model_json_schema() for model in [*ALL_EVENTS, UtmEvent]}
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(current, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    committed = json.loads(SNAPSHOT.read_text())
    changed = sorted(
        name for name in current.keys() | committed.keys() if current.get(name) != committed.get(name)
    )
    assert not changed, f"event schemas changed: {changed}; if on purpose, run with UPDATE_SNAPSHOTS=1"
