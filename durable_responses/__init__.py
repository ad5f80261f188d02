"""durable-responses: OpenAI background responses that survive any crash, on Temporal.

    from durable_responses import DurableResponsesPlugin, ResponseRequest

Everything installs under this one name. The subpackages `workflows`, `activities` and
`fake_openai` are the repository's top-level folders of the same names (README, "Layout").
Importing this package loads nothing: each name loads on first use. The workflow sandbox
imports this `__init__` for every workflow run, and pass-through imports of the models must
find no sandbox-local copy of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import (
        DEFAULT_MODEL,
        TASK_QUEUE,
        ApprovalRequest,
        BackgroundOptions,
        Citation,
        ErrorType,
        FunctionCall,
        OutputIncomplete,
        ParsedResult,
        PollPolicy,
        Progress,
        Reasoning,
        ResponseErrorInfo,
        ResponseParams,
        ResponseRequest,
        ResponseResult,
        StreamPolicy,
        StreamState,
        TextRequest,
        TextSlice,
        Usage,
        WebSearch,
        is_terminal,
    )
    from .plugin import DurableResponsesPlugin
    from .run import RunHandle

__all__ = [
    "DEFAULT_MODEL",
    "TASK_QUEUE",
    "ApprovalRequest",
    "BackgroundOptions",
    "Citation",
    "DurableResponsesPlugin",
    "ErrorType",
    "FunctionCall",
    "OutputIncomplete",
    "ParsedResult",
    "PollPolicy",
    "Progress",
    "Reasoning",
    "ResponseErrorInfo",
    "ResponseParams",
    "ResponseRequest",
    "ResponseResult",
    "RunHandle",
    "StreamPolicy",
    "StreamState",
    "TextRequest",
    "TextSlice",
    "Usage",
    "WebSearch",
    "is_terminal",
]


def __getattr__(name: str) -> Any:
    if name == "DurableResponsesPlugin":
        from .plugin import DurableResponsesPlugin

        return DurableResponsesPlugin
    if name == "RunHandle":
        from .run import RunHandle

        return RunHandle
    if name in __all__:
        from . import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
