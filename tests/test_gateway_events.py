"""The gateway's event stream built as the run grows (`EventLog`): the same events, numbered
the same, as the whole list rebuilt from the run (`events`), at the cost of what is new."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from durable_responses.gateway import events as events_module
from durable_responses.gateway.events import CHUNK, EventLog, events
from durable_responses.gateway.objects import Run


def _run() -> Run:
    return Run(
        response_id="resp_" + "a" * 48,
        stream=True,
        background=True,
        created_at=1_700_000_000,
        model="o3",
        request={"temperature": 0.5},
    )


def _message(item_id: str, text: str, annotations: list[dict[str, Any]] | None = None):
    part = {"type": "output_text", "text": text, "annotations": annotations or [], "logprobs": []}
    return {"id": item_id, "type": "message", "role": "assistant", "status": "completed",
            "content": [part]}  # fmt: skip


def _growing(ending: str) -> Iterator[Run]:
    """Snapshots of one run as a reader sees it: queued, in progress, a message written in
    uneven steps, a search, a reasoning item, a second message, then its `ending`."""
    run = _run()
    yield copy.deepcopy(run)
    run.status = "in_progress"
    yield copy.deepcopy(run)
    first = "The first answer, long enough for several chunks of deltas. " * 5
    run.live_index, run.live_item = 0, {"id": "msg_1", "type": "message", "role": "assistant"}
    for end in (0, 5, CHUNK, CHUNK + 1, 3 * CHUNK - 1, 3 * CHUNK, len(first)):
        run.text = first[:end]
        yield copy.deepcopy(run)
        yield copy.deepcopy(run)  # a tick with nothing new
    citation = {"type": "url_citation", "url": "https://example.com", "title": "x",
                "start_index": 0, "end_index": 3}  # fmt: skip
    run.items.append(_message("msg_1", first, [citation]))
    run.live_index = run.live_item = None
    yield copy.deepcopy(run)
    run.items.append({"id": "ws_1", "type": "web_search_call", "status": "completed",
                      "action": {"type": "search", "query": "q"}})  # fmt: skip
    run.items.append({"id": "rs_1", "type": "reasoning",
                      "summary": [{"type": "summary_text", "text": "Thinking " * 20}]})  # fmt: skip
    yield copy.deepcopy(run)
    second = "And a second message, cut off or finished. " * 4
    run.live_index, run.live_item = 3, {"id": "msg_2", "type": "message", "role": "assistant"}
    for end in (CHUNK * 2, CHUNK * 2 + 7):
        run.text = first + second[:end]
        yield copy.deepcopy(run)
    if ending == "completed":
        run.text = first + second
        run.items.append(_message("msg_2", second))
        run.live_index = run.live_item = None
        run.final = {"id": "upstream", "object": "response", "status": "completed", "output": []}
        run.status, run.terminal = "completed", True
    else:  # as `RunReader._fail` closes the message being written
        live = run.live_item
        part = {"type": "output_text", "text": run.live_text(), "annotations": [], "logprobs": []}
        run.items.append({**live, "status": "incomplete", "content": [part]})
        run.live_index = run.live_item = None
        run.status, run.terminal = "failed", True
    yield copy.deepcopy(run)
    yield copy.deepcopy(run)


@pytest.mark.parametrize("ending", ["completed", "failed"])
def test_built_as_the_run_grows_the_events_are_those_rebuilt_from_the_whole_run(ending):
    log = EventLog()
    built: list[dict[str, Any]] = []
    for snapshot in _growing(ending):
        built += log.new(snapshot)
        whole = events(snapshot)
        assert built == whole[: len(built)]  # the same events, numbered the same
        assert log.count == len(built)
    assert built == whole
    assert built[-1]["type"] == (
        "response.completed" if ending == "completed" else "response.failed"
    )
    assert log.new(snapshot) == []


def test_a_tick_builds_only_what_is_new_however_long_the_run(monkeypatch):
    """A run of a thousand finished items and a long message being written: a tick that adds
    one chunk builds one event and expands no item, and builds no Response object."""
    run = _run()
    run.status = "in_progress"
    run.items = [_message(f"msg_{i}", "x" * 100) for i in range(1000)]
    run.live_index, run.live_item = 1000, {"id": "msg_live", "type": "message"}
    run.text = "x" * 100_000 + "y" * (CHUNK * 500)
    log = EventLog()
    assert len(log.new(run)) == len(events(run))
    expanded, opened = [], []
    item, opening = events_module._item, events_module.opening_object
    monkeypatch.setattr(events_module, "_item", lambda *a: expanded.append(a) or item(*a))
    monkeypatch.setattr(events_module, "opening_object", lambda *a: opened.append(a) or opening(*a))
    run.text += "z" * CHUNK
    (delta,) = log.new(run)
    assert delta["type"] == "response.output_text.delta" and delta["delta"] == "z" * CHUNK
    assert log.new(run) == []
    assert expanded == [] and opened == []
