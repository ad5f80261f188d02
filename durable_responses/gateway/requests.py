"""A `POST /v1/responses` body, checked as the API checks it, into the workflow request it
starts: `StreamingResponseWorkflow` for `stream: true`, `BackgroundResponseWorkflow` else."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, get_type_hints

from openai.types.responses import response_create_params
from pydantic import ValidationError

from durable_responses.models import ResponseRequest

from .errors import APIError

KNOWN = frozenset(get_type_hints(response_create_params.ResponseCreateParamsBase)) | {"stream"}
"""The create parameters of the installed SDK: anything else is refused, as the API does."""
OURS = frozenset({"background", "stream", "store", "stream_options"})
"""Parameters the gateway decides itself: every run is a stored background response."""


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
    unknown = sorted(body.keys() - KNOWN)
    if unknown:
        raise APIError(
            400, f"Unknown parameter: '{unknown[0]}'.", param=unknown[0], code="unknown_parameter"
        )
    if not body.get("model"):
        raise APIError(
            400,
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    for name in ("stream", "background", "store"):
        if name in body and body[name] is not None and not isinstance(body[name], bool):
            raise APIError(
                400,
                f"Invalid type for '{name}': expected a boolean.",
                param=name,
                code="invalid_type",
            )
    if body.get("store") is False:
        raise APIError(
            400,
            "The durable gateway stores every response: 'store' cannot be false.",
            param="store",
            code="invalid_value",
        )
    fields: dict[str, Any] = {k: v for k, v in body.items() if k not in OURS and v is not None}
    previous = fields.pop("previous_response_id", None)
    try:
        request = ResponseRequest.model_validate(fields)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise APIError(
            400, f"Invalid '{param}': {first['msg']}", param=param, code="invalid_value"
        ) from None
    stream = bool(body.get("stream"))
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
        previous_response_id=previous if isinstance(previous, str) else None,
        fingerprint=hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest(),
    )
