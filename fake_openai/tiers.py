"""Processing tiers: flex (slower, sometimes unavailable) and the discounted completion windows.

OpenAI's flex tier trades speed and availability for price; `background_options`
`completion_window` `2h`/`8h` trades promptness for price. Both only change when and how fast a
response runs, so here they only change the generation settings of a job, and which creates
are refused. The error wordings are ASSUMED (no capture): the status codes, `param` and the
rules are OpenAI's documented ones.
"""

from __future__ import annotations

from typing import Any

from .catalogue import supports_flex
from .config import GenerationSettings
from .errors import APIErrorResponse, invalid_type, invalid_value
from .params import CreateParams

WINDOWS = ("soonest", "2h", "8h")
DISCOUNTED = frozenset({"2h", "8h"})
STANDARD = frozenset({"auto", "default"})
"""`service_tier` values served by standard processing (`auto` is the project's default)."""

_OPTION_KEYS = frozenset({"completion_window", "continuation_id"})


def served_tier(service_tier: str | None) -> str:
    """The tier a Response reports: the one that served it, so `auto` (or none) is `default`."""
    return "default" if service_tier is None or service_tier in STANDARD else service_tier


def completion_window(params: CreateParams) -> str:
    options = params.background_options or {}
    window = options.get("completion_window")
    return window if isinstance(window, str) else "soonest"


def check_tier(params: CreateParams) -> None:
    """Raise the API's 400 for background options it does not take, a discounted window outside
    background polling on the standard tier, or flex on a model without flex."""
    options = params.background_options
    if options is not None:
        _check_options(options)
    window = completion_window(params)
    if window in DISCOUNTED:
        if not params.background or params.stream:
            raise APIErrorResponse(
                400,
                f"The '{window}' completion window requires background=true and stream=false.",
                param="background_options.completion_window",
                code="unsupported_value",
            )
        if params.service_tier is not None and params.service_tier not in STANDARD:
            raise APIErrorResponse(
                400,
                f"The '{window}' completion window is not available with service_tier "
                f"'{params.service_tier}'.",
                param="background_options.completion_window",
                code="unsupported_value",
            )
    if params.service_tier == "flex" and not supports_flex(params.model):
        raise APIErrorResponse(
            400,
            f"Flex processing is not available for model '{params.model}'.",
            param="service_tier",
            code="unsupported_value",
        )


def _check_options(options: dict[str, Any]) -> None:
    for key in options:
        if key not in _OPTION_KEYS:
            raise APIErrorResponse(
                400,
                f"Unknown parameter: 'background_options.{key}'.",
                param=f"background_options.{key}",
                code="unknown_parameter",
            )
    window = options.get("completion_window")
    if window is not None and window not in WINDOWS:
        raise invalid_value("background_options.completion_window", window, WINDOWS)
    continuation = options.get("continuation_id")
    if continuation is not None and not isinstance(continuation, str):
        raise invalid_type("background_options.continuation_id", "a string", continuation)


def tier_settings(settings: GenerationSettings, params: CreateParams) -> GenerationSettings:
    """The settings a job runs with: a discounted window waits `queued` for its scaled part of
    the window; flex waits longer and writes slower."""
    window = completion_window(params)
    if window in DISCOUNTED:
        length = settings.window_2h_seconds if window == "2h" else settings.window_8h_seconds
        return settings.model_copy(update={"queued_seconds": length * settings.window_fraction})
    if served_tier(params.service_tier) == "flex":
        return settings.model_copy(
            update={
                "queued_seconds": settings.queued_seconds * settings.flex_slowdown,
                "tokens_per_second": settings.tokens_per_second / settings.flex_slowdown,
            }
        )
    return settings


def flex_unavailable() -> APIErrorResponse:
    """OpenAI's 429 "Resource Unavailable" for flex (documented: not charged; ASSUMED body)."""
    return APIErrorResponse(
        429,
        "Resource Unavailable: flex processing capacity is temporarily unavailable. Please try "
        "again later.",
        type_="rate_limit_error",
        code="resource_unavailable",
    )
