"""Temporal workflows of durable-responses; register them on any worker and task queue."""

from .agent_session import AgentSessionWorkflow
from .background_response import BackgroundResponseWorkflow
from .reaper import ReapOrphanedResponsesWorkflow
from .streaming_response import StreamingResponseWorkflow

WORKFLOWS: list[type] = [
    BackgroundResponseWorkflow,
    StreamingResponseWorkflow,
    ReapOrphanedResponsesWorkflow,
    AgentSessionWorkflow,
]
"""Every workflow of the project, for `Worker(workflows=WORKFLOWS)`."""

__all__ = [
    "WORKFLOWS",
    "AgentSessionWorkflow",
    "BackgroundResponseWorkflow",
    "ReapOrphanedResponsesWorkflow",
    "StreamingResponseWorkflow",
]
