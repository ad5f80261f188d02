"""A `POST /v1/responses` body, checked as the API checks it, into the workflow request it
starts: `StreamingResponseWorkflow` for `stream: true`, `BackgroundResponseWorkflow` else; and
the headers and query parameters of the other routes, checked the same way."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, get_type_hints

from aiohttp import web
from openai.types.responses import response_create_params
from pydantic import ValidationError
from temporalio.service import RPCError, RPCStatusCode

from durable_responses.models import ResponseRequest

from .bodies import MAX_INPUT_ITEMS
from .errors import APIError, printable

KNOWN = frozenset(get_type_hints(response_create_params.ResponseCreateParamsBase)) | {"stream"}
"""The create parameters of the installed SDK, which the gateway checks; any other goes to the
provider as it came (a parameter OpenAI added after this SDK works without a new gateway, and
one OpenAI does not know is refused by OpenAI, at create, as `400 unknown_parameter`)."""
OURS = frozenset({"background", "stream", "store", "stream_options"})
"""Parameters the gateway decides itself: every run is a stored background response."""


_BOOLEAN, _INTEGER, _NUMBER, _STRING, _OBJECT, _ARRAY = (
    "a boolean",
    "an integer",
    "a number",
    "a string",
    "an object",
    "an array",
)
TYPES: dict[str, tuple[str, ...]] = {
    "model": (_STRING,),
    "input": (_STRING, _ARRAY),
    "instructions": (_STRING,),
    "previous_response_id": (_STRING,),
    "conversation": (_STRING, _OBJECT),
    "background": (_BOOLEAN,),
    "stream": (_BOOLEAN,),
    "store": (_BOOLEAN,),
    "parallel_tool_calls": (_BOOLEAN,),
    "max_output_tokens": (_INTEGER,),
    "max_tool_calls": (_INTEGER,),
    "top_logprobs": (_INTEGER,),
    "temperature": (_NUMBER,),
    "top_p": (_NUMBER,),
    "metadata": (_OBJECT,),
    "reasoning": (_OBJECT,),
    "text": (_OBJECT,),
    "prompt": (_OBJECT,),
    "stream_options": (_OBJECT,),
    "background_options": (_OBJECT,),
    "tools": (_ARRAY,),
    "include": (_ARRAY,),
    "tool_choice": (_STRING, _OBJECT),
    "truncation": (_STRING,),
    "user": (_STRING,),
    "service_tier": (_STRING,),
    "prompt_cache_key": (_STRING,),
    "prompt_cache_retention": (_STRING,),
    "safety_identifier": (_STRING,),
}
"""The JSON type of each known parameter, as the API checks it: no coercion ("5" is not 5)."""
RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "top_logprobs": (0, 20),
    "max_output_tokens": (1, 2**31 - 1),
    "max_tool_calls": (1, 2**31 - 1),
}
"""Inclusive bounds of the numeric parameters."""


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return _BOOLEAN
    if isinstance(value, int):
        return _INTEGER
    if isinstance(value, float):
        return _NUMBER
    if isinstance(value, str):
        return _STRING
    if isinstance(value, list):
        return _ARRAY
    return _OBJECT


def _check_types(body: dict[str, Any]) -> None:
    """400 `invalid_type`/`invalid_value` with its `param`, for the first parameter of the
    wrong JSON type or out of its range (null means unset, as the API takes it)."""
    for name, expected in TYPES.items():
        value = body.get(name)
        if value is None:
            continue
        got = _json_type(value)
        if got not in expected and not (got == _INTEGER and _NUMBER in expected):
            raise APIError(
                400,
                f"Invalid type for '{name}': expected {' or '.join(expected)}, but got {got} "
                "instead.",
                param=name,
                code="invalid_type",
            )
        if name in RANGES:
            low, high = RANGES[name]
            if not low <= value <= high:
                raise APIError(
                    400,
                    f"Invalid '{name}': expected a value from {low} to {high}, but got {value} "
                    "instead.",
                    param=name,
                    code="invalid_value",
                )
    given = body.get("input")
    if isinstance(given, list):
        if len(given) > MAX_INPUT_ITEMS:
            raise APIError(
                400,
                f"Invalid 'input': array too long. Expected an array with at most "
                f"{MAX_INPUT_ITEMS} items, but got {len(given)} instead.",
                param="input",
                code="array_above_max_length",
            )
        for n, item in enumerate(given):
            if not isinstance(item, dict):
                raise APIError(
                    400,
                    f"Invalid type for 'input[{n}]': expected an object, but got "
                    f"{_json_type(item)} instead.",
                    param=f"input[{n}]",
                    code="invalid_type",
                )


@dataclass(frozen=True)
class CreateCall:
    """What a create asks for."""

    request: ResponseRequest
    stream: bool
    background: bool
    previous_response_id: str | None
    """The client's (the gateway's) id of the previous response, to map upstream."""
    fingerprint: str
    """The body's SHA-256: a retry with the same Idempotency-Key must send the same body."""


