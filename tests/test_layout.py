"""The layout's rules, checked: one import name, workflow code free of client and harness code,
a thin worker CLI, and a package `__init__` the workflow sandbox can import for free."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workers import ROOT

GENERIC = {"workflows", "activities", "fake_openai", "worker", "demo", "connection", "telemetry"}
"""The top-level names the project installed before it became one package."""

WORKFLOW_MODULES = sorted((ROOT / "workflows").glob("*.py"))

# Code that talks to a Temporal server or runs processes: never part of workflow code.
CLIENT_OR_HARNESS = (
    "temporalio.client",
    "temporalio.testing",
    "temporalio.worker",
    "temporalio.service",
    "durable_responses.testing",
    "durable_responses.follow",
    "durable_responses.run",
    "durable_responses.connection",
    "durable_responses.namespace",
    "durable_responses.plugin",
    "durable_responses.worker",
    "durable_responses.demo",
    "openai",
    "subprocess",
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", WORKFLOW_MODULES, ids=[p.name for p in WORKFLOW_MODULES])
def test_workflow_modules_import_no_client_or_harness_code(path: Path):
    bad = {
        name
        for name in _imports(path)
        for banned in CLIENT_OR_HARNESS
        if name == banned or name.startswith(banned + ".")
    }
    assert not bad, f"{path.name} imports {sorted(bad)}"
    assert not {name for name in _imports(path) if name.split(".")[0] in GENERIC}


def test_code_imports_the_package_never_the_folders():
    offenders = []
    for folder in ("durable_responses", "workflows", "activities", "fake_openai", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            if "outside_project" in path.parts or path.is_symlink():
                continue
            top = {name.split(".")[0] for name in _imports(path)}
            if top & GENERIC:
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"generic top-level imports in {sorted(set(offenders))}"


def test_worker_cli_is_thin():
    lines = (ROOT / "durable_responses" / "worker.py").read_text().splitlines()
    assert len(lines) <= 165, f"durable_responses/worker.py has {len(lines)} lines (about 150)"
    assert len((ROOT / "worker.py").read_text().splitlines()) <= 10


def test_importing_the_package_loads_nothing_else():
    # The sandbox runs durable_responses/__init__.py for every workflow run; a model loaded
    # there would be a sandbox-local copy that pass-through imports then mix with the real one.
    code = (
        "import sys, durable_responses; "
        "print(sorted(m for m in sys.modules if m.startswith('durable_responses')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['durable_responses']"


def test_ci_runs_the_readme_test_command_inside_a_fresh_venv():
    """CI must run what a user runs, where a user runs it: a test that needs packages from
    outside the virtual environment (the packaging test once did) fails CI, not users."""
    readme = (ROOT / "README.md").read_text().splitlines()
    (command,) = [
        line.split("#")[0].strip()
        for line in readme[:15]
        if "pytest" in line and line.startswith("pip install")
    ]
    script = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in script, f"{command!r} is not a line of .ci/run"
    before = script[: script.index(command)]
    assert any(" -m venv " in line for line in before), "no fresh venv before the command"
    assert any("/bin/activate" in line for line in before), "the venv is not activated"


CONTRACT_READERS = sorted(
    [
        *(ROOT / "activities").glob("*.py"),
        *(ROOT / "durable_responses" / "gateway").glob("*.py"),
        *(ROOT / "durable_responses" / "webhooks").glob("*.py"),
        *(ROOT / "durable_responses" / "testing").glob("*.py"),
        ROOT / "durable_responses" / "telemetry.py",
        ROOT / "durable_responses" / "namespace.py",
        # The client side of a run: the handle and what builds on it.
        ROOT / "durable_responses" / "run.py",
        ROOT / "durable_responses" / "follow.py",
        ROOT / "durable_responses" / "_follow_command.py",
        ROOT / "durable_responses" / "demo.py",
    ]
)


@pytest.mark.parametrize(
    "path", CONTRACT_READERS, ids=[str(p.relative_to(ROOT)) for p in CONTRACT_READERS]
)
def test_activities_and_clients_read_wire_names_from_the_contract_not_workflow_code(path: Path):
    """Names a workflow shares with its callers live in `durable_responses.models.names`:
    activities, the gateway, the receiver and telemetry never import workflow modules
    (which would also make a circle: workflows import the activities)."""
    bad = {
        name
        for name in _imports(path)
        if name == "durable_responses.workflows" or name.startswith("durable_responses.workflows.")
    }
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
