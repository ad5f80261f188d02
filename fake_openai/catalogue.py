"""The models the fake knows: a create for any other model is refused, as the API refuses it.

OpenAI answers an unknown or inaccessible model with 404 `model_not_found` ("The model `x`
does not exist or you do not have access to it."). Dated snapshots (`o3-2025-04-16`) and
fine-tunes (`ft:gpt-4.1:org::id`) of a known model are accepted too.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from .errors import APIErrorResponse

KNOWN_MODELS = frozenset(
    {
        "chatgpt-4o-latest",
        "codex-mini-latest",
        "computer-use-preview",
        "gpt-3.5-turbo",
        "gpt-4",
        "gpt-4-turbo",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-5",
        "gpt-5-codex",
        "gpt-5-mini",
        "gpt-5-nano",
        "gpt-5-pro",
        "gpt-5.1",
        "gpt-5.1-codex",
        "gpt-5.2",
        "gpt-5.2-pro",
        "o1",
        "o1-pro",
        "o3",
        "o3-deep-research",
        "o3-mini",
        "o3-pro",
        "o4-mini",
        "o4-mini-deep-research",
    }
)
"""Responses API models, without their dated snapshots."""

ANY_MODEL = "*"
"""In `ServerSettings.models`: accept every model name."""

_SNAPSHOT = re.compile(r"^(?P<base>.+?)-\d{4}-\d{2}-\d{2}$")


def _base(model: str) -> str:
    if model.startswith("ft:"):
        model = model[3:].split(":", 1)[0]
    match = _SNAPSHOT.match(model)
    return match["base"] if match else model


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
