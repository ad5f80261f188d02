"""The models the fake knows, and their context windows: a create for any other model, or with
an input too long for the model, is refused as the API refuses it.

OpenAI answers an unknown or inaccessible model with 404 `model_not_found` ("The model `x`
does not exist or you do not have access to it."). Dated snapshots (`o3-2025-04-16`) and
fine-tunes (`ft:gpt-4.1:org::id`) of a known model are accepted too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection

from .errors import APIErrorResponse

CONTEXT_WINDOWS: dict[str, int] = {
    "chatgpt-4o-latest": 128_000,
    "codex-mini-latest": 200_000,
    "computer-use-preview": 8_192,
    "gpt-3.5-turbo": 16_385,
    "gpt-4": 8_192,
    "gpt-4-turbo": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "gpt-5": 400_000,
    "gpt-5-codex": 400_000,
    "gpt-5-mini": 400_000,
    "gpt-5-nano": 400_000,
    "gpt-5-pro": 400_000,
    "gpt-5.1": 400_000,
    "gpt-5.1-codex": 400_000,
    "gpt-5.2": 400_000,
    "gpt-5.2-pro": 400_000,
    "o1": 200_000,
    "o1-pro": 200_000,
    "o3": 200_000,
    "o3-deep-research": 200_000,
    "o3-mini": 200_000,
    "o3-pro": 200_000,
    "o4-mini": 200_000,
    "o4-mini-deep-research": 200_000,
}
"""Context window in tokens of each known model (OpenAI's model pages, rounded as published)."""

KNOWN_MODELS = frozenset(CONTEXT_WINDOWS)
"""Responses API models, without their dated snapshots."""

ANY_MODEL = "*"
"""In `ServerSettings.models`: accept every model name."""

_SNAPSHOT = re.compile(r"^(?P<base>.+?)-\d{4}-\d{2}-\d{2}$")


def _base(model: str) -> str:
    if model.startswith("ft:"):
        model = model[3:].split(":", 1)[0]
    match = _SNAPSHOT.match(model)
    return match["base"] if match else model


def is_deep_research(model: str) -> bool:
    """`o3-deep-research`, `o4-mini-deep-research`, their snapshots and fine-tunes."""
    return _base(model).endswith("-deep-research")


FLEX_MODELS = frozenset({"o3", "o4-mini"})
FLEX_FAMILIES = ("gpt-5",)
"""Models that take `service_tier: "flex"`. ASSUMED: OpenAI lists them on its pricing page and
has changed the list (o3 and o4-mini at launch, the gpt-5 family since); these are that list."""


def supports_flex(model: str) -> bool:
    """o3, o4-mini, the gpt-5 family (`gpt-5`, `gpt-5-mini`, `gpt-5.2`...), their snapshots and
    fine-tunes."""
    base = _base(model)
    return base in FLEX_MODELS or base.startswith(FLEX_FAMILIES)


def check_model(model: str, extra: Collection[str] = ()) -> None:
    """Raise the API's 404 unless `model` is known, a snapshot or fine-tune of one, or extra."""
    base = _base(model)
    if base in KNOWN_MODELS or ANY_MODEL in extra or model in extra or base in extra:
        return
    raise APIErrorResponse(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


CHARS_PER_TOKEN = 4
"""The usual estimate for English text; kinder than the tokenizer for noise or code."""


def check_context(model: str, body_input: object, instructions: str | None) -> None:
    """Raise the API's 400 `context_length_exceeded` if the input cannot fit the model's
    context window (estimated at `CHARS_PER_TOKEN`; models added by name are not limited)."""
    window = CONTEXT_WINDOWS.get(_base(model))
    if window is None:
        return
    chars = len(json.dumps(body_input)) + len(instructions or "")
    if chars // CHARS_PER_TOKEN > window:
        raise APIErrorResponse(
            400,
            "Your input exceeds the context window of this model. Please adjust your input "
            "and try again.",
            param="input",
            code="context_length_exceeded",
        )
