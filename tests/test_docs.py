"""The docs run: `mkdocs build --strict` passes, and every fenced code block of README.md and
docs/**/*.md is checked and executed, so a block that fails when copied fails the suite.

Our own small extractor rather than pytest-examples (0.0.18 installs here): pytest-examples runs
each block inside the test process, one at a time, with settings in the fence's info string. Our
blocks are files a user pastes into a project: several files of one page import each other
(`# pipeline.py`, then `from pipeline import ...`), scripts start their own workers and call
`asyncio.run`, a worker serves until it is stopped, and shell blocks drive the Temporal CLI, so
each runs as its own process against a real Temporal dev server, the fake API and a worker, as
a user's would. The marks are HTML comments, invisible on GitHub and on the site.

The conventions (docs/development.md repeats them for writers):

- A ```python block is a complete file. A first line `# name.py` names it (other blocks of the
  page may import it); otherwise it is `block_<line>.py`. All blocks of a page are written into
  one fresh folder first. Each must compile (no top-level `await`) and pass
  `ruff check --select F` (every name defined, every import used). Then, in page order, each
  runs in that folder: `python name.py`, or `python -m pytest name.py` for a `test_*.py`, with a
  timeout, and must exit 0.
- ```bash / ```sh / ```shell / ```console blocks run in order with `bash -euo pipefail` from the
  repository's root (the commands a checkout documents); `pip install` lines are skipped (CI
  runs them before the suite).
- Blocks in any other language (```text for output, ```toml, ```json...) are not run.
- A mark on the line right above a fence changes that: `<!-- docs-test: KIND (reason) -->`, the
  reason required:
  - `not-run`: checked (python: compiled and linted) but not run;
  - `import-only`: python only: imported, so its top-level definitions execute, but its
    `__main__` block is not run (a worker's main that serves until Ctrl-C);
  - `background`: started in the background (python or shell), left running while the rest
    of the page runs, stopped at the end of the page (a worker the next blocks need);
  - `gateway`: runs with OPENAI_BASE_URL and OPENAI_API_KEY of a gateway in front of the
    workers (the OpenAI SDK reads both), instead of the fake's.
- A script that did its work and then aborted in the interpreter's finalization with the Temporal
  SDK's `PyGILState_Release` error (temporalio/sdk-python#300, docs/embedding.md says so) passes.
- Every block runs with TEMPORAL_ADDRESS (a dev server shared by the module), OPENAI_BASE_URL and
  OPENAI_API_KEY (the fake), so code reads them the way users' code does (`Client.connect` with
  `temporalio.envconfig`, `AsyncOpenAI()`); a worker serves the default task queue
  (`durable-responses`) for the Temporal CLI lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import Popen

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK_TIMEOUT = 90.0
"""Seconds one block may run (a pipeline against the fake takes a few)."""

PYTHON = {"python", "py", "python3"}
SHELL = {"bash", "sh", "shell", "console"}
KINDS = {"not-run", "import-only", "background", "gateway"}

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)$")
MARK = re.compile(r"^\s*<!-- docs-test: (?P<kind>[\w-]+)(?: \((?P<reason>[^)]+)\))? -->\s*$")
NAME = re.compile(r"^# (?P<name>[\w.-]+\.py)\s*$")


@dataclasses.dataclass
class Block:
    """One fenced code block of a page."""

    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    kind: str = "run"
    reason: str = ""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def filename(self) -> str:
        first = self.code.splitlines()[0] if self.code.strip() else ""
        named = NAME.match(first)
        return named.group("name") if named else f"block_{self.line}.py"


class DocsError(AssertionError):
    """A page breaks a convention, or one of its blocks fails."""


def extract(text: str, page: str) -> list[Block]:
    """Every fenced block of a Markdown page, with the mark right above it."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        lang = opening["info"].strip().split(" ")[0].lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            line = lines[j]
            body.append(line[indent:] if line.startswith(" " * indent) else line.lstrip())
            j += 1
        if j == len(lines):
            raise DocsError(f"{page}:{i + 1}: a code block is never closed")
        block = Block(page=page, line=i + 1, lang=lang, code="\n".join(body) + "\n")
        above = lines[i - 1] if i > 0 else ""
        mark = MARK.match(above)
        if "docs-test" in above and not mark:
            raise DocsError(f"{block.where}: unreadable mark {above.strip()!r}")
        if mark:
            if mark["kind"] not in KINDS:
                raise DocsError(f"{block.where}: unknown mark {mark['kind']!r} (one of {KINDS})")
            if not mark["reason"]:
                raise DocsError(f"{block.where}: the mark {mark['kind']!r} gives no (reason)")
            if mark["kind"] == "import-only" and lang not in PYTHON:
                raise DocsError(f"{block.where}: import-only is for python blocks")
            block.kind, block.reason = mark["kind"], mark["reason"]
        blocks.append(block)
        i = j + 1
    return blocks