def parse_create(body: object) -> CreateCall:
    """The workflow request of a create body; `APIError` (400) as the API would answer it."""
    if not isinstance(body, dict):
        raise APIError(400, "Invalid body: expected a JSON object.", code="invalid_json")
    if not body.get("model"):
        raise APIError(
            400,
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    _check_types(body)
    if body.get("store") is False:
        raise APIError(
            400,
            "The durable gateway stores every response: 'store' cannot be false.",
            param="store",
            code="invalid_value",
        )
    fields: dict[str, Any] = {
        k: v for k, v in body.items() if k in KNOWN and k not in OURS and v is not None
    }
    previous = fields.pop("previous_response_id", None)
    unknown = {k: v for k, v in body.items() if k not in KNOWN}
    if unknown:
        # In `params`, sent verbatim: never read as a field of the workflow's own request.
        fields["params"] = unknown
    try:
        request = ResponseRequest.model_validate(fields)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise APIError(
            400, f"Invalid '{param}': {first['msg']}", param=param, code="invalid_value"
        ) from None
    stream = bool(body.get("stream"))
    if body.get("background"):
        # Answered once the run records the upstream id (`runs.created`): polls made by the
        # create activity would hold that back for their whole budget.
        request.poll = request.poll.model_copy(update={"first_polls_seconds": 0.0})
    if stream and request.discounted_window():
        raise APIError(
            400,
            f"The '{request.discounted_window()}' completion window requires stream=false.",
            param="background_options.completion_window",
            code="unsupported_value",
        )
    return CreateCall(
        request=request,
        stream=stream,
        background=bool(body.get("background")),
        previous_response_id=previous,
        fingerprint=hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest(),
    )


MAX_IDEMPOTENCY_KEY = 255
"""Characters an `Idempotency-Key` may have."""


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if not key:
        return None
    try:
        key.encode()
    except UnicodeEncodeError:
        raise APIError(
            400,
            "Invalid 'Idempotency-Key': expected UTF-8 text.",
            param="Idempotency-Key",
            code="invalid_value",
        ) from None
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise APIError(
            400,
            f"Invalid 'Idempotency-Key': longer than {MAX_IDEMPOTENCY_KEY} characters.",
            param="Idempotency-Key",
            code="invalid_value",
        )
    return key


def refused_as_too_large(err: RPCError) -> bool:
    """Whether Temporal refused the run's input for its size (its blob limit, or gRPC's
    message limit), which no retry of the same request can get past."""
    message = err.message.lower()
    if err.status == RPCStatusCode.INVALID_ARGUMENT:
        return "size" in message or "exceeds" in message
    if err.status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return "larger than" in message or "too large" in message
    return False


def starting_after(request: web.Request) -> int:
    """`starting_after`, or the last event a reconnecting browser saw (`Last-Event-ID`)."""
    # A browser reconnects to the URL it first opened: its Last-Event-ID is newer than the
    # URL's starting_after, so the header wins.
    raw = request.headers.get("Last-Event-ID") or request.query.get("starting_after")
    if raw is None or raw == "":
        return -1
    try:
        value = int(raw)
    except ValueError:
        raise APIError(
            400,
            f"Invalid type for 'starting_after': expected an integer, but got '{raw}' instead.",
            param="starting_after",
            code="invalid_type",
        ) from None
    if value < 0:
        raise APIError(400, "Invalid 'starting_after': below 0.", param="starting_after")
    return value


def page_limit(request: web.Request) -> int:
    raw = request.query.get("limit", "20")
    try:
        limit = int(raw)
    except ValueError:
        raise APIError(
            400,
            f"Invalid type for 'limit': expected an integer, but got '{printable(raw)}' instead.",
            param="limit",
            code="invalid_type",
        ) from None
    if not 1 <= limit <= 100:
        raise APIError(
            400,
            f"Invalid 'limit': expected a value from 1 to 100, but got {limit} instead.",
            param="limit",
            code="invalid_value",
        )
    return limit
