"""Activities calling the OpenAI Responses API, their inputs and outputs, the error translator."""

from .errors import retry_after, to_application_error
from .models import (
    CreateResponseInput,
    EncodedSize,
    ReadStreamChunkInput,
    ResponseRef,
    ResponseSnapshot,
    StreamBatch,
    StreamChunk,
    StreamHeartbeat,
    StreamReaderEnd,
    StreamReaderInput,
)
from .responses import ResponsesActivities
from .snapshots import snapshot_of

__all__ = [
    "CreateResponseInput",
    "EncodedSize",
    "ReadStreamChunkInput",
    "ResponseRef",
    "ResponseSnapshot",
    "ResponsesActivities",
    "StreamBatch",
    "StreamChunk",
    "StreamHeartbeat",
    "StreamReaderEnd",
    "StreamReaderInput",
    "retry_after",
    "snapshot_of",
    "to_application_error",
]