def write_files(blocks: list[Block], folder: Path) -> list[Path]:
    """The page's python blocks as files of one folder (two with one name are an error)."""
    paths: list[Path] = []
    for block in blocks:
        if block.lang not in PYTHON:
            continue
        path = folder / block.filename
        if path.exists():
            raise DocsError(f"{block.where}: a second block named {block.filename}")
        path.write_text(block.code)
        paths.append(path)
    return paths


def check(blocks: list[Block], folder: Path) -> None:
    """Each python block compiles as a file and passes `ruff check --select F`."""
    problems: list[str] = []
    by_file = {block.filename: block for block in blocks if block.lang in PYTHON}
    for name, block in by_file.items():
        try:
            compile(block.code, name, "exec")
        except SyntaxError as err:
            problems.append(f"{block.where}: {name} does not compile: {err}")
    if by_file:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache"),
                *("--select", "F", "--target-version", "py311", "--output-format", "concise"),
                *sorted(by_file),
            ],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            for line in done.stdout.splitlines():
                name = line.split(":")[0]
                if name in by_file:
                    problems.append(f"{by_file[name].where}: {line}")
            if not problems:
                problems.append(f"ruff failed: {done.stdout}{done.stderr}")
    if problems:
        raise DocsError("\n".join(problems))


def command(block: Block) -> list[str] | None:
    """How a block runs, or None for a block that is only read."""
    if block.kind == "not-run":
        return None
    if block.lang in PYTHON:
        name = block.filename
        if block.kind == "import-only":
            return [sys.executable, "-c", f"import {name.removesuffix('.py')}"]
        if name.startswith("test_"):
            return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name]
        return [sys.executable, name]
    if block.lang in SHELL:
        lines = [
            line
            for line in _shell_lines(block.code)
            if not re.match(r"^(\$ )?pip install\b", line.strip())
        ]
        return ["bash", "-euo", "pipefail", "-c", "\n".join(lines)] if lines else None
    return None


def _shell_lines(code: str) -> list[str]:
    """A console block's commands without their `$ ` prompts and output lines."""
    lines = code.splitlines()
    if any(line.startswith("$ ") for line in lines):
        return [line[2:] for line in lines if line.startswith("$ ")]
    return lines


