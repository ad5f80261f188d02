"""`bench.gateway --resets N`: N event streams reset by their clients, and how soon the gateway's
CPU is back to idle (issue 28's acceptance: 200 streams, within 2 s).

N clients each create a streamed run that the provider keeps `queued` (nothing to send but a
keepalive: the case where a handler that missed its client's departure would go on reading
Temporal for minutes), read its first event, then reset the connection (TCP RST, as a killed
browser or a proxy's reset does). The bench samples the gateway's CPU every `SAMPLE` seconds
from before the streams open to `AFTER` seconds after the last reset, and reports when it fell
back to its idle rate for good. The runs are cancelled at the end.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
import uuid

import aiohttp

from bench._process import cpu_seconds, fake_process
from durable_responses.gateway import hash_key
from durable_responses.testing import GatewayProcess, WorkerProcess, dev_server
from tests.workers import address_of, free_port

KEY = "bench-resets-key"
SAMPLE = 0.25
"""Seconds per CPU sample."""
AFTER = 6.0
"""Seconds sampled after the last reset."""
IDLE_MARGIN = 0.03
"""Cores above the idle rate that still count as idle (the samples' own noise)."""


async def _open_then_reset(host: str, port: int, body: bytes) -> str:
    """A streamed create, read to its first event, then reset; the response id."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /v1/responses HTTP/1.1\r\nHost: gateway\r\n"
        + f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    response_id = ""
    async with asyncio.timeout(60):
        while not response_id:
            line = await reader.readline()
            if not line:
                raise RuntimeError("the stream closed before its first event")
            if line.startswith(b"data:"):
                response_id = json.loads(line[5:])["response"]["id"]
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # with linger 0: an RST, no FIN
    return response_id


async def main(streams: int, processes: int = 1) -> None:
    fake_port = free_port()
    fake_proc = fake_process(fake_port, "--queued-seconds", "600", "--reasoning", "off")
    direct = f"http://127.0.0.1:{fake_port}/v1"
    body = json.dumps({"model": "gpt-4.1", "input": "Hi.", "background": True, "stream": True})
    try:
        async with dev_server(port=None, ui_port=None, db=None) as env:
            address = address_of(env)
            task_queue = f"bench-resets-{uuid.uuid4()}"
            env_vars = {"OPENAI_BASE_URL": direct, "OPENAI_API_KEY": "sk-bench"}
            port = free_port()
            with (
                WorkerProcess(
                    address, task_queue, env=env_vars, args=["--processes", str(processes)]
                ),
                GatewayProcess(address, task_queue, port=port, keys=f"bench:{hash_key(KEY)}") as gw,
            ):
                pid = gw.pid or 0
                samples: list[tuple[float, float]] = []  # (seconds since start, cores)
                began = time.monotonic()
                stop = asyncio.Event()

                async def sample() -> None:
                    last_cpu, last_at = cpu_seconds(pid), time.monotonic()
                    while not stop.is_set():
                        await asyncio.sleep(SAMPLE)
                        cpu, at = cpu_seconds(pid), time.monotonic()
                        samples.append((at - began, (cpu - last_cpu) / (at - last_at)))
                        last_cpu, last_at = cpu, at

                sampler = asyncio.create_task(sample())
                await asyncio.sleep(2.0)
                idle = sum(cores for _, cores in samples) / max(len(samples), 1)
                opened_at = time.monotonic() - began
                cpu_open = cpu_seconds(pid)
                ids = await asyncio.gather(
                    *(_open_then_reset("127.0.0.1", port, body.encode()) for _ in range(streams))
                )
                reset_at = time.monotonic() - began
                cpu_reset = cpu_seconds(pid)
                await asyncio.sleep(AFTER)
                stop.set()
                await sampler
                cpu_after = cpu_seconds(pid)
                async with aiohttp.ClientSession() as http:
                    headers = {"Authorization": f"Bearer {KEY}"}
                    await asyncio.gather(
                        *(http.post(f"{gw.url}/responses/{i}/cancel", headers=headers) for i in ids)
                    )
    finally:
        fake_proc.kill()
    _print(streams, idle, samples, opened_at, reset_at, cpu_reset - cpu_open, cpu_after - cpu_reset)


def _print(
    streams: int,
    idle: float,
    samples: list[tuple[float, float]],
    opened_at: float,
    reset_at: float,
    opening_cpu: float,
    after_cpu: float,
) -> None:
    threshold = idle + IDLE_MARGIN
    after = [(at, cores) for at, cores in samples if at > reset_at]
    busy = [at for at, cores in after if cores > threshold]
    back = (busy[-1] - reset_at) if busy else 0.0
    print(
        f"\n{streams} streams of queued runs, each reset by its client after its first event\n"
        f"idle gateway {idle:.3f} cores; opening them took {reset_at - opened_at:.1f} s and "
        f"{opening_cpu:.2f} s CPU; the {AFTER:g} s after the last reset {after_cpu:.2f} s CPU\n"
        f"back to idle (<= {threshold:.2f} cores for good) {back:.2f} s after the last reset "
        f"(target: within 2 s)\n"
    )
    print("| s after the last reset | gateway cores |\n|---|---|")
    for at, cores in after:
        print(f"| {at - reset_at:.2f} | {cores:.3f} |")
