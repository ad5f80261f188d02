"""The seed's two Agent Framework patterns against the gateway, only the base URL changed (and
the gateway key as the API key): polling a background run through a gateway SIGKILL, and a
background stream cut by a gateway SIGKILL, resumed, then carried through a worker SIGKILL.

What Agent Framework (agent-framework-openai 1.17) does, read from its source and checked here:

- The seed's `OpenAIResponsesClient(model_id=...)` is now `OpenAIChatClient(model=...)` (the
  Responses API; `OpenAIChatCompletionClient` is Chat Completions). It reads `OPENAI_BASE_URL`
  and `OPENAI_API_KEY`: the seed's agent meets the gateway with only the environment changed.
- Its continuation token is `{"response_id": ...}` and nothing else: no sequence number.
  Polling is `responses.retrieve(id)`, as any Responses API server answers it.
- In a stream only the `response.created` / `response.in_progress` updates carry the token;
  every text update carries `None`. The seed's `last_token = update.continuation_token` would
  so hold `None` after three text chunks and never resume: a caller keeps the last token seen.
- Resuming is `responses.retrieve(id, stream=True)` without `starting_after`: a replay from
  event 0, which, appended to what was shown, duplicates the first part. AF forwards
  `client_kwargs={"extra_headers": ...}` to that call, and the gateway takes the SSE standard's
  `Last-Event-ID` as `starting_after`; the event's `sequence_number` sits under each update's
  `raw_representation`. The test resumes that way, and checks that a plain resume is the replay
  from 0 whose events after the cursor are that same resumed stream.
- The `response.output_text.done` update repeats the whole text with `merge_mode="replace"`:
  what a user sees is the appended text, not `update.text` summed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from agent_framework import Agent, AgentResponseUpdate, ContinuationToken
from agent_framework.exceptions import ChatClientException
from agent_framework.openai import OpenAIChatClient, OpenAIChatOptions, OpenAIContinuationToken

from durable_responses.fake_openai import FakeControl
from tests.gateways import (
    KEY,
    Stack,
    assert_same_as_provider,
    gateway_stack,
    gateway_upstream,
    valid_events,
)

POLL_SECONDS = 0.2
"""The seed polls every 2 s; the fake's responses here last about 3 s."""
CHUNKS_BEFORE_THE_CRASH = 3
"""Text chunks the user sees before the gateway dies, as in the seed's interruption."""


@pytest.fixture
async def stack(dev_env, fake_server, task_queue) -> AsyncIterator[Stack]:
    async with gateway_stack(dev_env, fake_server.base_url, task_queue) as running:
        yield running


