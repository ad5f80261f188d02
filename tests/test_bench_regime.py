"""`bench/regime.py`'s upstream shapes against the real fake: a response lasts what was drawn,
so the bench's "runs of 2-5 minutes" are that long, and ours and the direct SDK meet the same."""

from __future__ import annotations

import random

import openai

from bench.regime import QUEUED_SHARE, polling_shapes, streaming_shapes
from durable_responses.fake_openai import FakeControl, FakeOpenAIServer


def test_regime_responses_last_as_long_upstream_as_drawn(
    fake_server: FakeOpenAIServer, fake: FakeControl
):
    drawn = [random.Random(3).uniform(1.0, 2.0)]
    shapes = polling_shapes(1, 1.0, 2.0, seed=3) + streaming_shapes(1, 1.5)
    with openai.OpenAI(base_url=fake_server.base_url, api_key="sk-test", max_retries=0) as api:
        ids = [
            api.responses.create(model="o3", input="q", background=True, metadata=shape).id
            for shape in shapes
        ]
        records = [fake.wait_terminal(response_id) for response_id in ids]
    for record, shape, seconds in zip(records, shapes, [*drawn, 1.5], strict=True):
        assert record.status == "completed"
        assert record.finished_at is not None and record.started_at is not None
        lasted = record.finished_at - record.accepted_at
        assert seconds - 0.05 <= lasted < seconds + 0.5, (shape, lasted)
        assert abs(record.started_at - record.accepted_at - seconds * QUEUED_SHARE) < 0.2
        assert len(record.text.split()) == int(shape["fake_tokens"])
