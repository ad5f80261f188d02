"""Remove the fake Responses API from an installed durable-responses: the production image's step.

The wheel holds `durable_responses.fake_openai` (it is part of the package: the worker's `--dev`
imports it lazily, the demo needs it). The Dockerfile's `worker` stage runs this in the same
step that installs the wheel, so no layer of the production image holds the fake, the demo or
their launchers. Fails if any of them is still importable or on PATH afterwards.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import sysconfig
from pathlib import Path

MODULES = ("fake_openai", "demo")
"""Subpackage and module of durable_responses that serve the fake API."""

SCRIPTS = ("durable-responses-fake-openai", "durable-responses-demo")
"""Their console scripts."""


def main() -> None:
    """Delete `MODULES` (and their bytecode) and `SCRIPTS`, then check they are gone."""
    spec = importlib.util.find_spec("durable_responses")  # finds it without importing it
    if spec is None or spec.origin is None:
        sys.exit("strip_fake: durable_responses is not installed")
    package = Path(spec.origin).parent
    for name in MODULES:
        shutil.rmtree(package / name, ignore_errors=True)
        (package / f"{name}.py").unlink(missing_ok=True)
        for compiled in (package / "__pycache__").glob(f"{name}.*.pyc"):
            compiled.unlink()
    scripts = Path(sysconfig.get_path("scripts"))  # where pip put the console scripts
    for script in SCRIPTS:
        (scripts / script).unlink(missing_ok=True)
    left = [str(package / name) for name in MODULES if (package / name).exists()]
    left += [str(package / f"{name}.py") for name in MODULES if (package / f"{name}.py").exists()]
    left += [str(scripts / script) for script in SCRIPTS if (scripts / script).exists()]
    if left:
        sys.exit(f"strip_fake: still installed: {', '.join(left)}")
    print(f"strip_fake: removed {', '.join(MODULES)} from {package}, {', '.join(SCRIPTS)}")


if __name__ == "__main__":
    main()