def run_page(
    blocks: list[Block], folder: Path, env: dict[str, str], gateway_env: dict[str, str]
) -> list[str]:
    """Run a page's blocks in order in `folder` (shell blocks from the repository's root);
    returns how long each took."""
    timings: list[str] = []
    background: list[tuple[Block, subprocess.Popen[bytes], Path]] = []
    try:
        for block in blocks:
            argv = command(block)
            if argv is None:
                continue
            block_env = {**env, **(gateway_env if block.kind == "gateway" else {})}
            cwd = ROOT if block.lang in SHELL else folder
            log = folder / f"log_{block.line}.txt"
            if block.kind == "background":
                with log.open("wb") as out:
                    proc = subprocess.Popen(
                        argv,
                        cwd=cwd,
                        env=block_env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                background.append((block, proc, log))
                continue
            started = time.monotonic()
            try:
                done = subprocess.run(
                    argv,
                    cwd=cwd,
                    env=block_env,
                    capture_output=True,
                    text=True,
                    timeout=BLOCK_TIMEOUT,
                    check=False,
                    start_new_session=True,
                )
            except subprocess.TimeoutExpired as err:
                raise DocsError(
                    f"{block.where}: still running after {BLOCK_TIMEOUT:.0f}s\n{_tail(err.output)}"
                    + _background_logs(background)
                ) from None
            if done.returncode != 0 and not _finalization_abort(done.returncode, done.stderr):
                raise DocsError(
                    f"{block.where}: exit {done.returncode}\n"
                    f"{_tail(done.stdout)}\n{_tail(done.stderr)}" + _background_logs(background)
                )
            timings.append(f"{block.where}: {time.monotonic() - started:.1f}s")
            for earlier, proc, log in background:
                if proc.poll() not in (None, 0):
                    raise DocsError(
                        f"{earlier.where}: the background block exited {proc.returncode}\n"
                        + _tail(log.read_text(errors="replace"))
                    )
    finally:
        for _, proc, _ in background:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc, _ in background:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return timings


def _finalization_abort(returncode: int, stderr: str) -> bool:
    """The Temporal SDK's known abort after a client script has finished its work
    (temporalio/sdk-python#300: its Rust threads take the GIL while the interpreter
    finalizes). Not the block's failure; the docs say so where scripts are shown."""
    aborted = returncode == -signal.SIGABRT
    return aborted and "PyGILState_Release" in stderr and "finalizing" in stderr


def _tail(text: str | bytes | None, lines: int = 40) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").splitlines()[-lines:])


def _background_logs(background: list[tuple[Block, subprocess.Popen[bytes], Path]]) -> str:
    return "".join(
        f"\n--- background block {block.where}:\n{_tail(log.read_text(errors='replace'))}"
        for block, _, log in background
    )


# ---- the environment the blocks run in ---------------------------------------------------------


@dataclasses.dataclass
class Stack:
    """What the blocks run against: a dev server, the fake, a worker on the default queue, and
    a gateway in front of it when a page asks for one."""

    env: dict[str, str]
    gateway_env: dict[str, str]


@pytest.fixture(scope="module")
def site_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Popen[str]]]:
    """`mkdocs build --strict` into a temporary folder, started at once: it builds while the
    pages' blocks run (they mostly wait on polls), and `test_the_site_builds_strict` reads it."""
    site = tmp_path_factory.mktemp("site")
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or "mkdocs"
    proc = subprocess.Popen(
        [mkdocs, "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    yield site, proc
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, site_build: tuple[Path, Popen[str]]
) -> AsyncIterator[Stack]:
    from durable_responses.fake_openai import FakeOpenAIServer, GenerationSettings, ServerSettings
    from durable_responses.gateway import hash_key
    from durable_responses.models import TASK_QUEUE
    from durable_responses.testing import GatewayProcess, WorkerProcess, dev_server
    from tests import workers

    logs = tmp_path_factory.mktemp("docs-stack")
    fast = GenerationSettings(
        tokens=60, tokens_per_second=300, queued_seconds=0.05, reasoning_seconds=0.1
    )
    key = "gw-key-docs"
    with FakeOpenAIServer(ServerSettings(generation=fast)) as fake:
        async with dev_server(port=None, ui_port=None, db=None) as temporal:
            address = workers.address_of(temporal)
            bin_dir = str(Path(sys.executable).parent)
            env = {
                **os.environ,
                "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "TEMPORAL_ADDRESS": address,
                "OPENAI_BASE_URL": fake.base_url,
                "OPENAI_API_KEY": "sk-docs",
                "PYTHONPATH": "",  # blocks import the installed package, not the checkout
            }
            env.pop("TEMPORAL_NAMESPACE", None)
            worker = WorkerProcess(address, TASK_QUEUE, env=env, log_dir=logs)
            gateway = GatewayProcess(
                address,
                TASK_QUEUE,
                port=workers.free_port(),
                keys=f"docs:{hash_key(key)}",
                env=env,
                log_dir=logs,
            )
            try:
                await asyncio.gather(
                    asyncio.to_thread(worker.start), asyncio.to_thread(gateway.start)
                )
                yield Stack(
                    env=env, gateway_env={"OPENAI_BASE_URL": gateway.url, "OPENAI_API_KEY": key}
                )
            finally:
                gateway.close()
                worker.close()


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


PARALLEL_PAGES = 4
"""Pages run at once: their blocks mostly wait on polls, so four share 2 cores well."""


@pytest.fixture(scope="module")
def page_results(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> dict[Path, BaseException | None]:
    """Every page's blocks, run once for the module, pages side by side (each page's blocks in
    order, in a folder of its own); each page's test then reports its own outcome."""

    def run(page: Path) -> BaseException | None:
        try:
            folder = tmp_path_factory.mktemp(page.stem)
            blocks = extract(page.read_text(), _page_id(page))
            write_files(blocks, folder)
            check(blocks, folder)
            for timing in run_page(blocks, folder, stack.env, stack.gateway_env):
                print(timing)
        except BaseException as err:  # reported by the page's own test
            return err
        return None

    with ThreadPoolExecutor(PARALLEL_PAGES) as pool:
        return dict(zip(PAGES, pool.map(run, PAGES), strict=True))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_block_of_the_page_runs(page: Path, page_results: dict[Path, BaseException | None]):
    """Python blocks compile, lint clean and run; shell blocks run, unless marked."""
    error = page_results[page]
    if error is not None:
        raise error


def test_the_site_builds_strict(site_build: tuple[Path, Popen[str]]):
    """A broken link, a missing page or a reference that no longer resolves fails the build."""
    site, proc = site_build
    try:
        output, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, output[-4000:]
    assert (site / "reference" / "cli" / "index.html").exists()


# ---- the runner itself fails what it should ----------------------------------------------------


BAD_PAGE = """\
# A page a writer got wrong

```python
# pipeline.py
import asyncio

result = await asyncio.sleep(0)
```

```python
print(client)
```
"""


def test_a_snippet_that_fails_when_copied_fails(tmp_path: Path):
    """Top-level await and an undefined name: what the README's snippets once had."""
    blocks = extract(BAD_PAGE, "bad.md")
    write_files(blocks, tmp_path)
    with pytest.raises(DocsError) as failed:
        check(blocks, tmp_path)
    message = str(failed.value)
    assert "bad.md:3: pipeline.py does not compile: 'await' outside function" in message
    assert "bad.md:10: block_10.py:1:7: F821 Undefined name `client`" in message


def test_a_block_that_raises_fails_and_named_files_import_each_other(tmp_path: Path):
    page = """\
```python
# shapes.py
SIDES = {"triangle": 3}
```

```python
from shapes import SIDES

assert SIDES["triangle"] == 4, "a triangle has three sides"
```
"""
    blocks = extract(page, "p.md")
    write_files(blocks, tmp_path)
    check(blocks, tmp_path)
    with pytest.raises(DocsError, match=r"p.md:6: exit 1(.|\n)*a triangle has three sides"):
        run_page(blocks, tmp_path, dict(os.environ), {})


def test_a_failing_shell_line_fails_and_marks_need_a_reason(tmp_path: Path):
    page = "```bash\npip install nothing-at-all\ntrue\nfalse\n```\n"
    blocks = extract(page, "s.md")
    assert command(blocks[0]) == ["bash", "-euo", "pipefail", "-c", "true\nfalse"]
    with pytest.raises(DocsError, match=r"s\.md:1: exit 1"):
        run_page(blocks, tmp_path, dict(os.environ), {})
    with pytest.raises(DocsError, match="gives no"):
        extract("<!-- docs-test: not-run -->\n```bash\nrm -rf /\n```\n", "m.md")
    with pytest.raises(DocsError, match="unknown mark"):
        extract("<!-- docs-test: skip (why) -->\n```bash\nrm -rf /\n```\n", "m.md")
    (skipped,) = extract("<!-- docs-test: not-run (starts a server) -->\n```sh\nx\n```\n", "m")
    assert (skipped.kind, skipped.reason, command(skipped)) == ("not-run", "starts a server", None)


def test_background_blocks_serve_the_blocks_after_them(tmp_path: Path):
    page = """\
<!-- docs-test: background (serves until stopped) -->
```python
# serve.py
import pathlib
import time

pathlib.Path("ready").write_text("yes")
time.sleep(600)
```

```python
import pathlib
import time

deadline = time.monotonic() + 30
while not pathlib.Path("ready").exists():
    assert time.monotonic() < deadline, "the background block never started"
    time.sleep(0.05)
```
"""
    blocks = extract(page, "b.md")
    write_files(blocks, tmp_path)
    check(blocks, tmp_path)
    started = time.monotonic()
    run_page(blocks, tmp_path, dict(os.environ), {})
    assert time.monotonic() - started < 30  # the sleeping server was stopped, not waited for


def _all_blocks() -> Iterator[Block]:
    for page in PAGES:
        yield from extract(page.read_text(), _page_id(page))


def test_every_mark_of_the_docs_is_understood_and_python_blocks_are_named_once():
    """Marks are read without a server: a typo in one fails here, fast."""
    blocks = list(_all_blocks())
    assert blocks, "no code blocks found"
    assert all(b.kind in KINDS | {"run"} for b in blocks)
