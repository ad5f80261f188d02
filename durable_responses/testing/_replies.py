"""The script language of the scripted provider: what a create answers, and how long the
response takes in workflow time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from durable_responses.models import PollPolicy, ResponseParams

from . import items as _items

SCRIPT_EXHAUSTED = "ScriptExhausted"
"""`ApplicationError.type` of a create the script has no reply for (non-retryable)."""
SCRIPT_UNSUPPORTED = "ScriptUnsupported"
"""`ApplicationError.type` of a scripted reply the kit cannot play as asked (non-retryable)."""


class ProviderError(BaseModel):
    """An HTTP error the provider answers a create with, as the API sends it."""

    model_config = ConfigDict(frozen=True)

    status: int = Field(description="HTTP status: 400, 404, 429, 500...")
    message: str = "scripted error"
    code: str | None = None
    param: str | None = None
    retry_after_seconds: float | None = Field(
        default=None, description="The `retry-after` header (429, 503)."
    )


class Reply(BaseModel):
    """What the provider answers one create with, and how long the response takes.

    `takes` is workflow time from the create to the terminal status: polls before then see
    `in_progress`. `refusals` are errors the create answers first, in order (each retry of
    the same create gets the next one): a 429 is retried by the workflow, a 400 ends it.
    """

    model_config = ConfigDict(frozen=True)

    text: str = Field(default="", description="The answer: one assistant message, last.")
    items: list[dict[str, Any]] = Field(
        default_factory=list, description="Output items before the message (API JSON)."
    )
    reasoning: str | None = Field(default=None, description="A reasoning summary, first.")
    takes: timedelta = timedelta(0)
    status: Literal["completed", "failed", "incomplete"] = "completed"
    error_code: str = "server_error"
    error_message: str = "The model failed to answer."
    incomplete_reason: str = "max_output_tokens"
    refusals: list[ProviderError] = Field(default_factory=list)
    input_tokens: int = 10
    output_tokens: int | None = Field(default=None, description="Default: words of the text.")

    def output(self) -> list[dict[str, Any]]:
        """The output items of the finished response, as the API lists them."""
        out: list[dict[str, Any]] = []
        if self.reasoning is not None:
            out.append(_items.reasoning(self.reasoning))
        out.extend(self.items)
        if self.text or not out:
            out.append(_items.message(self.text))
        return out


def reply(
    text: str = "",
    *,
    items: Sequence[dict[str, Any]] = (),
    reasoning: str | None = None,
    takes: timedelta = timedelta(0),
) -> Reply:
    """A response that completes after `takes` of workflow time with these items and text."""
    return Reply(text=text, items=list(items), reasoning=reasoning, takes=takes)


def failed(
    message: str = "The model failed to answer.",
    *,
    code: str = "server_error",
    takes: timedelta = timedelta(0),
) -> Reply:
    """A response that ends `failed` (the workflow fails with `ResponseFailed`)."""
    return Reply(status="failed", error_code=code, error_message=message, takes=takes)


def incomplete(
    text: str = "", *, reason: str = "max_output_tokens", takes: timedelta = timedelta(0)
) -> Reply:
    """A response that ends `incomplete` with what it wrote so far."""
    return Reply(status="incomplete", text=text, incomplete_reason=reason, takes=takes)


def refused(
    status: int,
    message: str = "scripted error",
    *,
    code: str | None = None,
    param: str | None = None,
) -> Reply:
    """A create the provider refuses (400, 401, 404...): nothing is created upstream."""
    return Reply(refusals=[ProviderError(status=status, message=message, code=code, param=param)])


def rate_limited(
    then: Reply, *, times: int = 1, retry_after: timedelta = timedelta(seconds=30)
) -> Reply:
    """`then`, after `times` answers of 429 with `retry-after` (waited in workflow time)."""
    limit = ProviderError(
        status=429,
        message="Rate limit reached for requests",
        code="rate_limit_exceeded",
        retry_after_seconds=retry_after.total_seconds(),
    )
    return then.model_copy(update={"refusals": [limit] * times + list(then.refusals)})


def polls_for(takes: timedelta, policy: PollPolicy | None = None) -> int:
    """How many polls a run makes of a response that takes `takes`: the first poll whose
    growing sleeps add up to `takes` sees it finished (none when the create already does)."""
    policy = policy or PollPolicy()
    if takes <= timedelta(0):
        return 0
    polls, slept, interval = 0, 0.0, policy.initial_interval_seconds
    while slept < takes.total_seconds():
        polls += 1
        slept += interval
        interval = policy.next_interval(interval)
    return polls


Script = Sequence[Reply] | Callable[[ResponseParams], Reply] | Literal["echo"]
"""Replies in the order of the creates; a function of each create's request (like Pydantic
AI's `FunctionModel`); or `"echo"`: every response answers its input's text."""


def echo(params: ResponseParams) -> Reply:
    """The reply of the `"echo"` script: the text of the request's last user input."""
    if isinstance(params.input, str):
        return reply(params.input)
    for entry in reversed(params.input):
        if entry.get("role", "user") != "user" or "content" not in entry:
            continue
        content = entry["content"]
        if isinstance(content, str):
            return reply(content)
        return reply("".join(str(part.get("text", "")) for part in content))
    return reply("")
