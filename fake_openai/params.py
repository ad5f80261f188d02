"""Validation of `POST /v1/responses` bodies into the API's 400 errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import APIErrorResponse, below_min, invalid_type, missing

_EFFORTS = {"none", "minimal", "low", "medium", "high", "xhigh"}
_SUMMARIES = {"auto", "concise", "detailed"}


@dataclass
class CreateParams:
    """The fields of a create request the fake acts on; everything else is echoed or ignored."""

    model: str
    input: Any
    instructions: str | None = None
    background: bool = False
    stream: bool = False
    store: bool = True
    metadata: dict[str, str] = field(default_factory=dict)
    previous_response_id: str | None = None
    max_output_tokens: int | None = None
    reasoning: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    tools: list[Any] = field(default_factory=list)
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    text: dict[str, Any] | None = None
    truncation: str | None = None
    user: str | None = None
    service_tier: str | None = None
    include_obfuscation: bool = True


def _opt(body: dict[str, Any], key: str, types: tuple[type, ...], expected: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in types:
        raise invalid_type(key, expected, value)
    if not isinstance(value, types):
        raise invalid_type(key, expected, value)
    return value


def parse_create(body: object) -> CreateParams:
    """Check a create body the way the API does; raise `APIErrorResponse` on the first problem."""
    if not isinstance(body, dict):
        raise APIErrorResponse(400, "Invalid body: expected a JSON object.", code="invalid_json")
    model = body.get("model")
    if model is None:
        raise missing("model")
    if not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    if not model:
        raise APIErrorResponse(400, "Invalid 'model': empty string.", param="model")
    input_ = body.get("input")
    previous = _opt(body, "previous_response_id", (str,), "a string")
    if input_ is None and previous is None and body.get("prompt") is None:
        raise missing("input")
    if input_ is not None:
        if not isinstance(input_, (str, list)):
            raise invalid_type("input", "a string or an array", input_)
        if isinstance(input_, list):
            for i, item in enumerate(input_):
                if not isinstance(item, dict):
                    raise invalid_type(f"input[{i}]", "an object", item)
    instructions = _opt(body, "instructions", (str,), "a string")
    background = _opt(body, "background", (bool,), "a boolean") or False
    stream = _opt(body, "stream", (bool,), "a boolean") or False
    store_raw = _opt(body, "store", (bool,), "a boolean")
    store = True if store_raw is None else store_raw
    if background and not store:
        raise APIErrorResponse(
            400,
            "Background mode requires 'store' to be true.",
            param="store",
            code="invalid_value",
        )
    metadata = _opt(body, "metadata", (dict,), "an object") or {}
    if len(metadata) > 16:
        raise APIErrorResponse(
            400,
            "Invalid 'metadata': too many properties. Expected an object with at most 16 "
            f"properties, but got an object with {len(metadata)} properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise invalid_type(f"metadata.{key}", "a string", value)
        if len(key) > 64 or len(value) > 512:
            raise APIErrorResponse(
                400, f"Invalid 'metadata.{key}': string too long.", param=f"metadata.{key}"
            )
    max_output_tokens = _opt(body, "max_output_tokens", (int,), "an integer")
    if max_output_tokens is not None and max_output_tokens < 16:
        raise below_min("max_output_tokens", 16, max_output_tokens)
    reasoning = _opt(body, "reasoning", (dict,), "an object")
    if reasoning is not None:
        effort = reasoning.get("effort")
        if effort is not None and effort not in _EFFORTS:
            raise APIErrorResponse(
                400,
                f"Invalid value: '{effort}'. Supported values are: "
                + ", ".join(f"'{e}'" for e in sorted(_EFFORTS))
                + ".",
                param="reasoning.effort",
                code="invalid_value",
            )
        summary = reasoning.get("summary")
        if summary is not None and summary not in _SUMMARIES:
            raise APIErrorResponse(
                400, f"Invalid value: '{summary}'.", param="reasoning.summary", code="invalid_value"
            )
    temperature = _opt(body, "temperature", (int, float), "a number")
    if temperature is not None and not 0 <= temperature <= 2:
        raise APIErrorResponse(
            400,
            f"Invalid 'temperature': decimal above maximum value. Expected a value <= 2, "
            f"but got {temperature} instead.",
            param="temperature",
            code="decimal_above_max_value",
        )
    top_p = _opt(body, "top_p", (int, float), "a number")
    tools = _opt(body, "tools", (list,), "an array") or []
    parallel = _opt(body, "parallel_tool_calls", (bool,), "a boolean")
    text = _opt(body, "text", (dict,), "an object")
    truncation = _opt(body, "truncation", (str,), "a string")
    user = _opt(body, "user", (str,), "a string")
    service_tier = _opt(body, "service_tier", (str,), "a string")
    stream_options = _opt(body, "stream_options", (dict,), "an object") or {}
    obfuscation = stream_options.get("include_obfuscation", True)
    return CreateParams(
        model=model,
        input=input_,
        instructions=instructions,
        background=background,
        stream=stream,
        store=store,
        metadata=dict(metadata),
        previous_response_id=previous,
        max_output_tokens=max_output_tokens,
        reasoning=reasoning,
        temperature=None if temperature is None else float(temperature),
        top_p=None if top_p is None else float(top_p),
        tools=list(tools),
        tool_choice=body.get("tool_choice") or "auto",
        parallel_tool_calls=True if parallel is None else parallel,
        text=text,
        truncation=truncation,
        user=user,
        service_tier=service_tier,
        include_obfuscation=bool(obfuscation),
    )
