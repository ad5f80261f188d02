"""Packaging: the wheel installs one import name, `durable_responses`, and an outside project
with top-level `workflows` and `activities` packages of its own runs ours from that wheel."""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.workers import ROOT, address_of

OUTSIDE_PROJECT = Path(__file__).resolve().parent / "outside_project"
"""A project of someone else's (`run.py`, `workflows/`, `activities/`), copied for each run."""

SCRIPTS = {
    "durable-responses-worker",
    "durable-responses-follow",
    "durable-responses-demo",
    "durable-responses-webhooks",
    "durable-responses-gateway",
}
QUESTIONS = ["Why is the sky blue?", "Why is the sea salty?", "Summarise why cats purr."]

NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".benchmarks",
    ".temporal",
    ".venv",
    "venv",
)
"""What a copy of the checkout leaves out: build output, caches, local state."""

RUN_TIMEOUT = 120
"""Seconds the outside project's `run.py` gets; it needs a few."""


def _run(command: Sequence[str | Path]) -> None:
    """Run a command to completion; fail the test with its output if it fails."""
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(_report(command, done.returncode, done.stdout, done.stderr))


def _site_dirs() -> list[str]:
    """The folders this interpreter imports installed distributions from, in order.

    Not `python -m venv --system-site-packages`: from inside a virtual environment that links
    to the *base* interpreter's site-packages, not to this one's (where the test extra put
    temporalio, openai, pydantic...). `sys.path` is what this interpreter really uses,
    however it was set up (a venv, the system Python, uv, conda, a user site).
    """
    names = {"site-packages", "dist-packages"}
    return [entry for entry in sys.path if Path(entry).name in names and Path(entry).is_dir()]


