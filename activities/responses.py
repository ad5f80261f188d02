"""Activities that call the OpenAI Responses API: create, retrieve, cancel, read a stream
(and, for runs from before the stream reader, read a stream chunk)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx2
import openai
from openai import AsyncOpenAI
from temporalio import activity

from durable_responses.models import (
    DEFAULT_MODEL,
    METADATA_WORKFLOW_KEY,
    ResponseParams,
    is_terminal,
    names,
)
from durable_responses.models.reaper import ReapReport, ReapRequest

from . import first_polls
from .chunk_reader import ChunkReader
from .errors import to_application_error, translated_errors
from .models import (
    CreateResponseInput,
    EncodedSize,
    FirstPollsHeartbeat,
    ReadStreamChunkInput,
    ResponseRef,
    ResponseSnapshot,
    StreamChunk,
    StreamReaderEnd,
    StreamReaderInput,
)
from .reaper import reap
from .sizing import fit_snapshot
from .snapshots import snapshot_of
from .stream_reader import (
    StreamReader,
)
from .streams import cancel_unrecorded
from .timeouts import CALL_TIMEOUT_SECONDS as CALL_TIMEOUT_SECONDS  # its old home
from .tracing import RESPONSE_ID, openai_call

HEARTBEAT_EVERY_SECONDS = 1.0
"""How often `read_stream_chunk` heartbeats while it waits for events."""


def _idempotency_key() -> str:
    """Same for every attempt of one activity, different for every other activity and run."""
    info = activity.info()
    return f"durable-responses/{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"


def http_client() -> httpx2.AsyncClient:
    """The HTTP transport of the client the worker builds itself: the SDK's aiohttp one
    (`openai.DefaultAioHttpClient`, its defaults and error mapping). A stream event costs a
    third of the CPU it costs through the default transport, which wakes twice per read;
    at 100 concurrent streams reading is most of a worker's work (`bench/scale.py`). A client
    passed in (`ResponsesActivities(client)`) is used as it is."""
    return openai.DefaultAioHttpClient()


class ResponsesActivities:
    """The OpenAI calls, sharing one `AsyncOpenAI` whose own retries are off.

    Temporal's retry policy is the only retry layer, so the client must have `max_retries=0`;
    `from_env()` builds one from `OPENAI_API_KEY` / `OPENAI_BASE_URL`, which never enter
    workflow history.
    """

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        default_model: str | None = None,
        heartbeat_every_seconds: float = HEARTBEAT_EVERY_SECONDS,
        webhooks: bool = False,
    ) -> None:
        if client.max_retries != 0:
            raise ValueError("ResponsesActivities needs AsyncOpenAI(max_retries=0)")
        self._client = client
        self._default_model = (
            default_model or os.environ.get("DURABLE_RESPONSES_MODEL") or DEFAULT_MODEL
        )
        self._heartbeat_every = heartbeat_every_seconds
        self.webhooks = webhooks
        """A webhook receiver signals the workflows (see `durable_responses.webhooks`)."""

    @classmethod
    def from_env(
        cls, default_model: str | None = None, *, webhooks: bool = False
    ) -> ResponsesActivities:
        """Client from `OPENAI_API_KEY` / `OPENAI_BASE_URL`; raises `openai.OpenAIError`
        without a key. The default model: `default_model`, `DURABLE_RESPONSES_MODEL`, `o3`."""
        return cls(
            # An empty OPENAI_BASE_URL (compose's default) means the real API, not "".
            AsyncOpenAI(
                max_retries=0,
                base_url=os.environ.get("OPENAI_BASE_URL") or None,
                http_client=http_client(),
            ),
            default_model=default_model,
            webhooks=webhooks,
        )

    def all(self) -> list[Callable[..., Any]]:
        """Every activity of this class, for `Worker(activities=...)`."""
        return [
            self.create_background_response,
            self.retrieve_response,
            self.cancel_response,
            self.stream_background_response,
            self.read_stream_chunk,
            self.reap_orphaned_responses,
            self.measure_create_input,
        ]

    def _create_kwargs(self, params: ResponseParams) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": params.model or self._default_model,
            "input": params.input,
            "background": True,
            "store": True,
            "metadata": {**params.metadata, METADATA_WORKFLOW_KEY: activity.info().workflow_id},
            "extra_headers": {"Idempotency-Key": _idempotency_key()},
        }
        if params.input == "" and params.previous_response_id is not None:
            del kwargs["input"]
        for name in ("instructions", "previous_response_id", "max_output_tokens"):
            value = getattr(params, name)
            if value is not None:
                kwargs[name] = value
        if params.reasoning is not None:
            kwargs["reasoning"] = params.reasoning.model_dump(exclude_none=True)
        passed = params.passed_through()
        if passed:
            # Tools, include, service tier, fields this model does not declare...: in the body
            # verbatim, whatever this SDK version names.
            kwargs["extra_body"] = passed
        return kwargs

    @activity.defn(name=names.CREATE_ACTIVITY)
    async def create_background_response(self, input: CreateResponseInput) -> ResponseSnapshot:
        """Start a background response (`background=true`): answers at once, usually queued;
        with `first_polls` (and no webhook receiver), after polling it while it is young
        (`first_polls.py`). A retried attempt resumes the polls of the response it created."""
        polling = input.first_polls is not None and not self.webhooks
        known = first_polls.resumed() if polling else None
        snapshot = None
        if known is None:
            with openai_call("create") as span, translated_errors():
                response = await self._client.responses.create(
                    **self._create_kwargs(input.params), timeout=CALL_TIMEOUT_SECONDS
                )
                span.set_attribute(RESPONSE_ID, response.id)
            activity.logger.info(
                "created background response %s (%s)", response.id, response.status
            )
            snapshot = await fit_snapshot(snapshot_of(response))
            if polling and not is_terminal(snapshot.status):
                known = FirstPollsHeartbeat(
                    response_id=snapshot.id,
                    status=snapshot.status,
                    model=snapshot.model,
                    created_at=time.time(),
                )
        else:
            activity.logger.info("resuming the first polls of %s", known.response_id)
        if known is not None:
            snapshot = await first_polls.poll_while_young(
                input, known, snapshot, self.retrieve_response, self._cancel_unrecorded
            )
        assert snapshot is not None
        return snapshot.model_copy(update={"webhooks": self.webhooks})

    async def _cancel_unrecorded(self, response_id: str) -> None:
        await cancel_unrecorded(self._client, response_id, CALL_TIMEOUT_SECONDS)

    @activity.defn(name=names.MEASURE_INPUT_ACTIVITY)
    async def measure_create_input(self, input: CreateResponseInput) -> EncodedSize:
        """The encoded size of a create's input, codec included, which workflow code cannot
        compute: a local activity, so the near-limit input it measures is never uploaded."""
        payloads = await activity.client().data_converter.encode([input])
        return EncodedSize(bytes=sum(payload.ByteSize() for payload in payloads))

    @activity.defn(name=names.RETRIEVE_ACTIVITY)
    async def retrieve_response(self, input: ResponseRef) -> ResponseSnapshot:
        """One snapshot of a response (`GET /v1/responses/{id}`)."""
        with openai_call("retrieve", input.response_id), translated_errors():
            response = await self._client.responses.retrieve(
                input.response_id, timeout=CALL_TIMEOUT_SECONDS
            )
        return await fit_snapshot(snapshot_of(response, partial_output=input.partial_output))

    @activity.defn(name=names.CANCEL_ACTIVITY)
    async def cancel_response(self, input: ResponseRef) -> ResponseSnapshot:
        """Cancel a background response upstream; one that already ended is left as it is."""
        try:
            with openai_call("cancel", input.response_id):
                response = await self._client.responses.cancel(
                    input.response_id, timeout=CALL_TIMEOUT_SECONDS
                )
        except openai.BadRequestError as err:
            # Already completed/failed/incomplete: nothing to stop. Report what it is.
            activity.logger.info("cancel of %s refused: %s", input.response_id, err.message)
            return await self.retrieve_response(input)
        except openai.OpenAIError as err:
            raise to_application_error(err) from None  # no chained SDK text (key material)
        activity.logger.info("cancelled response %s upstream", response.id)
        return await fit_snapshot(snapshot_of(response))

    @activity.defn(name=names.REAP_ACTIVITY)
    async def reap_orphaned_responses(self, input: ReapRequest) -> ReapReport:
        """Cancel responses that closed workflows left running (see `reaper.py`)."""
        return await reap(activity.client(), self._client, input)

    @activity.defn(name=names.STREAM_READER_ACTIVITY)
    async def stream_background_response(self, input: StreamReaderInput) -> StreamReaderEnd:
        """Create (or attach to) a background stream and read it to its end over one
        connection, recording batches in the workflow as it goes (see `stream_reader.py`)."""
        reader = StreamReader(self._client, self._create_kwargs, snapshot_of, input)
        return await reader.run()

    @activity.defn(name=names.CHUNK_READER_ACTIVITY)
    async def read_stream_chunk(self, input: ReadStreamChunkInput) -> StreamChunk:
        """Read one bounded chunk of a background stream after the workflow's cursor (runs
        from before the stream reader; see `chunk_reader.py`)."""
        reader = ChunkReader(
            self._client, self._create_kwargs, self._heartbeat_every, self.retrieve_response
        )
        return await reader.read(input)
