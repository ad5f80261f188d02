"""What an operator scrapes and probes: the gateway's Prometheus metrics (requests by route and
status, latency, open streams, runs started), and the worker's `/livez` and `/readyz`."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import openai
import pytest

from durable_responses.gateway.ids import workflow_id
from durable_responses.models.names import (
    METRIC_GATEWAY_LATENCY,
    METRIC_GATEWAY_OPEN_STREAMS,
    METRIC_GATEWAY_REQUESTS,
    METRIC_GATEWAY_RUNS_STARTED,
)
from durable_responses.testing import GatewayProcess
from tests.gateways import KEY, KEYS
from tests.tcp_proxy import TcpProxy
from tests.test_observability import _scrape, _total
from tests.workers import LOG_DIR, address_of, build_worker, free_port, worker_process


async def _metrics(port: int) -> dict[str, float]:
    return await asyncio.to_thread(_scrape, port)


async def _until_metric(port: int, name: str, value: float, **labels: str) -> None:
    async with asyncio.timeout(10):
        while _total(await _metrics(port), name, **labels) != value:
            await asyncio.sleep(0.1)


async def test_gateway_metrics_count_requests_by_route_and_status_streams_and_runs(
    dev_env, activities, fake, task_queue
):
    metrics_port = free_port()
    gateway = GatewayProcess(
        address_of(dev_env),
        task_queue,
        port=free_port(),
        keys=KEYS,
        args=["--metrics-port", str(metrics_port)],
        log_dir=LOG_DIR,
    )
    fake.configure(tokens=40, tokens_per_second=400)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        with gateway:  # started
            async with openai.AsyncOpenAI(base_url=gateway.url, api_key=KEY, max_retries=0) as sdk:
                first = await sdk.responses.create(model="o3", input="One.", background=True)
                await sdk.responses.create(model="o3", input="Two.", background=True)
                for _ in range(3):
                    await sdk.responses.retrieve(first.id)
                with pytest.raises(openai.NotFoundError):
                    await sdk.responses.retrieve("resp_" + "0" * 48)
                async with openai.AsyncOpenAI(
                    base_url=gateway.url, api_key="not-a-key", max_retries=0
                ) as stranger:
                    with pytest.raises(openai.AuthenticationError):
                        await stranger.models.list()
                # A stream open while it is scraped, then closed by its client.
                fake.configure(tokens=4000, tokens_per_second=20)
                stream = await sdk.responses.create(
                    model="o3", input="Long.", background=True, stream=True
                )
                created = await anext(aiter(stream))
                assert _total(await _metrics(metrics_port), METRIC_GATEWAY_OPEN_STREAMS) == 1
                await stream.close()
                await _until_metric(metrics_port, METRIC_GATEWAY_OPEN_STREAMS, 0)
                await sdk.responses.cancel(created.response.id)  # type: ignore[union-attr]
            unmatched = gateway.url.removesuffix("/v1") + "/no/such/path"
            async with aiohttp.ClientSession() as http, http.get(unmatched) as got:
                assert got.status == 404
            samples = await _metrics(metrics_port)

    def requests(**labels: str) -> float:
        return _total(samples, METRIC_GATEWAY_REQUESTS, **labels)

    create = {"method": "POST", "route": "/v1/responses"}
    read = {"method": "GET", "route": "/v1/responses/{response_id}"}
    assert requests(**create, status="200") == 3
    assert requests(method="POST", route="/v1/responses/{response_id}/cancel", status="200") == 1
    assert requests(**read, status="200") == 3
    assert requests(**read, status="404") == 1
    assert requests(method="GET", route="/v1/models", status="401") == 1
    assert requests(route="unmatched", status="404") == 1
    assert not [key for key in samples if "/no/such/path" in key]  # no label per path
    assert _total(samples, f"{METRIC_GATEWAY_LATENCY}_count", **create) == 3
    assert _total(samples, f"{METRIC_GATEWAY_LATENCY}_count", **read) == 4
    assert _total(samples, f"{METRIC_GATEWAY_LATENCY}_sum", **read) > 0
    assert _total(samples, METRIC_GATEWAY_RUNS_STARTED, tenant="acme", mode="background") == 2
    assert _total(samples, METRIC_GATEWAY_RUNS_STARTED, tenant="acme", mode="stream") == 1
    assert _total(samples, "temporal_request") > 0  # the SDK client's own share the page


async def _status(port: int, path: str) -> int:
    url = f"http://127.0.0.1:{port}{path}"
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        return answer.status


async def _until_status(port: int, path: str, status: int, seconds: float) -> float:
    """Seconds until `path` answers `status`; each answer must come within a second."""
    began = time.monotonic()
    while True:
        asked = time.monotonic()
        answered = await _status(port, path)
        assert time.monotonic() - asked < 1.0, "a readiness answer took a second or more"
        if answered == status:
            return time.monotonic() - began
        assert time.monotonic() - began < seconds, f"{path} still {answered}"
        await asyncio.sleep(0.05)


async def test_the_create_wait_is_the_operators_to_set(dev_env, task_queue):
    """`--create-wait-seconds`: no worker takes the run, so the provider never answers and
    the create is answered `queued` once the wait is over, not after the 5 s default (the
    gateway's log says which wait ran out: no clock to race on a busy machine)."""
    gateway = GatewayProcess(
        address_of(dev_env),
        task_queue,
        port=free_port(),
        keys=KEYS,
        args=["--create-wait-seconds", "0.3"],
        log_dir=LOG_DIR,
    )
    with gateway:
        async with openai.AsyncOpenAI(base_url=gateway.url, api_key=KEY, max_retries=0) as sdk:
            created = await sdk.responses.create(model="o3", input="Hi.", background=True)
        output = gateway.output()
    assert created.status == "queued"
    assert f"create of {created.id} not answered by the provider in 0.3s" in output, output
    run = dev_env.client.get_workflow_handle(workflow_id("acme", created.id))
    await run.terminate("tests/test_gateway_ops.py: no worker takes it")


async def test_worker_readyz_is_503_while_temporal_is_down_and_200_once_back(
    dev_env, fake_server, task_queue
):
    """A worker process reaching Temporal through a proxy that drops everything for a while:
    `/readyz` on its health port follows Temporal, `/livez` stays 200 throughout."""
    port = free_port()
    async with TcpProxy(address_of(dev_env)) as proxy:
        worker = worker_process(
            proxy.address, task_queue, fake_server.base_url, args=["--health-port", str(port)]
        )
        try:
            await asyncio.to_thread(worker.start)  # the proxy pumps on this loop meanwhile
            await _until_status(port, "/readyz", 200, 10)
            outage = asyncio.create_task(proxy.outage(4))
            assert await _until_status(port, "/readyz", 503, 3) < 1.5
            assert await _status(port, "/livez") == 200
            await outage
            await _until_status(port, "/readyz", 200, 20)
            assert await _status(port, "/livez") == 200
        finally:
            worker.close()