@pytest.fixture
def agent(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Agent:
    """The seed's agent, pointed at the gateway through the environment alone."""
    monkeypatch.setenv("OPENAI_BASE_URL", stack.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return Agent(
        name="researcher",
        instructions="You are a helpful research assistant. Be concise.",
        client=OpenAIChatClient(model="o3"),
    )


def _background() -> OpenAIChatOptions:
    return {"background": True}


def _resuming(token: ContinuationToken | None) -> OpenAIChatOptions:
    """Options that poll the run `token` names, or resume its stream."""
    assert token is not None
    return {"continuation_token": cast(OpenAIContinuationToken, token)}


def _event(update: AgentResponseUpdate) -> Any | None:
    """The Responses API event under an agent update (None for AF's own closing update)."""
    return getattr(update.raw_representation, "raw_representation", None)


def _shown(update: AgentResponseUpdate) -> str:
    """The text a UI appends for this update."""
    return "".join(
        content.text or ""
        for content in update.contents
        if content.type == "text" and content.merge_mode == "append"
    )


def _provider(fake: FakeControl) -> Any:
    (upstream,) = gateway_upstream(fake)  # one create, whatever crashed
    return fake.response(upstream.id, events=False)


def _canonical(fake: FakeControl) -> str:
    return str(_provider(fake).text)


def _output(response: Any) -> list[dict[str, Any]]:
    """The Responses API output items under an agent's response (AF wraps the SDK's
    `Response` in a `ChatResponse` in an `AgentResponse`), as JSON."""
    raw = response
    while raw is not None and not hasattr(raw, "output"):
        raw = getattr(raw, "raw_representation", None)
    assert raw is not None, "no Responses API object under the agent's response"
    return [item.model_dump(mode="json", exclude_unset=True) for item in raw.output]


async def test_polling_with_the_same_token_goes_on_through_a_gateway_sigkill(
    stack: Stack, agent: Agent, fake: FakeControl
) -> None:
    fake.configure(tokens=300, tokens_per_second=50)  # 6 s: several polls before the end
    session = agent.create_session()
    response = await agent.run(
        "Briefly explain the theory of relativity in two sentences.",
        session=session,
        options=_background(),
    )
    token, response_id = response.continuation_token, response.response_id
    assert token is not None and dict(token) == {"response_id": response_id}  # the id alone
    polls = 0
    killed_while = None  # the provider's status when the gateway was killed
    while response.continuation_token is not None:
        assert polls < 60 / POLL_SECONDS, "still running after a minute of polls"
        assert response.continuation_token == token
        if polls == 1:
            # Killed mid-run, as the provider says (observed, not assumed from timing): the
            # poll after the restart must carry on with the same token.
            killed_while = _provider(fake).status
            await stack.restart_gateway()  # SIGKILL between polls
        await asyncio.sleep(POLL_SECONDS)
        response = await agent.run(session=session, options=_resuming(response.continuation_token))
        polls += 1
    assert killed_while in ("queued", "in_progress"), killed_while
    assert response.response_id == response_id
    assert response.text == _canonical(fake)
    assert _output(response) == _provider(fake).output  # every item, not only the text


async def test_stream_resumes_exactly_through_a_gateway_and_a_worker_sigkill(
    stack: Stack, agent: Agent, fake: FakeControl
) -> None:
    fake.configure(tokens=900, tokens_per_second=150)
    session = agent.create_session()
    first: list[AgentResponseUpdate] = []
    token = None
    with pytest.raises(ChatClientException):  # the interruption: the gateway dies
        async for update in agent.run(
            "Briefly list three benefits of exercise.",
            stream=True,
            session=session,
            options=_background(),
        ):
            first.append(update)
            token = update.continuation_token or token
            if sum(1 for u in first if _shown(u)) >= CHUNKS_BEFORE_THE_CRASH:
                stack.gateway.kill()  # a no-op once dead; buffered events still arrive
    await stack.restart_gateway()
    (upstream,) = gateway_upstream(fake)
    seen = [e for u in first if (e := _event(u)) is not None]
    after = seen[-1].sequence_number
    rest: list[AgentResponseUpdate] = []
    async for update in agent.run(
        stream=True,
        session=session,
        options=_resuming(token),
        client_kwargs={"extra_headers": {"Last-Event-ID": str(after)}},
    ):
        rest.append(update)
        if _shown(update) and not any(_shown(u) for u in rest[:-1]):
            assert fake.response(upstream.id, events=False).status == "in_progress"
            await stack.restart_worker()  # SIGKILL mid-stream; another worker takes over
    resumed = [e for u in rest if (e := _event(u)) is not None]
    events = valid_events(seen + resumed)  # each event once, in order, from the cursor on
    assert events[0]["sequence_number"] == 0
    assert events[-1]["type"] == "response.completed"
    canonical = _canonical(fake)
    assert_same_as_provider(events, _provider(fake))  # text and every item
    assert "".join(_shown(u) for u in first + rest) == canonical  # what the user saw
    # AF alone (the token, no cursor) replays from 0; what follows the cursor is the same.
    replay = [
        e
        async for u in agent.run(stream=True, session=session, options=_resuming(token))
        if (e := _event(u)) is not None
    ]
    assert replay[0].sequence_number == 0
    assert valid_events(e for e in replay if e.sequence_number > after) == valid_events(resumed)
