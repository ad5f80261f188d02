"""Validation of `POST /v1/responses` bodies into the API's 400 errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, get_args

from openai.types.responses.response_create_params import ResponseCreateParamsBase
from openai.types.responses.response_includable import ResponseIncludable
from openai.types.responses.tool import Tool

from .catalogue import is_deep_research
from .errors import APIErrorResponse, below_min, invalid_type, invalid_value, missing

_EFFORTS = {"none", "minimal", "low", "medium", "high", "xhigh", "max"}
_SUMMARIES = {"auto", "concise", "detailed"}
_CONTEXTS = {"auto", "current_turn", "all_turns"}
_TOOL_CHOICES = ("none", "auto", "required")

KNOWN_PARAMETERS = (
    ResponseCreateParamsBase.__required_keys__
    | ResponseCreateParamsBase.__optional_keys__
    | {"stream"}
)
"""The body keys `client.responses.create` of the installed SDK sends; others are unknown."""

INCLUDABLES: tuple[str, ...] = get_args(ResponseIncludable)
"""The values `include` accepts, in the SDK's order."""


def _tool_shapes() -> dict[str, tuple[str, ...]]:
    """Each tool `type` of the SDK's `Tool` union, with the keys that type requires."""
    shapes: dict[str, tuple[str, ...]] = {}
    for model in get_args(get_args(Tool)[0]):
        fields = model.model_fields
        required = tuple(
            info.alias or name
            for name, info in fields.items()
            if info.is_required() and name != "type"
        )
        for literal in get_args(fields["type"].annotation):
            shapes[literal] = required
    return shapes


TOOL_SHAPES = _tool_shapes()

DEEP_RESEARCH_TOOLS = frozenset(
    {
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "code_interpreter",
        "mcp",
        "file_search",
    }
)
DEEP_RESEARCH_SOURCES = DEEP_RESEARCH_TOOLS - {"code_interpreter"}


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
    include: list[str] = field(default_factory=list)
    max_tool_calls: int | None = None
    background_options: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    safety_identifier: str | None = None
    top_logprobs: int | None = None
    body: dict[str, Any] = field(default_factory=dict)
    """The create body exactly as received."""

    def includes(self, value: str) -> bool:
        return value in self.include


def _opt(body: dict[str, Any], key: str, types: tuple[type, ...], expected: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in types:
        raise invalid_type(key, expected, value)
    if not isinstance(value, types):
        raise invalid_type(key, expected, value)
    return value


def parse_create(body: object, *, reject_unknown: bool = True) -> CreateParams:
    """Check a create body the way the API does; raise `APIErrorResponse` on the first problem."""
    if not isinstance(body, dict):
        raise APIErrorResponse(400, "Invalid body: expected a JSON object.", code="invalid_json")
    unknown = [key for key in body if key not in KNOWN_PARAMETERS]
    if reject_unknown and unknown:
        raise APIErrorResponse(
            400, f"Unknown parameter: '{unknown[0]}'.", param=unknown[0], code="unknown_parameter"
        )
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
        for key, allowed in (("effort", _EFFORTS), ("summary", _SUMMARIES), ("context", _CONTEXTS)):
            value = reasoning.get(key)
            if value is not None and value not in allowed:
                raise invalid_value(f"reasoning.{key}", value, sorted(allowed))
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
    _check_tools(tools, model)
    tool_choice = _tool_choice(body.get("tool_choice"), tools)
    parallel = _opt(body, "parallel_tool_calls", (bool,), "a boolean")
    include = _opt(body, "include", (list,), "an array") or []
    for value in include:
        if value not in INCLUDABLES:
            raise invalid_value("include", value, INCLUDABLES)
    max_tool_calls = _opt(body, "max_tool_calls", (int,), "an integer")
    if max_tool_calls is not None and max_tool_calls < 0:
        raise below_min("max_tool_calls", 0, max_tool_calls)
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
        tool_choice=tool_choice,
        parallel_tool_calls=True if parallel is None else parallel,
        text=text,
        truncation=truncation,
        user=user,
        service_tier=service_tier,
        include_obfuscation=bool(obfuscation),
        include=list(include),
        max_tool_calls=max_tool_calls,
        background_options=_opt(body, "background_options", (dict,), "an object"),
        prompt_cache_key=_opt(body, "prompt_cache_key", (str,), "a string"),
        prompt_cache_retention=_opt(body, "prompt_cache_retention", (str,), "a string"),
        safety_identifier=_opt(body, "safety_identifier", (str,), "a string"),
        top_logprobs=_opt(body, "top_logprobs", (int,), "an integer"),
        body=body,
    )


def _check_tools(tools: list[Any], model: str) -> None:
    """Each tool is an object of a type the SDK knows, with the keys that type requires;
    deep research models take only their own tools, and need a data source among them."""
    types: list[str] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise invalid_type(f"tools[{i}]", "an object", tool)
        kind = tool.get("type")
        if kind is None:
            raise missing(f"tools[{i}].type")
        if not isinstance(kind, str):
            raise invalid_type(f"tools[{i}].type", "a string", kind)
        if kind not in TOOL_SHAPES:
            raise invalid_value(f"tools[{i}].type", kind, sorted(TOOL_SHAPES))
        for key in TOOL_SHAPES[kind]:
            if key not in tool:
                raise missing(f"tools[{i}].{key}")
        if kind == "function" and not isinstance(tool["name"], str):
            raise invalid_type(f"tools[{i}].name", "a string", tool["name"])
        if kind == "mcp" and not isinstance(tool["server_label"], str):
            raise invalid_type(f"tools[{i}].server_label", "a string", tool["server_label"])
        types.append(kind)
    if not is_deep_research(model):
        return
    if any(kind not in DEEP_RESEARCH_TOOLS for kind in types):
        raise APIErrorResponse(
            400,
            "Deep research models only support the 'web_search_preview', 'code_interpreter', "
            "'mcp', and 'file_search' tools.",
            param="tools",
        )
    if not any(kind in DEEP_RESEARCH_SOURCES for kind in types):
        raise APIErrorResponse(
            400,
            "Deep research models require at least one of 'web_search_preview' or 'mcp' tools.",
            param="tools",
        )


def _tool_choice(choice: Any, tools: list[dict[str, Any]]) -> Any:
    """`none`/`auto`/`required` or an object; a forced function must be one of the tools."""
    if choice is None:
        return "auto"
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise invalid_value("tool_choice", choice, _TOOL_CHOICES)
        return choice
    if not isinstance(choice, dict):
        raise invalid_type("tool_choice", "a string or an object", choice)
    if choice.get("type") == "function":
        names = {t.get("name") for t in tools if t.get("type") == "function"}
        if choice.get("name") not in names:
            # ASSUMED wording: not seen in a capture.
            raise APIErrorResponse(
                400, "Tool choice 'function' not found in 'tools' parameter.", param="tool_choice"
            )
    return choice
