"""How large a deep-research result is, and what keeps it under Temporal's 2 MB payload limit:
a result of `--items` output items and a `--chars`-character report, measured as plain JSON,
compressed, compressed and encrypted, and as the workflows shape it without a codec; and the
streaming workflow's carried state (what continue-as-new passes on) for the same response.

    python -m bench.items_size [--items 200] [--chars 300000]

The items are what a deep-research run makes: web searches (with their sources), reasoning
items with encrypted content, code runs, then one message whose text carries a URL citation
per search. No server is needed: the sizes are the converter's and the codec's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadCodec

from durable_responses.codec import KeyRing, codec_chain, new_key
from durable_responses.models import ResponseRequest, ResponseResult, StreamPolicy, fitting
from durable_responses.models import items as _items
from durable_responses.models._carried import CarriedRequest, ResumeState
from durable_responses.models.limits import MAX_ITEM_BYTES, PAYLOAD_LIMIT, RESULT_BUDGET

WORDS = "battery solid state anode cathode electrolyte lithium ceramic polymer density".split()


def deep_research_output(items: int, chars: int, rng: random.Random) -> list[dict[str, Any]]:
    """`items` items: searches, reasoning, code runs, and a `chars`-character cited answer."""
    output: list[dict[str, Any]] = []
    searches = 0
    while len(output) < items - 1:
        kind = len(output) % 4
        if kind in (0, 2):
            searches += 1
            output.append(
                {
                    "id": f"ws_{len(output):048x}",
                    "type": "web_search_call",
                    "status": "completed",
                    "action": {
                        "type": "search",
                        "query": " ".join(rng.choices(WORDS, k=6)),
                        "sources": [
                            {"type": "url", "url": f"https://example.org/{rng.randrange(10**9)}"}
                            for _ in range(5)
                        ],
                    },
                }
            )
        elif kind == 1:
            output.append(
                {
                    "id": f"rs_{len(output):048x}",
                    "type": "reasoning",
                    "summary": [],
                    "encrypted_content": base64.b64encode(rng.randbytes(1500)).decode(),
                }
            )
        else:
            output.append(
                {
                    "id": f"ci_{len(output):048x}",
                    "type": "code_interpreter_call",
                    "status": "completed",
                    "container_id": "cntr_1",
                    "code": "import pandas as pd\n" * 10,
                    "outputs": [{"type": "logs", "logs": "x" * 400}],
                }
            )
    text: list[str] = []
    annotations: list[dict[str, Any]] = []
    size = 0
    while size < chars:
        sentence = " ".join(rng.choices(WORDS, k=12)).capitalize() + ". "
        if len(annotations) < searches and rng.random() < 0.3:
            url = f"https://example.org/{len(annotations)}?utm_source=openai"
            cite = f"([example.org]({url})) "
            annotations.append(
                {
                    "type": "url_citation",
                    "start_index": size + len(sentence),
                    "end_index": size + len(sentence) + len(cite) - 1,
                    "url": url,
                    "title": "A source",
                }
            )
            sentence += cite
        text.append(sentence)
        size += len(sentence)
    answer = "".join(text)[:chars]
    annotations = [a for a in annotations if a["end_index"] <= len(answer)]
    output.append(
        {
            "id": "msg_1",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": answer, "annotations": annotations, "logprobs": []}
            ],
        }
    )
    return output


async def encoded(value: object, codec: PayloadCodec | None) -> int:
    payloads = pydantic_data_converter.payload_converter.to_payloads([value])
    if codec is not None:
        payloads = await codec.encode(payloads)
    return sum(p.ByteSize() for p in payloads)


def fit_plain(result: ResponseResult) -> tuple[ResponseResult, str]:
    """What the workflows do without a codec (`_size.fit_result`, measured the same way), and
    what it gave up."""
    if len(result.model_dump_json()) > RESULT_BUDGET:
        for smaller in fitting.reductions(result, RESULT_BUDGET):
            result = smaller
            if len(result.model_dump_json()) <= RESULT_BUDGET:
                break
    given_up = [
        "message text elided" if result.output_text_lengths is not None else "",
        f"{len(result.omitted_items)} items stubbed" if result.omitted_items else "",
        "response object dropped" if result.response is None else "",
        f"text cut at {result.output_text_offset:,}" if result.output_text_offset else "",
    ]
    return result, "; ".join(step for step in given_up if step) or "kept whole"


async def main(items: int, chars: int) -> None:
    rng = random.Random(7)
    output = deep_research_output(items, chars, rng)
    text = _items.output_text_of(output)
    body = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "o3-deep-research",
        "created_at": 1,
        "tools": [{"type": "web_search_preview"}],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
    }
    result = ResponseResult(
        response_id="resp_1",
        status="completed",
        output_text=text,
        output=output,
        response=body,
        output_kind=_items.output_kind(output),
    )
    keys = KeyRing.parse(f"bench:{new_key()}")
    print(
        f"{len(output)} items ({sum(1 for i in output if i['type'] == 'web_search_call')} "
        f"searches, {len(result.citations())} citations), {len(text):,}-character report; "
        f"payload limit {PAYLOAD_LIMIT:,} bytes, result budget {RESULT_BUDGET:,}\n"
    )
    print(f"{'result, as the workflows return it':48} {'bytes':>12}  fits")
    for name, codec in (
        ("plain JSON (no codec)", None),
        ("zlib", codec_chain(None, compress=True)),
        ("zlib + AES-GCM (DURABLE_RESPONSES_CODEC_KEYS)", codec_chain(keys)),
    ):
        size = await encoded(result, codec)
        print(f"{name:48} {size:>12,}  {'yes' if size <= PAYLOAD_LIMIT else 'NO'}")
    fitted, given_up = fit_plain(result)
    size = await encoded(fitted, None)
    print(
        f"{'plain JSON, fitted by the size guard':48} {size:>12,}  "
        f"{'yes' if size <= PAYLOAD_LIMIT else 'NO'}   ({given_up})"
    )
    restored = fitted.output_items() if not fitted.omitted_items else None
    print(f"{'  output_items() equal to the original items':48} {restored == output!s:>12}")

    policy = StreamPolicy()
    recorded = [fitting.RecordedItem.of(item, i, MAX_ITEM_BYTES) for i, item in enumerate(output)]
    fitting.omit_largest(recorded, policy.max_carried_item_bytes)
    state = ResumeState(
        response_id="resp_1",
        text=text[-policy.max_carried_chars :],
        text_offset=max(0, len(text) - policy.max_carried_chars),
        items=recorded,
    )
    carried = CarriedRequest(
        **ResponseRequest(input="(sent with the create; not carried)").model_dump(), resume=state
    )
    items_bytes = sum(r.bytes for r in recorded)
    print(f"\n{'streaming: carried into continue-as-new':48} {'bytes':>12}")
    print(
        f"{'  items (message text elided)':48} {items_bytes:>12,}  "
        f"(budget {policy.max_carried_item_bytes:,}; {sum(r.omitted for r in recorded)} stubbed)"
    )
    print(
        f"{'  text (cap max_carried_chars)':48} {len(state.text.encode()):>12,}  "
        f"(cap {policy.max_carried_chars:,} characters)"
    )
    print(f"{'  the whole continue-as-new input, plain':48} {await encoded(carried, None):>12,}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--chars", type=int, default=300_000)
    args = parser.parse_args()
    asyncio.run(main(args.items, args.chars))


if __name__ == "__main__":
    cli()
