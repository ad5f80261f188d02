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


CREATE_ACTIVITY = "create_background_response"
"""Creates the background response (`background=true`)."""
RETRIEVE_ACTIVITY = "retrieve_response"
"""One poll of the response."""
CANCEL_ACTIVITY = "cancel_response"
"""Cancels the response upstream."""
STREAM_READER_ACTIVITY = "stream_background_response"
"""The activity that reads a stream; its heartbeat carries what it read but not yet recorded."""
CHUNK_READER_ACTIVITY = "read_stream_chunk"
"""Reads one chunk of a stream (runs from before the stream reader)."""
MEASURE_INPUT_ACTIVITY = "measure_create_input"
"""The encoded size of a create's input, which workflow code cannot compute."""
REAP_ACTIVITY = "reap_orphaned_responses"
"""Cancels responses that closed runs left running."""


# Signals, queries and updates of our workflows.
PROGRESS_QUERY = "progress"
"""Both response workflows: status, response id, polls, cursor, elapsed time (`Progress`)."""
STATE_QUERY = "state"
"""A stream's text so far (`StreamState`); a session's state (`SessionState`)."""
VIEW_QUERY = "view"
"""A stream's recording as a reader sees it (`RunView`): the gateway's events come from it."""
TEXT_QUERY = "text"
"""A slice of a stream's text by offset (`TextSlice`): followers read it."""
TEXT_AFTER_UPDATE = "text_after"
"""A stream's text after an offset, waiting for some (`TextSlice`)."""
BATCH_SIGNAL = "record_stream_batch"
"""The stream reader records what it read in its own run (`StreamBatch`)."""
WEBHOOK_SIGNAL = "openai_webhook"
"""The signal a workflow wakes on: its response reached a terminal status."""
WEBHOOKS_UPDATE = "set_webhooks"
"""The update that switches a running run between polling and webhooks (`WebhookSetting`)."""
APPROVE_UPDATE = "approve"
"""The update that answers a pending approval: `{"id": "mcpr_…", "approve": true}`."""
PENDING_QUERY = "pending_approvals"
"""The query that lists the approvals a run waits on."""
SEND_UPDATE = "send"
"""A session's next message, answered when its agent loop ends (`SessionReply`)."""
CLOSE_UPDATE = "close"
"""Ends a session (`SessionState`)."""

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

METRIC_GATEWAY_REQUESTS = "durable_responses_gateway_requests"
METRIC_GATEWAY_LATENCY = "durable_responses_gateway_request_latency_seconds"
METRIC_GATEWAY_OPEN_STREAMS = "durable_responses_gateway_open_streams"
METRIC_GATEWAY_RUNS_STARTED = "durable_responses_gateway_runs_started"
GATEWAY_METRICS = (
    METRIC_GATEWAY_REQUESTS,
    METRIC_GATEWAY_LATENCY,
    METRIC_GATEWAY_OPEN_STREAMS,
    METRIC_GATEWAY_RUNS_STARTED,
)
"""The metrics the gateway emits (`gateway/metrics.py`), beside the SDK client's own."""


def response_workflow(*, stream: bool) -> str:
    """The workflow that runs one response: streamed, or polled."""
    return STREAMING_RESPONSE_WORKFLOW if stream else BACKGROUND_RESPONSE_WORKFLOW
