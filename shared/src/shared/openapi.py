"""OpenAPI declarations shared by the services' routes."""

from typing import Any


def problem(description: str) -> dict[str, Any]:
    """An error response whose ``detail`` is a message or FastAPI's list of field errors."""
    schema = {
        "type": "object",
        "properties": {"detail": {"anyOf": [{"type": "string"}, {"type": "array"}, {"type": "object"}]}},
        "required": ["detail"],
    }
    return {"description": description, "content": {"application/json": {"schema": schema}}}
