"""An outside project that embeds durable-responses: its own workflows and activities, ours
from the installed wheel, all on one worker of its own.

    python run.py TEMPORAL_ADDRESS [QUESTION QUESTION QUESTION]

The address may also come from `TEMPORAL_ADDRESS`; the OpenAI client from `OPENAI_API_KEY` and
`OPENAI_BASE_URL`. Checks where every module came from (its own packages from this folder,
`durable_responses` from the environment's site-packages), runs the pipeline, and prints
`{"origins": ..., "result": ...}` as JSON on the last line of stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import sysconfig
import uuid
from pathlib import Path
from typing import Any

import durable_responses
from durable_responses import DurableResponsesPlugin
from temporalio.client import Client
from temporalio.worker import Worker

import activities
import workflows
from activities import shout
from workflows.models import PipelineInput
from workflows.pipeline import PipelineWorkflow

HERE = Path(__file__).resolve().parent
QUESTIONS = ["Why is the sky blue?", "Why is the sea salty?", "Summarise why cats purr."]


def _inside(file: str | None, folder: Path) -> bool:
    return file is not None and folder in Path(file).resolve().parents


def check_origins() -> dict[str, str]:
    """Where our packages and durable_responses were imported from; raise if not as expected.

    `workflows` and `activities` must be this project's (the script's folder comes first on
    `sys.path`), and every `durable_responses` module the wheel's copy in this environment's
    site-packages, although an editable install of the repository may be visible through
    the outer interpreter's site-packages (`tests/test_packaging.py` adds them after this
    environment's own): this environment's site-packages come first on `sys.path`, and
    setuptools' editable finder is appended to `sys.meta_path`, after the path finder.
    """
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    if sys.prefix == sys.base_prefix:
        raise RuntimeError(f"not in a virtual environment: {sys.prefix}")
    wrong = []
    for name, module in sorted(sys.modules.items()):
        top = name.split(".")[0]
        file = getattr(module, "__file__", None)
        if top in {"workflows", "activities"} and not _inside(file, HERE):
            wrong.append(f"{name} from {file}, not from {HERE}")
        if top == "durable_responses" and not _inside(file, site):
            wrong.append(f"{name} from {file}, not from {site}")
    if wrong:
        raise RuntimeError("modules from the wrong place:\n" + "\n".join(wrong))
    return {
        "workflows": str(workflows.__file__),
        "activities": str(activities.__file__),
        "durable_responses": str(durable_responses.__file__),
        "site_packages": str(site),
    }


async def main(address: str, questions: list[str]) -> dict[str, Any]:
    """Run the pipeline on a worker of this project's own, with the plugin on its client."""
    check_origins()
    client = await Client.connect(address, plugins=[DurableResponsesPlugin()])
    task_queue = f"outside-project-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=task_queue, workflows=[PipelineWorkflow], activities=[shout]
    ):
        result = await client.execute_workflow(
            PipelineWorkflow.run,
            PipelineInput(questions=questions),
            id=f"pipeline-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    # Again: running the pipeline imported our workflows, activities and models too.
    return {"origins": check_origins(), "result": result.model_dump(mode="json")}


if __name__ == "__main__":
    args = sys.argv[1:]
    address = args[0] if args else os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")
    output = asyncio.run(main(address, args[1:] or QUESTIONS))
    print(json.dumps(output))
