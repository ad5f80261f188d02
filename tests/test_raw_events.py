"""The stream reader's raw reading (`activities/raw_events.py`): the same events as the SDK's
stream, from the same bytes, without a model per event; and batches sized to the load."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from unittest import mock

import httpx2
import openai
import pytest
from openai.types.responses import ResponseOutputItemDoneEvent
from temporalio.testing import ActivityEnvironment

from durable_responses.activities import ResponseSnapshot, StreamReaderInput
from durable_responses.activities.raw_events import RawEvents, event_model
from durable_responses.activities.stream_reader import QUIET_READERS, StreamReader
from durable_responses.fake_openai import FakeControl


class _Body:
    """What `RawEvents` reads of an `AsyncAPIResponse`: its bytes, in the reads given."""

    def __init__(self, reads: list[bytes], fail: Exception | None = None) -> None:
        self.reads = reads
        self.fail = fail
        self.http_response = httpx2.Response(200, request=httpx2.Request("GET", "http://x"))

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self.reads:
            yield chunk
        if self.fail is not None:
            raise self.fail

    async def close(self) -> None:
        pass


async def _events(reads: list[bytes], fail: Exception | None = None) -> list[dict[str, Any]]:
    return [event async for event in RawEvents(_Body(reads, fail))]  # type: ignore[arg-type]


async def test_events_split_anywhere_and_crlf_come_out_whole() -> None:
    body = (
        b'data: {"type":"a","sequence_number":0}\r\n\r\n'
        b": a comment\n\n"
        b'event: response.output_text.delta\ndata: {"type":"b",\ndata: "sequence_number":1}\n\n'
        b'data: {"type":"c","sequence_number":2,"delta":"\\u00e9"}\n\n'
        b"data: [DONE]\n\n"
        b'data: {"type":"after-done","sequence_number":3}\n\n'
    )
    whole = await _events([body])
    assert [e["type"] for e in whole] == ["a", "b", "c"]
    assert whole[2]["delta"] == "é"
    # Every split point, the CRLF's included, gives the same events.
    for cut in range(1, len(body)):
        assert await _events([body[:cut], body[cut:]]) == whole


async def test_a_cut_connection_is_the_sdk_s_connection_error() -> None:
    with pytest.raises(openai.APIConnectionError):
        await _events([b'data: {"type":"a","sequence_number":0}\n\n'], httpx2.ReadError("cut"))
    with pytest.raises(openai.APITimeoutError):
        await _events([], httpx2.ReadTimeout("silent"))


async def test_an_error_object_raises_as_the_sdk_s_stream_does() -> None:
    with pytest.raises(openai.APIError, match="overloaded"):
        await _events([b'data: {"error":{"message":"overloaded"}}\n\n'])


async def test_raw_events_are_the_sdk_s_events(
    fake: FakeControl, openai_async: openai.AsyncOpenAI
) -> None:
    """Same response read both ways: the same text, and items as the SDK's models give them."""
    created = await openai_async.responses.create(
        model="gpt-4.1", input="compare", background=True, stream=True
    )
    sdk = [event async for event in created]
    response_id = next(e.response.id for e in sdk if e.type == "response.created")
    attached = openai_async.responses.with_streaming_response.retrieve(
        response_id, stream=True, starting_after=0
    )
    raw = await _read_all(RawEvents(await attached.__aenter__()))
    assert [e["sequence_number"] for e in raw] == [e.sequence_number for e in sdk[1:]]
    assert "".join(e["delta"] for e in raw if e["type"] == "response.output_text.delta") == (
        "".join(e.delta for e in sdk if e.type == "response.output_text.delta")
    )
    done = [e for e in raw if e["type"] == "response.output_item.done"]
    assert done
    assert [
        event_model(e, ResponseOutputItemDoneEvent).item.to_dict(mode="json") for e in done
    ] == [e.item.to_dict(mode="json") for e in sdk if e.type == "response.output_item.done"]


async def _read_all(events: RawEvents) -> list[dict[str, Any]]:
    try:
        return [event async for event in events]
    finally:
        await events.close()


def test_batches_and_heartbeats_space_out_only_beyond_the_quiet_readers() -> None:
    before = StreamReader.running
    try:
        StreamReader.running = QUIET_READERS
        assert StreamReader.load() == 1.0
        StreamReader.running = QUIET_READERS * 10
        assert StreamReader.load() == 10.0
    finally:
        StreamReader.running = before


async def test_under_load_the_first_text_waits_for_its_batch_the_id_and_the_end_do_not() -> None:
    """Beyond the quiet readers the first text is one signal and one workflow task per run
    that followers do not need (the heartbeat's tail shows it): it waits for the interval."""

    async def urgency(running: int) -> dict[str, bool]:
        reader = StreamReader(None, lambda params: {}, None, StreamReaderInput())  # type: ignore[arg-type]
        reader.response_id = "resp_1"
        seen = {"id": reader._urgent()}
        reader._id_sent_event.set()
        reader._text = "Hello"
        StreamReader.running = running
        seen["first text"] = reader._urgent()
        reader._snapshot = ResponseSnapshot(id="resp_1", status="completed")
        seen["end"] = reader._urgent()
        return seen

    before = StreamReader.running
    try:
        env = ActivityEnvironment(client=mock.Mock())
        assert await env.run(urgency, QUIET_READERS) == {
            "id": True,
            "first text": True,
            "end": True,
        }
        busy = await env.run(urgency, QUIET_READERS * 10)
        assert busy == {"id": True, "first text": False, "end": True}
    finally:
        StreamReader.running = before
