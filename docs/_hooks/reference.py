"""MkDocs hook: the reference of every command's flags and every environment variable,
generated from the code at build time so that it cannot drift.

A page asks for a piece with an HTML comment on a line of its own:

- `<!-- reference: cli MODULE -->`: that command's `--help`, as `python -m MODULE --help` prints it
  (argparse, or the worker's pydantic-settings model);
- `<!-- reference: worker-settings -->`: `WorkerSettings`, one row per field (flag, variable,
  default, meaning);
- `<!-- reference: environment MODULE -->`: `MODULE.ENVIRONMENT`, the variables it documents
  (`durable_responses.settings`: every variable the worker reads).
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MARK = re.compile(r"^<!-- reference: ([\w-]+)(?: ([\w.]+))? -->$", re.MULTILINE)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace each reference mark by what it names."""
    modules = [m.group(2) for m in MARK.finditer(markdown) if m.group(1) == "cli"]
    with ThreadPoolExecutor() as pool:  # a page of commands: their --help runs at once
        list(pool.map(cli_help, modules))
    return MARK.sub(lambda m: _render(m.group(1), m.group(2)), markdown)


def _render(kind: str, argument: str | None) -> str:
    if kind == "cli" and argument:
        return f"```text\n{cli_help(argument).rstrip()}\n```"
    if kind == "worker-settings":
        return worker_settings_table()
    if kind == "environment" and argument:
        return environment_table(argument)
    raise ValueError(f"unknown reference mark: {kind} {argument or ''}")


@functools.cache
def cli_help(module: str) -> str:
    """`python -m MODULE --help` in a child process (the commands end with `os._exit`)."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "100"},  # argparse wraps to the terminal: one width
        check=False,
    )
    if done.returncode != 0 or "usage:" not in done.stdout:
        raise RuntimeError(f"python -m {module} --help failed: {done.stderr or done.stdout}")
    return done.stdout


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def worker_settings_table() -> str:
    from durable_responses.settings import PREFIX, SHARED_VARIABLES, WorkerSettings

    rows = ["| Flag | Variable | Default | Meaning |", "|---|---|---|---|"]
    for name, field in WorkerSettings.model_fields.items():
        variable = SHARED_VARIABLES.get(name, PREFIX + name.upper())
        meaning = (field.description or "").split(" [env ")[0]
        default = "" if field.default is None else f"`{field.default}`"
        flag = "--" + name.replace("_", "-")
        rows.append(f"| `{flag}` | `{variable}` | {default} | {_cell(meaning)} |")
    return "\n".join(rows)


def environment_table(module: str) -> str:
    environment: dict[str, str] = importlib.import_module(module).ENVIRONMENT
    rows = ["| Variable | Meaning |", "|---|---|"]
    for name, meaning in environment.items():
        rows.append(f"| `{name}` | {_cell(meaning.split(' [env ')[0])} |")
    return "\n".join(rows)
