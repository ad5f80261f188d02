"""The streams of one run in one gateway process share its reading: one `RunReader` refresh per
tick (one describe, at most one `view` query) and one encoded frame per event, however many
clients follow the run; each stream keeps its own position in the frames.

A run's `Shared` lives while some stream follows it: the first stream brings it (with the
reader it opened), the last one to leave takes it away, and its ticks stop with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator

from .events import EventLog
from .runs import RunReader


class Shared:
    """One run's reader, ticking for all the streams that follow it, and its events so far as
    the SSE frames every stream sends (`frames[n]` is event `n`'s)."""

    def __init__(self, reader: RunReader, poll_seconds: float) -> None:
        self.reader = reader
        self.poll_seconds = poll_seconds
        self.frames: list[bytes] = []
        self.ended = False
        """All the run's events are in `frames` (its terminal one last)."""
        self.error: BaseException | None = None
        """What stopped the reads (Temporal unreachable): the streams end, their clients
        resume after the last event they got."""
        self.followers = 0
        self._log = EventLog()
        self._tick = asyncio.Event()
        self._batch: tuple[int, int, bytes] = (0, 0, b"")  # the last tick's frames, joined
        self._build()
        self._task: asyncio.Task[None] | None = None
        if not self.ended:
            self._task = asyncio.create_task(self._ticks(), name=f"follow {reader.handle.id}")

    def since(self, position: int) -> bytes:
        """The frames from event `position` on, as one write; the streams that were at the
        last tick's start (all of them, but those that joined since) share the same bytes."""
        start, end, joined = self._batch
        if position == start and end == len(self.frames):
            return joined
        return b"".join(self.frames[position:])

    @property
    def tick(self) -> asyncio.Event:
        """Set by the next tick that adds events or ends the reads: taken before a stream
        looks at `frames`, a tick while it writes is not missed."""
        return self._tick

    def close(self) -> None:
        """Stop reading: nobody follows the run any more."""
        if self._task is not None:
            self._task.cancel()

    def _build(self) -> bool:
        start = len(self.frames)
        for event in self._log.new(self.reader.run):
            data = json.dumps(event, ensure_ascii=False)
            self.frames.append(
                f"event: {event['type']}\nid: {event['sequence_number']}\ndata: {data}\n\n".encode()
            )
        self.ended = self.reader.run.terminal
        if len(self.frames) == start:
            return False
        self._batch = (start, len(self.frames), b"".join(self.frames[start:]))
        return True

    def _wake(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def _ticks(self) -> None:
        try:
            while not self.ended:
                await asyncio.sleep(self.poll_seconds)
                await self.reader.refresh()
                if self._build() or self.ended:
                    self._wake()
        except Exception as err:  # every stream of the run ends with it (a cancel is no Exception)
            self.error = err
            self._wake()


class Followers:
    """The runs followed in this gateway process, by workflow id."""

    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        """How often a followed run is read again."""
        self._runs: dict[str, Shared] = {}

    def get(self, workflow_id: str) -> Shared | None:
        """The run's shared reading, if a stream follows it now and its reads go on."""
        shared = self._runs.get(workflow_id)
        return shared if shared is not None and shared.error is None else None

    @contextlib.contextmanager
    def follow(self, reader: RunReader) -> Iterator[Shared]:
        """Follow `reader`'s run for the block: its shared reading, brought by `reader` if
        nobody follows it yet (else `reader` goes unused)."""
        key = reader.handle.id
        shared = self.get(key)
        if shared is None:
            shared = self._runs[key] = Shared(reader, self.poll_seconds)
        shared.followers += 1
        try:
            yield shared
        finally:
            shared.followers -= 1
            if shared.followers == 0:
                shared.close()
                if self._runs.get(key) is shared:
                    del self._runs[key]

    def __len__(self) -> int:
        return len(self._runs)
