"""`DurableResponsesPlugin`: everything a client and a worker need, in one line.

    client = await Client.connect("localhost:7233", plugins=[DurableResponsesPlugin()])
    worker = Worker(client, task_queue="my-pipeline", workflows=[MyPipeline])

The worker then also runs our workflows and activities, with the pydantic converter, the
worker tuning they were measured with, and the search attributes they upsert registered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol

from openai import AsyncOpenAI
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)
from temporalio.plugin import SimplePlugin
from temporalio.worker import Worker, WorkerConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from durable_responses import connection
from durable_responses.activities import ResponsesActivities
from durable_responses.codec import PYDANTIC_CONVERTER
from durable_responses.namespace import ensure_search_attributes
from durable_responses.workflows import WORKFLOWS

PLUGIN_NAME = "durable_responses.DurableResponsesPlugin"

STICKY_QUEUE_TIMEOUT = timedelta(seconds=2)
"""How long a workflow task waits for the worker that cached the workflow before any worker
takes it (SDK default 10 s): the largest part of recovery time after a worker is killed."""
HEARTBEAT_THROTTLE = timedelta(milliseconds=500)
"""Heartbeats reach the server every half second (SDK: 0.8 x the heartbeat timeout): a short
heartbeat timeout then detects a dead worker fast without false alarms, and followers see a
stream reader's unrecorded tail (its heartbeat details) half a second after it is read. Two
heartbeat calls a second per live stream; no history."""
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
"""On SIGTERM, running activities get this long to hand over; stream reads return at once."""

PASSED_THROUGH = "durable_responses"
"""Imported once per worker, not once per workflow run: the sandbox takes it from outside."""

WORKER_TUNING: dict[str, tuple[timedelta, timedelta]] = {
    "sticky_queue_schedule_to_start_timeout": (timedelta(seconds=10), STICKY_QUEUE_TIMEOUT),
    "max_heartbeat_throttle_interval": (timedelta(seconds=60), HEARTBEAT_THROTTLE),
    "graceful_shutdown_timeout": (timedelta(), GRACEFUL_SHUTDOWN),
}
"""Worker option: (the SDK's default, ours). Ours applies only where the SDK default is left."""


class ActivitySet(Protocol):
    """What `DurableResponsesPlugin(activities=...)` takes: our activities, by their names
    (`ResponsesActivities`, or `durable_responses.testing.ScriptedProvider` in tests)."""

    def all(self) -> list[Callable[..., Any]]: ...


def pydantic_converter(
    existing: DataConverter | None, codec: PayloadCodec | None = None
) -> DataConverter:
    """The pydantic payload converter, keeping the codec and failure converter already set.

    A converter with its own payload converter class is the caller's choice and is kept. With
    `codec` and no codec set yet, the result uses it and encodes failure messages too.
    """
    converter = existing or PYDANTIC_CONVERTER
    if converter.payload_converter_class is DataConverter.default.payload_converter_class:
        converter = dataclasses.replace(converter, payload_converter_class=PydanticPayloadConverter)
    if codec is not None and converter.payload_codec is None:
        converter = dataclasses.replace(
            converter,
            payload_codec=codec,
            failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
        )
    return converter


def passing_through_our_modules(runner: WorkflowRunner | None) -> WorkflowRunner:
    """The worker's sandbox, taking `durable_responses` from outside it (see README, Throughput).

    The sandbox re-imports every module it does not pass through, for every workflow run: a
    caller's workflow that uses `durable_responses.workflow` (`run_response`, `run_agent`)
    would import our package afresh each time, as our own workflows did before they left the
    sandbox (`workflows/_sandbox.py`). Our modules keep no module state.
    """
    if runner is None:
        runner = SandboxedWorkflowRunner()
    if isinstance(runner, SandboxedWorkflowRunner):
        return dataclasses.replace(
            runner, restrictions=runner.restrictions.with_passthrough_modules(PASSED_THROUGH)
        )
    return runner


class DurableResponsesPlugin(SimplePlugin):
    """Temporal plugin: our converter, workflows, activities, worker tuning, search attributes.

    Pass it to `Client.connect(plugins=[...])` and every worker built on that client runs
    `BackgroundResponseWorkflow`, `StreamingResponseWorkflow` and their activities next to the
    caller's own. Passed to a single `Worker(plugins=[...])` it adds workflows, activities and
    tuning only: a worker takes its data converter (pydantic, codec) from its client.

    Args:
        payload_codec: Codec for every payload the client and workers write (compression and
            encryption: `durable_responses.codec.codec_chain`). Default: the one the
            environment asks for (`DURABLE_RESPONSES_CODEC_KEYS`, see `connection.py`), unless
            the client already has a codec of its own.
        openai_client: The client the activities call OpenAI with; it must have
            `max_retries=0` (Temporal retries). Default: from `OPENAI_API_KEY` and
            `OPENAI_BASE_URL`, created when the first worker is built, so a client that only
            starts workflows needs no key.
        activities: Ready-made activities instead of `openai_client`: `ResponsesActivities`
            of your own, or `durable_responses.testing.ScriptedProvider` in tests.
        default_model: Model of requests that name none (default `DURABLE_RESPONSES_MODEL`,
            then `o3`).
        register_search_attributes: At worker start, add the search attributes our workflows
            upsert if the namespace lacks them; refuse to start if they are missing and
            cannot be added.
        tune_worker: Apply `WORKER_TUNING` where the worker keeps the SDK default.
        webhooks: A webhook receiver (`durable_responses.webhooks`) wakes our workflows when
            their responses end: polls become a slow safety net (`PollPolicy`). Only set it
            once OpenAI delivers this project's webhooks to a receiver of yours.
    """

    def __init__(
        self,
        *,
        payload_codec: PayloadCodec | None = None,
        openai_client: AsyncOpenAI | None = None,
        activities: ActivitySet | None = None,
        default_model: str | None = None,
        register_search_attributes: bool = True,
        tune_worker: bool = True,
        webhooks: bool = False,
    ) -> None:
        if openai_client is not None and activities is not None:
            raise ValueError("pass openai_client or activities, not both")
        self._openai_client = openai_client
        self._activities = activities
        self._default_model = default_model
        self._register = register_search_attributes
        self._tune = tune_worker
        self._webhooks = webhooks
        self._registered: set[tuple[str, str]] = set()
        codec = payload_codec if payload_codec is not None else connection.payload_codec()
        super().__init__(
            PLUGIN_NAME,
            data_converter=lambda existing: pydantic_converter(existing, codec),
            workflows=WORKFLOWS,
            activities=self._add_activities,
            workflow_runner=passing_through_our_modules,
        )

    @property
    def responses_activities(self) -> ActivitySet:
        """The activities this plugin registers, built from the environment on first use."""
        if self._activities is None:
            if self._openai_client is not None:
                self._activities = ResponsesActivities(
                    self._openai_client,
                    default_model=self._default_model,
                    webhooks=self._webhooks,
                )
            else:
                self._activities = ResponsesActivities.from_env(
                    default_model=self._default_model, webhooks=self._webhooks
                )
        return self._activities

    def _add_activities(
        self, existing: Sequence[Callable[..., Any]] | None
    ) -> Sequence[Callable[..., Any]]:
        return [*(existing or []), *self.responses_activities.all()]

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """See base class; also tightens the options in `WORKER_TUNING` the caller left alone."""
        config = super().configure_worker(config)
        if self._tune:
            for option, (sdk_default, ours) in WORKER_TUNING.items():
                if config.get(option, sdk_default) == sdk_default:
                    config[option] = ours  # type: ignore[literal-required]
        return config

    async def prepare(self, client: Client) -> None:
        """Register the search attributes on the client's namespace, once per namespace.

        Workers do this before they poll; call it first to fail before anything starts.
        Raises `SearchAttributesMissing` if they are missing and cannot be added.
        """
        key = (client.service_client.config.target_host, client.namespace)
        if self._register and key not in self._registered:
            await ensure_search_attributes(client)
            self._registered.add(key)

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Any]) -> None:
        """See base class; registers the search attributes before the worker polls."""
        await self.prepare(worker.client)
        await super().run_worker(worker, next)
