"""Opening a background stream (create, or attach after a cursor) and cancelling what was
created but not recorded: shared by both stream activities."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.responses import ResponseStreamEvent
from temporalio import activity
from temporalio.exceptions import ApplicationError

from durable_responses.models import ErrorType, ResponseParams

CONNECT_TIMEOUT_SECONDS = 30.0
"""HTTP timeout of opening a stream, and of the calls besides it."""
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
"""Stream events that carry the final response."""


StreamCall = tuple[str, tuple[Any, ...], dict[str, Any]]
"""A method of `client.responses` (or of its `with_streaming_response`), with its arguments."""


def stream_call(
    create_kwargs: Callable[[ResponseParams], dict[str, Any]],
    params: ResponseParams | None,
    response_id: str | None,
    cursor: int | None,
    http_timeout: float | openai.Timeout,
    caller: str,
) -> StreamCall:
    """The one create-or-attach call of the stream activities: attach to `response_id`'s stream
    after `cursor`, or create a background response from `params` with `stream=true`."""
    if response_id:
        after: dict[str, Any] = {} if cursor is None else {"starting_after": cursor}
        options = {"stream": True, "include_obfuscation": False, "timeout": http_timeout}
        return "retrieve", (response_id,), {**options, **after}
    if params is None:
        raise ApplicationError(
            f"{caller} needs params to create or a response_id to attach to",
            type=ErrorType.INVALID_REQUEST,
            non_retryable=True,
        )
    return (
        "create",
        (),
        {
            **create_kwargs(params),
            "stream": True,
            "stream_options": {"include_obfuscation": False},
            "timeout": http_timeout,
        },
    )


async def open_background_stream(
    client: AsyncOpenAI, call: StreamCall
) -> openai.AsyncStream[ResponseStreamEvent]:
    """`call` (`stream_call`) through the SDK's stream, which builds every event's model: the
    chunk reader of runs from before the stream reader."""
    method, args, kwargs = call
    stream: openai.AsyncStream[ResponseStreamEvent] = await getattr(client.responses, method)(
        *args, **kwargs
    )
    return stream


async def cancel_unrecorded(
    client: AsyncOpenAI, response_id: str | None, http_timeout: float
) -> None:
    """Cancelled before the workflow recorded the id: its cleanup cannot reach the response,
    so end it here, best effort (shielded: the activity is being cancelled)."""
    if not response_id:
        return  # no `response.created` yet: nothing to name (README, What we promise)
    activity.logger.info("cancelling response %s: cancelled before it was recorded", response_id)
    with contextlib.suppress(openai.OpenAIError):
        await asyncio.shield(client.responses.cancel(response_id, timeout=http_timeout))
