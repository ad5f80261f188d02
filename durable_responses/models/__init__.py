"""The public models: what callers send (`request`), get back (`result`) and follow (`follow`)."""

from .follow import StreamState, StreamTail, TextRequest, TextSlice
from .request import (
    DEFAULT_MODEL,
    METADATA_WORKFLOW_KEY,
    RESERVED_PARAMS,
    TASK_QUEUE,
    PollPolicy,
    Reasoning,
    ResponseParams,
    ResponseRequest,
    StreamPolicy,
)
from .result import (
    ACTIVE_STATUSES,
    ErrorType,
    ParsedResult,
    Progress,
    ResponseErrorInfo,
    ResponseResult,
    ResponseStatus,
    Usage,
    is_terminal,
    text_format_param,
)

__all__ = [
    "ACTIVE_STATUSES",
    "DEFAULT_MODEL",
    "METADATA_WORKFLOW_KEY",
    "RESERVED_PARAMS",
    "TASK_QUEUE",
    "ErrorType",
    "ParsedResult",
    "PollPolicy",
    "Progress",
    "Reasoning",
    "ResponseErrorInfo",
    "ResponseParams",
    "ResponseRequest",
    "ResponseResult",
    "ResponseStatus",
    "StreamPolicy",
    "StreamState",
    "StreamTail",
    "TextRequest",
    "TextSlice",
    "Usage",
    "is_terminal",
    "text_format_param",
]
