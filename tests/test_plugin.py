"""What the plugin does to a worker's configuration: our modules pass the sandbox, and the
caller's choices (runner, tuning) are kept."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI
from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, WorkerConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from durable_responses.activities import ResponsesActivities
from durable_responses.plugin import PASSED_THROUGH, STICKY_QUEUE_TIMEOUT, DurableResponsesPlugin
from durable_responses.workflows import WORKFLOWS


@pytest.fixture
def plugin() -> DurableResponsesPlugin:
    client = AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk-test", max_retries=0)
    return DurableResponsesPlugin(activities=ResponsesActivities(client))


def configured(plugin: DurableResponsesPlugin, **options: Any) -> WorkerConfig:
    config: dict[str, Any] = {
        "workflows": [],
        "activities": [],
        "workflow_runner": SandboxedWorkflowRunner(),
        **options,
    }
    return plugin.configure_worker(config)  # type: ignore[arg-type]


def test_the_callers_sandbox_takes_our_package_from_outside_and_keeps_its_own_settings(plugin):
    mine = SandboxRestrictions.default.with_passthrough_modules("my_models")
    runner = configured(plugin, workflow_runner=SandboxedWorkflowRunner(restrictions=mine))[
        "workflow_runner"
    ]
    assert isinstance(runner, SandboxedWorkflowRunner)
    assert {PASSED_THROUGH, "my_models"} <= runner.restrictions.passthrough_modules
    assert runner.restrictions.invalid_module_members == mine.invalid_module_members


def test_a_runner_of_the_callers_that_is_not_the_sandbox_is_kept(plugin):
    unsandboxed = UnsandboxedWorkflowRunner()
    assert configured(plugin, workflow_runner=unsandboxed)["workflow_runner"] is unsandboxed


def test_our_workflows_are_registered_outside_the_sandbox_and_tuning_keeps_callers_values(
    plugin,
):
    config = configured(plugin, sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_TIMEOUT * 3)
    assert set(WORKFLOWS) <= set(config["workflows"])
    assert config["sticky_queue_schedule_to_start_timeout"] == STICKY_QUEUE_TIMEOUT * 3
    # workflows/_sandbox.py: measured; the suite runs them inside the sandbox (tests.workers).
    assert not any(workflow._Definition.must_from_class(w).sandboxed for w in WORKFLOWS)
