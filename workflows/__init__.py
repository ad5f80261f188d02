"""Temporal workflows of durable-responses; register them on any worker and task queue."""

from .background_response import BackgroundResponseWorkflow
from .reaper import ReapOrphanedResponsesWorkflow
from .streaming_response import StreamingResponseWorkflow

WORKFLOWS: list[type] = [
    BackgroundResponseWorkflow,
    StreamingResponseWorkflow,
    ReapOrphanedResponsesWorkflow,
]
"""Every workflow of the project, for `Worker(workflows=WORKFLOWS)`."""

__all__ = [
    "WORKFLOWS",
    "BackgroundResponseWorkflow",
    "ReapOrphanedResponsesWorkflow",
    "StreamingResponseWorkflow",
]