def _venv_over_this_interpreter(venv: Path) -> Path:
    """A new, empty virtual environment that also sees this interpreter's installed
    distributions (after its own site-packages), so nothing is downloaded; returns its python.

    Each folder is added with `site.addsitedir`, which also runs their `.pth` files, as
    `--system-site-packages` would. pip comes from there too (`--without-pip`), and installs
    into the new environment.
    """
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    lines = [f"import site; site.addsitedir({folder!r})" for folder in _site_dirs()]
    (Path(purelib) / "_outer_site_packages.pth").write_text("\n".join(lines) + "\n")
    return python


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def _report(command: Sequence[str | Path], returncode: object, stdout: str, stderr: str) -> str:
    return (
        f"{' '.join(map(str, command))} -> {returncode}\n"
        f"--- stdout ---\n{stdout[-10_000:]}\n--- stderr ---\n{stderr[-10_000:]}"
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once from a clean copy of the checkout.

    A copy, because pip builds in the source folder: setuptools would write `build/` and
    `*.egg-info` into the checkout, and files left in an old `build/lib` (modules since
    removed) would end up in the wheel.
    """
    base = tmp_path_factory.mktemp("wheel")
    source, out = base / "source", base / "dist"
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_SOURCES)
    # Offline: setuptools >= 70.1 (the test extra) builds wheels by itself.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            out,
            source,
        ]
    )
    (built,) = out.glob("durable_responses-*.whl")
    return built


def test_wheel_installs_only_the_durable_responses_import_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (dist_info,) = {name.split("/")[0] for name in names if ".dist-info/" in name}

        def read(name: str) -> str:
            return archive.read(f"{dist_info}/{name}").decode()

        top_level = read("top_level.txt").split()
        record = [row.split(",")[0] for row in read("RECORD").splitlines() if row]
        entry_points = configparser.ConfigParser()
        entry_points.read_string(read("entry_points.txt"))

    assert top_level == ["durable_responses"]
    assert sorted(record) == sorted(names)
    installed = [path for path in record if not path.startswith(f"{dist_info}/")]
    assert [path for path in installed if not path.startswith("durable_responses/")] == []
    # The linked folders arrive as real subpackages, not as links nor as top-level packages.
    assert {
        "durable_responses/workflows/background_response.py",
        "durable_responses/activities/responses.py",
        "durable_responses/fake_openai/server.py",
        "durable_responses/gateway/static/watch.html",  # the gateway's watch page
    } <= set(installed)
    scripts = dict(entry_points["console_scripts"])
    assert scripts.keys() >= SCRIPTS
    assert all(target.startswith("durable_responses.") for target in scripts.values()), scripts


async def test_an_outside_project_with_its_own_workflows_and_activities_embeds_us(
    wheel, tmp_path, dev_env, fake_server, fake
):
    project = tmp_path / "project"
    shutil.copytree(OUTSIDE_PROJECT, project, ignore=NOT_SOURCES)
    venv = tmp_path / "venv"
    python = _venv_over_this_interpreter(venv)
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", wheel])

    # The venv's site-packages precede the system's on sys.path, and the editable install's
    # finder comes after the path finder on sys.meta_path, so the wheel's copy wins; run.py
    # checks it (not `-I`: that would drop the project folder from sys.path, and no flag hides
    # the system site-packages alone).
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env |= {"OPENAI_BASE_URL": fake_server.base_url, "OPENAI_API_KEY": "sk-test"}
    env |= {"TEMPORAL_ADDRESS": address_of(dev_env)}
    command = [str(python), "run.py", address_of(dev_env), *QUESTIONS]
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            command,
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as err:
        stdout, stderr = (_text(out) for out in (err.stdout, err.stderr))
        pytest.fail(_report(command, f"timed out after {RUN_TIMEOUT} s", stdout, stderr))
    assert done.returncode == 0, _report(command, done.returncode, done.stdout, done.stderr)
    output = json.loads(done.stdout.strip().splitlines()[-1])

    origins = {name: Path(file) for name, file in output["origins"].items()}
    assert origins["workflows"].is_relative_to(project.resolve()), origins
    assert origins["activities"].is_relative_to(project.resolve()), origins
    assert origins["durable_responses"].is_relative_to(venv.resolve()), origins
    assert not origins["durable_responses"].is_relative_to(ROOT), origins

    result = output["result"]
    assert result["shouted"] == QUESTIONS[0].upper() + "!"  # their own activity ran
    answers = [result["polled"], result["streamed"], result["structured"]]
    assert len({answer["response_id"] for answer in answers}) == 3
    for answer in answers:
        record = fake.response(answer["response_id"])
        assert answer["status"] == record.status == "completed"
        assert answer["output_text"] == record.text != ""
    assert result["polled"]["polls"] >= 1
    assert result["streamed"]["chunks"] >= 1
    # The structured answer: the fake's JSON for their `Summary` schema, parsed into it.
    assert json.loads(result["structured"]["output_text"]) == result["summary"]
    assert set(result["summary"]) == {"title", "key_points"}
    assert fake.counts()["creates"] == 3


def test_an_outside_project_tests_its_workflows_with_the_kit_from_the_wheel(wheel, tmp_path):
    """Issue 27's acceptance: the outside project's own tests (`tests/outside_project/tests`),
    run with the installed wheel's testing kit under time skipping: a 40-minute deep-research
    pipeline polled as the policy says, the trip planner's approval answered at once (2-hour
    deadline) or after 6 hours (12-hour deadline), and one answered after 3 hours failing
    `DeadlineExceeded`. Each prints its wall time (`WALL`), which the test reports."""
    project = tmp_path / "project"
    shutil.copytree(OUTSIDE_PROJECT, project, ignore=NOT_SOURCES)
    python = _venv_over_this_interpreter(tmp_path / "venv")
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", wheel])
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env.pop("PYTEST_XDIST_WORKER", None)
    command = [str(python), "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
    done = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert done.returncode == 0, _report(command, done.returncode, done.stdout, done.stderr)
    walls = [float(line.split()[-1]) for line in done.stdout.splitlines() if "WALL" in line]
    assert len(walls) == 4, done.stdout
    print(f"outside project's kit tests, wall seconds each: {walls}")
