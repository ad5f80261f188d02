"""Workflow and activity type names: wire contracts that running workflows, the Temporal CLI
and every client name, defined once here (a leaf module: no imports)."""

from __future__ import annotations

BACKGROUND_RESPONSE_WORKFLOW = "BackgroundResponseWorkflow"
"""Create one background response and poll it with durable sleeps."""
STREAMING_RESPONSE_WORKFLOW = "StreamingResponseWorkflow"
"""Create one background response and read its stream, recording it as it is read."""
AGENT_SESSION_WORKFLOW = "AgentSessionWorkflow"
"""A conversation that lives across calls, each message an agent loop."""
REAP_WORKFLOW = "ReapOrphanedResponsesWorkflow"
"""One pass of the reaper: cancel responses that closed runs left running."""


STREAM_READER_ACTIVITY = "stream_background_response"
"""The activity that reads a stream; its heartbeat carries what it read but not yet recorded."""


def response_workflow(*, stream: bool) -> str:
    """The workflow that runs one response: streamed, or polled."""
    return STREAMING_RESPONSE_WORKFLOW if stream else BACKGROUND_RESPONSE_WORKFLOW
