"""The chunk reader (`read_stream_chunk`) that runs from before the stream reader still use
when they replay: it creates a stream, then attaches after each chunk's cursor, over HTTP to the
fake, and the chunks join into the provider's text exactly."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from durable_responses.activities import ReadStreamChunkInput, ResponsesActivities
from durable_responses.models import ResponseParams


async def test_chunks_created_then_attached_join_into_the_providers_text(
    fake, activities: ResponsesActivities
):
    fake.configure(tokens=120, tokens_per_second=200)  # about 0.6 s: several chunks
    env = ActivityEnvironment()
    chunk = await env.run(
        activities.read_stream_chunk,
        ReadStreamChunkInput(params=ResponseParams(input="Hello."), budget_seconds=0.2),
    )
    text, chunks = chunk.text, 1
    while chunk.stopped_by != "terminal":
        chunk = await env.run(
            activities.read_stream_chunk,
            ReadStreamChunkInput(
                response_id=chunk.response_id, cursor=chunk.cursor, budget_seconds=0.2
            ),
        )
        text, chunks = text + chunk.text, chunks + 1
        assert chunks < 50
    assert chunks > 1 and chunk.status == "completed"
    assert text == fake.response(chunk.response_id).text != ""
    assert fake.counts()["creates"] == 1
