"""The event stream of a run, rebuilt from its durable state the same way every time.

OpenAI replays a background stream only while the response is young; the gateway replays it
from what the workflow recorded, for as long as the run is kept. Every event, and so every
`sequence_number`, is a function of that state alone: finished items expand into their
events (the text cut into deltas of `CHUNK` characters), and the message being written into a
prefix of the events it will have once finished (its whole chunks only: a partial one would
be cut differently later). The list only ever grows, so a client that reconnects with
`starting_after=N` gets exactly the events after N, the same ones a client that never left got.

These are the gateway's events, not a copy of the provider's: the same types, shapes and
order, deltas cut at other places.

A stream builds them with an `EventLog`: the same list, each tick only the events after those
built already, so a follower's work per tick is what the run added since, however long the
run is (`events` builds the whole list at once, as a reconnecting client's first tick does).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from .objects import Run, opening_object, response_object

CHUNK = 32
"""Characters per delta."""

Event = dict[str, Any]

_PROGRESS = {
    "web_search_call": ("in_progress", "searching", "completed"),
    "file_search_call": ("in_progress", "searching", "completed"),
    "image_generation_call": ("in_progress", "generating", "completed"),
    "mcp_list_tools": ("in_progress", "completed"),
}
"""Items whose events are just their progress (`response.<type>.<step>`)."""
_TERMINAL = {"completed": "response.completed", "incomplete": "response.incomplete"}


def events(run: Run) -> list[Event]:
    """Every event of `run` so far, numbered from 0."""
    listed: list[Event] = []
    for event in _unnumbered(run):
        event["sequence_number"] = len(listed)
        listed.append(event)
    return listed


class EventLog:
    """The events of one run as it grows, built once each: `new(run)` gives those after the
    ones it gave before (`events(run)` without its first `count`), at the cost of what is new.

    What it remembers: how many opening events it built, how many finished items it has
    expanded, how many events of the next item it built while that item was the message
    being written (the finished item's events start with those, `_live_message`), and how
    many whole chunks of that message's text went out as deltas.
    """

    def __init__(self) -> None:
        self.count = 0
        """Events built so far: the next event's `sequence_number`."""
        self._opened = 0  # of created, queued, in_progress
        self._items = 0  # finished items expanded
        self._item_events = 0  # events built of item `_items` while it was being written
        self._chunks = 0  # whole chunks of that message's text sent
        self._done_text = 0  # text the finished messages hold (`Run.live_text`)
        self._ended = False

    def new(self, run: Run) -> list[Event]:
        """The events of `run` after the `count` built before, numbered on from `count`."""
        built: list[Event] = []

        def add(event: Event) -> None:
            event["sequence_number"] = self.count
            self.count += 1
            built.append(event)

        if self._ended:
            return built
        openings: list[Callable[[], Event]] = [
            lambda: {"type": "response.created", "response": opening_object(run, "queued")},
            lambda: {"type": "response.queued", "response": opening_object(run, "queued")},
        ]
        if not (run.status == "queued" and not run.terminal):
            openings.append(
                lambda: {
                    "type": "response.in_progress",
                    "response": opening_object(run, "in_progress"),
                }
            )
        for opening in openings[self._opened :]:
            add(opening())
            self._opened += 1
        if self._opened < 3:
            return built
        while self._items < len(run.items):
            item = run.items[self._items]
            for event in itertools.islice(_item(self._items, item), self._item_events, None):
                add(event)
            self._done_text += _message_text_length(item)
            self._items += 1
            self._item_events = self._chunks = 0
        if run.terminal:
            final = response_object(run)
            add({"type": _TERMINAL.get(run.status, "response.failed"), "response": final})
            self._ended = True
            return built
        live = run.live_item
        if live is None or run.live_index != len(run.items) or live.get("type") != "message":
            return built
        if self._item_events == 0:  # as `_live_message` and `_part` open it
            add(
                {
                    "type": "response.output_item.added",
                    "output_index": self._items,
                    "item": _opened(live),
                }
            )
            add(
                {
                    "type": "response.content_part.added",
                    "item_id": live.get("id"),
                    "output_index": self._items,
                    "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                }
            )
            self._item_events = 2
        whole = (len(run.text) - self._done_text) // CHUNK
        while self._chunks < whole:
            start = self._done_text + self._chunks * CHUNK
            add(
                {
                    "type": "response.output_text.delta",
                    "item_id": live.get("id"),
                    "output_index": self._items,
                    "content_index": 0,
                    "delta": run.text[start : start + CHUNK],
                    "logprobs": [],
                }
            )
            self._chunks += 1
            self._item_events += 1
        return built


def _message_text_length(item: dict[str, Any]) -> int:
    """The text a finished item holds of the run's text (as `Run.live_text` counts it)."""
    if item.get("type") != "message":
        return 0
    return sum(
        len(part.get("text") or "")
        for part in item.get("content") or []
        if isinstance(part, dict) and part.get("type") == "output_text"
    )


def _unnumbered(run: Run) -> Iterator[Event]:
    yield {"type": "response.created", "response": opening_object(run, "queued")}
    yield {"type": "response.queued", "response": opening_object(run, "queued")}
    if run.status == "queued" and not run.terminal:
        return
    yield {"type": "response.in_progress", "response": opening_object(run, "in_progress")}
    for index, item in enumerate(run.items):
        yield from _item(index, item)
    if run.terminal:
        final = response_object(run)
        yield {"type": _TERMINAL.get(run.status, "response.failed"), "response": final}
        return
    if run.live_item is not None and run.live_index == len(run.items):
        yield from _live_message(run.live_index, run.live_item, run.live_text())


def _chunks(text: str, whole_only: bool = False) -> list[str]:
    pieces = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    if whole_only and pieces and len(pieces[-1]) < CHUNK:
        pieces.pop()
    return pieces


def _opened(item: dict[str, Any]) -> dict[str, Any]:
    """An item as `output_item.added` shows it: what it is, before what it holds."""
    kind = item.get("type")
    opened: dict[str, Any] = {
        key: item[key] for key in ("id", "type", "role", "call_id", "name") if key in item
    }
    opened["status"] = "in_progress"
    if kind == "message":
        opened["content"] = []
    elif kind == "reasoning":
        opened = {"id": item.get("id"), "type": "reasoning", "summary": []}
    elif kind in ("function_call", "mcp_call"):
        opened["arguments"] = ""
        if kind == "mcp_call":
            opened["server_label"] = item.get("server_label")
    elif kind == "web_search_call":
        opened["action"] = {"type": "search"}
    elif kind == "code_interpreter_call":
        opened.update(code="", outputs=[], container_id=item.get("container_id"))
    elif kind == "mcp_list_tools":
        opened.update(server_label=item.get("server_label"), tools=[])
    elif kind == "file_search_call":
        opened.update(queries=[], results=None)
    elif kind == "image_generation_call":
        opened["result"] = None
    elif kind not in _PROGRESS:
        opened = copy.deepcopy(item)  # arrives whole, as approval requests do
    return opened


def _item(index: int, item: dict[str, Any]) -> Iterator[Event]:
    kind = item.get("type")
    ids = {"item_id": item.get("id"), "output_index": index}
    yield {"type": "response.output_item.added", "output_index": index, "item": _opened(item)}
    if kind == "message":
        for content_index, part in enumerate(item.get("content") or []):
            yield from _part(ids, content_index, part, whole_only=False)
    elif kind == "reasoning":
        for summary_index, part in enumerate(item.get("summary") or []):
            text = part.get("text") or ""
            at = {**ids, "summary_index": summary_index}
            yield {
                "type": "response.reasoning_summary_part.added",
                **at,
                "part": {"type": "summary_text", "text": ""},
            }
            for piece in _chunks(text):
                yield {"type": "response.reasoning_summary_text.delta", **at, "delta": piece}
            yield {"type": "response.reasoning_summary_text.done", **at, "text": text}
            yield {
                "type": "response.reasoning_summary_part.done",
                **at,
                "part": {"type": "summary_text", "text": text},
            }
    elif kind in ("function_call", "mcp_call"):
        arguments = str(item.get("arguments") or "")
        name = "function_call_arguments" if kind == "function_call" else "mcp_call_arguments"
        if kind == "mcp_call":
            yield {"type": "response.mcp_call.in_progress", **ids}
        for piece in _chunks(arguments):
            yield {"type": f"response.{name}.delta", **ids, "delta": piece}
        done = {"type": f"response.{name}.done", **ids, "arguments": arguments}
        if kind == "function_call":
            done["name"] = item.get("name")
        yield done
        if kind == "mcp_call":
            ending = "failed" if item.get("status") == "failed" else "completed"
            yield {"type": f"response.mcp_call.{ending}", **ids}
    elif kind == "code_interpreter_call":
        code = str(item.get("code") or "")
        yield {"type": "response.code_interpreter_call.in_progress", **ids}
        for piece in _chunks(code):
            yield {"type": "response.code_interpreter_call_code.delta", **ids, "delta": piece}
        yield {"type": "response.code_interpreter_call_code.done", **ids, "code": code}
        yield {"type": "response.code_interpreter_call.interpreting", **ids}
        yield {"type": "response.code_interpreter_call.completed", **ids}
    elif kind in _PROGRESS:
        for step in _PROGRESS[str(kind)]:
            yield {"type": f"response.{kind}.{step}", **ids}
    yield {"type": "response.output_item.done", "output_index": index, "item": copy.deepcopy(item)}


def _part(
    ids: dict[str, Any], content_index: int, part: dict[str, Any], *, whole_only: bool
) -> Iterator[Event]:
    at = {**ids, "content_index": content_index}
    if part.get("type") == "refusal":
        refusal = str(part.get("refusal") or "")
        yield {
            "type": "response.content_part.added",
            **at,
            "part": {"type": "refusal", "refusal": ""},
        }
        for piece in _chunks(refusal):
            yield {"type": "response.refusal.delta", **at, "delta": piece}
        yield {"type": "response.refusal.done", **at, "refusal": refusal}
        yield {"type": "response.content_part.done", **at, "part": copy.deepcopy(part)}
        return
    text = str(part.get("text") or "")
    yield {
        "type": "response.content_part.added",
        **at,
        "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
    }
    for piece in _chunks(text, whole_only):
        yield {"type": "response.output_text.delta", **at, "delta": piece, "logprobs": []}
    if whole_only:
        return  # still being written
    for n, annotation in enumerate(part.get("annotations") or []):
        yield {
            "type": "response.output_text.annotation.added",
            **at,
            "annotation_index": n,
            "annotation": annotation,
        }
    yield {"type": "response.output_text.done", **at, "text": text, "logprobs": []}
    yield {"type": "response.content_part.done", **at, "part": copy.deepcopy(part)}


def _live_message(index: int, item: dict[str, Any], text: str) -> Iterator[Event]:
    """The message being written: the prefix of its events its whole chunks make."""
    if item.get("type") != "message":
        return
    yield {"type": "response.output_item.added", "output_index": index, "item": _opened(item)}
    ids = {"item_id": item.get("id"), "output_index": index}
    yield from _part(ids, 0, {"type": "output_text", "text": text}, whole_only=True)
