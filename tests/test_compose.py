"""docker-compose.yml is valid against the Compose specification and wires the worker right.

No Docker engine runs here: the stack is validated, not started.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).parent / "data" / "compose-spec.schema.json"  # compose-spec, Apache-2.0


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_matches_the_compose_spec():
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(_compose())


def test_worker_service_runs_our_worker_against_the_stack():
    services = _compose()["services"]
    assert {"postgresql", "temporal", "temporal-ui", "worker"} <= services.keys()
    worker = services["worker"]
    assert worker["command"] == ["python", "worker.py"]
    assert worker["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert worker["environment"]["DURABLE_RESPONSES_TASK_QUEUE"] == "durable-responses"
    assert worker["stop_signal"] == "SIGTERM"  # graceful hand-over of running streams
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "postgresql"
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():  # everything the image copies exists
        if line.startswith("COPY "):
            for path in line.split()[1:-1]:
                assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
    for needed in ("activities", "workflows", "fake_openai", "worker.py"):
        assert needed in dockerfile
