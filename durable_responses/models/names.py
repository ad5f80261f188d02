"""Wire names, defined once: workflow and activity types, the search attributes our workflows
upsert and the metrics they emit. Running workflows, the Temporal CLI, dashboards and every
client name them, so a value here never changes; modules elsewhere import it from here.

A leaf of the contract ring: it imports only the SDK's data type for search-attribute keys.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

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


OPENAI_RESPONSE_ID = SearchAttributeKey.for_keyword("OpenAIResponseId")
"""The upstream response id (`resp_...`), set as soon as the response is created."""
OPENAI_RESPONSE_STATUS = SearchAttributeKey.for_keyword("OpenAIResponseStatus")
"""The last upstream status seen: queued, in_progress, completed, incomplete, failed, cancelled."""
OPENAI_MODEL = SearchAttributeKey.for_keyword("OpenAIModel")
"""The model that serves the response, as the provider names it."""
SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[str], ...] = (
    OPENAI_RESPONSE_ID,
    OPENAI_RESPONSE_STATUS,
    OPENAI_MODEL,
)
"""Every search attribute our workflows upsert: the namespace must have them registered."""

METRIC_CREATED = "durable_responses_created"
METRIC_FINISHED = "durable_responses_finished"
METRIC_POLLS = "durable_responses_polls"
METRIC_STREAM_RESUMES = "durable_responses_stream_resumes"
METRIC_COMPLETION_LAG = "durable_responses_completion_lag_seconds"
METRIC_TOKENS = "durable_responses_tokens"
METRICS = (
    METRIC_CREATED,
    METRIC_FINISHED,
    METRIC_POLLS,
    METRIC_STREAM_RESUMES,
    METRIC_COMPLETION_LAG,
    METRIC_TOKENS,
)
"""The metrics our workflows emit (`workflows/metrics.py`), beside the SDK's own."""


def response_workflow(*, stream: bool) -> str:
    """The workflow that runs one response: streamed, or polled."""
    return STREAMING_RESPONSE_WORKFLOW if stream else BACKGROUND_RESPONSE_WORKFLOW
