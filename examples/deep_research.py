"""A durable deep-research run, its sources and searches kept and printed.

Deep research (`o3-deep-research`, `o4-mini-deep-research`) takes minutes to an hour and
makes dozens of web searches; its answer cites them. The run is a `BackgroundResponseWorkflow`
(durable sleeps between polls: a crash or a deploy in the middle costs nothing), and its
result keeps every output item, so the report comes back with its citations and the searches
behind them.

    python -m examples.deep_research "How close are solid-state batteries to mass production?"

With nothing set up it runs on an in-memory Temporal dev server against the fake API (a few
seconds); with `OPENAI_API_KEY` set it asks OpenAI (`examples/_local.py`).
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from temporalio.worker import Worker

from durable_responses import PollPolicy, ResponseRequest, ResponseResult
from durable_responses.fake_openai import GenerationSettings, ServerSettings
from durable_responses.workflows import BackgroundResponseWorkflow
from examples._local import example_client

TASK_QUEUE = "deep-research-example"
FAKE = ServerSettings(
    generation=GenerationSettings(tokens=250, tokens_per_second=150, searches=6, item_seconds=0.4)
)
"""With the fake: six searches of 0.4 s, then a cited report."""


def research(question: str) -> ResponseRequest:
    """A deep-research request: a data source (web search) is required, sources included."""
    return ResponseRequest(
        input=question,
        model="o3-deep-research",
        tools=[{"type": "web_search_preview"}],
        include=["web_search_call.action.sources"],
        poll=PollPolicy(initial_interval_seconds=1, max_interval_seconds=30),
        deadline_seconds=3 * 3600,
    )


async def main(question: str) -> ResponseResult:
    async with example_client(FAKE) as (client, _), Worker(client, task_queue=TASK_QUEUE):
        handle = await client.start_workflow(
            BackgroundResponseWorkflow.run,
            research(question),
            id=f"deep-research-{uuid.uuid4()}",
            task_queue=TASK_QUEUE,
        )
        print(f"started {handle.id}; its progress, from the `progress` query:", file=sys.stderr)
        result = asyncio.ensure_future(handle.result())
        shown = None
        while not result.done():
            progress = await handle.query(BackgroundResponseWorkflow.progress)
            if progress.activity and progress.activity != shown:
                print(f"  {progress.status:>11}  {progress.items:>3} items  {progress.activity}",
                      file=sys.stderr)  # fmt: skip
                shown = progress.activity
            await asyncio.wait([result], timeout=0.5)
        return await result


def show(result: ResponseResult) -> None:
    """The report, then the sources it cites and the searches behind them."""
    print(result.output_text)
    print("\nSources:")
    for n, citation in enumerate(result.citations(), 1):
        print(f"  [{n}] {citation.title or ''} {citation.url}")
    print("\nSearches:")
    for search in result.web_searches():
        sources = (search.action or {}).get("sources") or []
        print(f"  - {search.query or '(a follow-up)'} ({len(sources)} sources)")
    print(f"\n{len(result.output)} output items, {result.output_kind}; usage {result.usage}")


if __name__ == "__main__":
    from durable_responses import connection

    question = " ".join(sys.argv[1:]) or "How close are solid-state batteries to mass production?"
    connection.exit_after(lambda: show(asyncio.run(main(question))))
