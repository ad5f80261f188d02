"""The one place that turns OpenAI SDK errors into Temporal `ApplicationError`s.

Retryable: 408, 409, 429 (rate limit), 5xx, connection errors and timeouts, honouring the API's
`retry-after-ms` / `retry-after` through `next_retry_delay`. Non-retryable: everything a retry
cannot fix (400, 401, 403, 404, 422, 429 `insufficient_quota`, an expired stream). The API's
message is kept, with key material redacted, and `type` is an `ErrorType` constant a caller
can match on. The SDK exception is not chained: the failure converter would write its text,
unredacted, into history as the failure's cause. A stream's `error` event goes through
`stream_error`.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import time
from collections.abc import Iterator
from datetime import timedelta

import openai
from openai.types.responses import ResponseErrorEvent
from temporalio.exceptions import ApplicationError

from durable_responses.models import ErrorType

_STATUS_TYPES: dict[int, tuple[str, bool]] = {
    400: (ErrorType.BAD_REQUEST, False),
    401: (ErrorType.AUTHENTICATION, False),
    403: (ErrorType.PERMISSION_DENIED, False),
    404: (ErrorType.NOT_FOUND, False),
    408: (ErrorType.REQUEST_TIMEOUT, True),
    409: (ErrorType.CONFLICT, True),
    422: (ErrorType.UNPROCESSABLE, False),
    429: (ErrorType.RATE_LIMITED, True),
}
_MAX_RETRY_AFTER = timedelta(minutes=10)

_KEY_MATERIAL = re.compile(r"\b(sk-[A-Za-z0-9_*-]+)|\bBearer\s+\S+")
"""OpenAI keys (`sk-...`, `sk-proj-...`), whole or masked as the API quotes them in a 401
("Incorrect API key provided: sk-proj-****...wxyz"), and bearer tokens."""


def redact(text: str) -> str:
    """`text` without key material: even a masked key's last characters identify it."""
    return _KEY_MATERIAL.sub(lambda m: "sk-[redacted]" if m.group(1) else "Bearer [redacted]", text)


def is_stream_expired(err: openai.APIStatusError) -> bool:
    """The API refuses to resume a stream outside its retention window with this 400."""
    return err.status_code == 400 and "can no longer be streamed" in err.message


def retry_after(headers: object) -> timedelta | None:
    """The server's requested wait: `retry-after-ms`, else `retry-after` (seconds or a date)."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    delay: float | None = None
    raw_ms = get("retry-after-ms")
    raw = get("retry-after")
    try:
        if raw_ms is not None:
            delay = float(raw_ms) / 1000
        elif raw is not None:
            try:
                delay = float(raw)
            except ValueError:
                parsed = email.utils.parsedate_to_datetime(raw)
                delay = parsed.timestamp() - time.time()
    except (TypeError, ValueError):
        return None
    if delay is None or delay < 0:
        return None
    return min(timedelta(seconds=delay), _MAX_RETRY_AFTER)


def _resource_unavailable(err: openai.APIStatusError) -> bool:
    """Flex processing's 429: no capacity now (not a rate limit, not charged). The code is
    ASSUMED (OpenAI documents the status and "Resource Unavailable"), so the message counts too."""
    return err.code == "resource_unavailable" or "resource unavailable" in err.message.lower()


def to_application_error(err: openai.OpenAIError) -> ApplicationError:
    """Map an SDK exception to an `ApplicationError`; raise the result `from err`."""
    if isinstance(err, openai.APITimeoutError):
        return ApplicationError(
            f"OpenAI request timed out: {redact(str(err))}",
            type=ErrorType.TIMEOUT,
            non_retryable=False,
        )
    if isinstance(err, openai.APIConnectionError):
        return ApplicationError(
            redact(f"Could not reach OpenAI: {err} ({err.__cause__!r})"),
            type=ErrorType.CONNECTION_ERROR,
            non_retryable=False,
        )
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        details = {
            "status_code": status,
            "code": err.code,
            "param": err.param,
            "type": err.type,
            "request_id": err.request_id,
        }
        if status >= 500:
            error_type, retryable = ErrorType.SERVER_ERROR, True
        elif status == 429 and err.code == "insufficient_quota":
            error_type, retryable = ErrorType.QUOTA_EXCEEDED, False
        elif status == 429 and _resource_unavailable(err):
            error_type, retryable = ErrorType.RESOURCE_UNAVAILABLE, True
        elif is_stream_expired(err):
            error_type, retryable = ErrorType.STREAM_EXPIRED, False
        else:
            error_type, retryable = _STATUS_TYPES.get(status, (ErrorType.API_ERROR, False))
        return ApplicationError(
            f"OpenAI {status}: {redact(err.message)}",
            details,
            type=error_type,
            non_retryable=not retryable,
            next_retry_delay=retry_after(err.response.headers) if retryable else None,
        )
    return ApplicationError(
        f"OpenAI client error: {redact(str(err))}", type=ErrorType.API_ERROR, non_retryable=True
    )


_RETRYABLE_STREAM_CODES = {
    None: (ErrorType.SERVER_ERROR, True),
    "server_error": (ErrorType.SERVER_ERROR, True),
    "rate_limit_exceeded": (ErrorType.RATE_LIMITED, True),
}


def stream_error(event: ResponseErrorEvent, response_id: str) -> ApplicationError:
    """An `error` event in a stream: a server or rate-limit error is retried (the retry
    reattaches); any other code (`context_length_exceeded`, `invalid_prompt`...) is the
    request's fault and would only come back on every reattach, so it is not."""
    error_type, retryable = _RETRYABLE_STREAM_CODES.get(event.code, (ErrorType.BAD_REQUEST, False))
    return ApplicationError(
        f"OpenAI stream error for {response_id}: {redact(event.message)}",
        {"code": event.code, "param": event.param},
        type=error_type,
        non_retryable=not retryable,
    )


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Around every OpenAI call of an activity: SDK errors leave as `ApplicationError`s."""
    try:
        yield
    except openai.OpenAIError as err:
        raise to_application_error(err) from None
