"""OpenAI's published contract for the Responses routes (tests/data/openai-responses.openapi.json,
cut from openai/openai-openapi by tests/data/trim_openapi.py), as JSON Schema validators.

`LIVE_API` is the one place where the tests follow the live API over the description: each
entry widens one property to also take `null`, with why."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC_FILE = Path(__file__).parent / "data" / "openai-responses.openapi.json"
_URI = "urn:openai-openapi:responses"

LIVE_API: dict[tuple[str, str], str] = {
    ("ModelResponseProperties", "user"): (
        "typed a string, but the live API sends `user: null` on every Response that was "
        "created without one (queued, in progress and finished alike)"
    ),
    ("Response", "usage"): (
        "typed an object, but the live API sends `usage: null` until the response has ended "
        "(queued, in progress, and a response cancelled before it started)"
    ),
}
"""(schema, property) → why the live API's `null` is taken where the description has none."""


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    for (schema, name), _why in LIVE_API.items():
        node = schemas[schema]
        for part in node.get("allOf", [node]):
            if name in part.get("properties", {}):
                part["properties"][name] = {
                    "anyOf": [copy.deepcopy(part["properties"][name]), {"type": "null"}]
                }
                break
        else:
            raise LookupError(f"{schema}.{name} is not in the description: drop the exception")
    return spec


SPEC = _spec()
COMMIT = SPEC["info"]["x-trimmed-from"]["commit"]
_REGISTRY: Registry[Any] = Registry().with_resource(_URI, DRAFT202012.create_resource(SPEC))


@functools.cache
def validator(schema: str) -> jsonschema.Draft202012Validator:
    """A validator of `#/components/schemas/<schema>`."""
    return jsonschema.Draft202012Validator(
        {"$ref": f"{_URI}#/components/schemas/{schema}"}, registry=_REGISTRY
    )


def _event_schemas() -> dict[str, str]:
    """Event `type` → the schema of that event, from the `ResponseStreamEvent` union."""
    schemas = SPEC["components"]["schemas"]
    named: dict[str, str] = {}
    for member in schemas["ResponseStreamEvent"]["anyOf"]:
        name = member["$ref"].rsplit("/", 1)[1]
        for kind in schemas[name]["properties"]["type"].get("enum", []):
            named[kind] = name
    return named


EVENT_SCHEMAS = _event_schemas()


def problems(body: object, schema: str) -> list[str]:
    """What in `body` breaks `schema`, one line each (the deepest cause of each error)."""
    found = []
    for error in validator(schema).iter_errors(body):
        deepest = error
        while deepest.context:
            deepest = jsonschema.exceptions.best_match(_branch(deepest.context))
        found.append(f"{schema} at {deepest.json_path}: {deepest.message[:300]}")
    return found


def _branch(
    errors: list[jsonschema.ValidationError],
) -> list[jsonschema.ValidationError]:
    """Of a union's failed branches, the errors of the one whose `type` matched (the item or
    event the body meant to be), else all of them."""
    branches: dict[object, list[jsonschema.ValidationError]] = {}
    for error in errors:
        branches.setdefault(error.relative_schema_path[0], []).append(error)
    for branch in branches.values():
        type_matched = not any(list(e.relative_path)[:1] == ["type"] for e in branch)
        if type_matched and any(e.relative_path or e.validator == "required" for e in branch):
            return branch
    return errors


def check(body: object, schema: str) -> None:
    """Assert that `body` is a valid `schema`."""
    found = problems(body, schema)
    assert not found, "\n".join(found)


def check_event(event: dict[str, Any]) -> None:
    """Assert that a streamed event is one the description lists, valid for its schema."""
    kind = event.get("type")
    assert kind in EVENT_SCHEMAS, f"event type {kind!r} is not in the description"
    check(event, EVENT_SCHEMAS[str(kind)])
