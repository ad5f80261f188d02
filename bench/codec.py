"""What the payload codec costs and saves: history bytes of one long run with and without it,
and CPU time per MB of payload, against plain JSON in the same run.

    python -m bench.codec [--tokens 150000] [--repeat 20]

History: one `BackgroundResponseWorkflow` per converter (plain JSON, compression only,
compression + AES-256-GCM) on a dev server, against the fake with an answer of `--tokens`
tokens (150 000 is about 1 MB, under the 2 MB limit uncompressed); the bytes are the sum of
the stored events. CPU: `time.process_time` of encoding and decoding a payload holding a
1 MB answer `--repeat` times, per MB of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import openai
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import PayloadCodec

from durable_responses.activities import ResponsesActivities, ResponseSnapshot
from durable_responses.codec import KeyRing, codec_chain, data_converter, new_key
from durable_responses.fake_openai import FakeOpenAIServer, GenerationSettings, ServerSettings
from durable_responses.fake_openai.textgen import answer_tokens
from durable_responses.models import PollPolicy, ResponseRequest
from durable_responses.testing import dev_server
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import build_worker

KEYS = KeyRing.parse(f"bench:{new_key()}")
CODECS: dict[str, PayloadCodec | None] = {
    "plain JSON": None,
    "zlib": codec_chain(None, compress=True),
    "zlib + AES-GCM": codec_chain(KEYS),
    "AES-GCM only": codec_chain(KEYS, compress=False),
}


async def history_bytes(address: str, fake: FakeOpenAIServer, codec: PayloadCodec | None) -> int:
    client = await Client.connect(address, data_converter=data_converter(codec))
    api = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-bench", max_retries=0)
    task_queue = f"bench-codec-{uuid.uuid4()}"
    async with build_worker(client, ResponsesActivities(api), task_queue=task_queue):
        handle = await client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="Write at length.", poll=PollPolicy(initial_interval_seconds=2)),
            id=f"bench-codec-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await handle.result()
    history = await handle.fetch_history()
    return sum(event.ByteSize() for event in history.events)


async def cpu_per_mb(codec: PayloadCodec | None, repeat: int) -> tuple[float, float]:
    """Seconds of CPU per MB of JSON to encode, then to decode (the codec's share only)."""
    text = "".join(answer_tokens(seed=1, model="o3", input_="x", instructions=None, count=160_000))
    converter = data_converter(None).payload_converter
    (payload,) = converter.to_payloads([ResponseSnapshot(id="resp_x", output_text=text)])
    megabytes = len(payload.data) / 1e6
    if codec is None:
        return 0.0, 0.0
    started = time.process_time()
    encoded: list[Payload] = []
    for _ in range(repeat):
        encoded = await codec.encode([payload])
    encode = (time.process_time() - started) / repeat / megabytes
    started = time.process_time()
    for _ in range(repeat):
        await codec.decode(encoded)
    decode = (time.process_time() - started) / repeat / megabytes
    return encode, decode


async def main(tokens: int, repeat: int) -> None:
    generation = GenerationSettings(
        tokens=tokens, tokens_per_second=1_000_000, queued_seconds=0, reasoning_seconds=0
    )
    print(f"one BackgroundResponseWorkflow, {tokens} answer tokens; CPU over {repeat} rounds")
    print(
        f"{'converter':<16} {'history bytes':>14} {'vs plain':>9} {'encode s/MB':>12} "
        f"{'decode s/MB':>12}"
    )
    with FakeOpenAIServer(ServerSettings(generation=generation)) as fake:
        async with dev_server(port=None, ui_port=None, db=None) as env:
            address = env.client.service_client.config.target_host
            plain = 0
            for name, codec in CODECS.items():
                size = await history_bytes(address, fake, codec)
                plain = plain or size
                encode, decode = await cpu_per_mb(codec, repeat)
                print(
                    f"{name:<16} {size:>14,} {size / plain:>8.2f}x {encode:>12.4f} {decode:>12.4f}"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tokens", type=int, default=150_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.tokens, args.repeat))
