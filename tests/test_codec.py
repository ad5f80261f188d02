"""Payload codecs and the codec server: prompts and answers never reach history in plaintext,
yet the Web UI and CLI can still read them through the codec server."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.exceptions import ApplicationError

from durable_responses.codec import (
    KEYS_FILE_VARIABLE,
    KEYS_VARIABLE,
    ChainCodec,
    CompressionCodec,
    EncryptionCodec,
    KeyRing,
    codec_chain,
    data_converter,
    new_key,
)
from durable_responses.codec import main as codec_main
from durable_responses.codec_server import build_app
from durable_responses.models import PollPolicy, ResponseRequest
from durable_responses.testing import find_binary
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import address_of, build_worker

SECRET = "ZEBRA-PROMPT-7731"
KEY_A = new_key()
KEY_B = new_key()
RING_A = KeyRing.parse(f"a:{KEY_A}")
RING_B = KeyRing.parse(f"b:{KEY_B}")
RING_AB = KeyRing.parse(f"a:{KEY_A}\nb:{KEY_B}")
UI_ORIGIN = "http://localhost:8233"


def payload(text: str, encoding: bytes = b"json/plain") -> Payload:
    return Payload(metadata={"encoding": encoding}, data=json.dumps(text).encode())


def encoding(p: Payload) -> bytes:
    return p.metadata["encoding"]


def chain(keys: KeyRing) -> PayloadCodec:
    codec = codec_chain(keys)
    assert codec is not None
    return codec


# ---- codecs --------------------------------------------------------------------------------


async def test_chain_round_trips_compressing_only_large_payloads_that_shrink():
    small = payload(f"{SECRET} short")
    large = payload(f"{SECRET} " * 200)  # 3.6 kB that zlib shrinks a lot
    noise = Payload(metadata={"encoding": b"binary/plain"}, data=os.urandom(2048))  # incompressible
    originals = [small, large, noise]

    encoded = await chain(RING_AB).encode(originals)

    assert [encoding(p) for p in encoded] == [b"binary/encrypted"] * 3
    inner = await EncryptionCodec(RING_AB).decode(encoded)
    assert [encoding(p) for p in inner] == [b"json/plain", b"binary/zlib", b"binary/plain"]
    assert inner[1].ByteSize() < large.ByteSize() // 10
    assert await chain(RING_AB).decode(encoded) == originals


async def test_compression_alone_when_there_are_no_keys():
    codec = codec_chain(None)
    assert isinstance(codec, CompressionCodec)
    assert codec_chain(None, compress=False) is None
    assert isinstance(codec_chain(RING_A, compress=False), EncryptionCodec)
    assert isinstance(codec_chain(RING_A), ChainCodec)
    large = payload("x" * 5000)
    [compressed] = await codec.encode([large])
    assert encoding(compressed) == b"binary/zlib"
    assert await codec.decode([compressed, payload("plain")]) == [large, payload("plain")]


async def test_ciphertext_hides_the_plaintext_and_names_the_newest_key():
    encoded = await chain(RING_AB).encode([payload(SECRET), payload(SECRET * 100)])
    for p in encoded:
        assert SECRET.encode() not in p.SerializeToString()
        assert p.metadata["encryption-key-id"] == b"b"
    again = await chain(RING_AB).encode([payload(SECRET)])
    assert again[0].data != encoded[0].data  # a fresh nonce every time


async def test_rotation_old_payloads_decrypt_new_ones_use_the_newest_key():
    originals = [payload(SECRET), payload(SECRET * 100)]
    written_with_a = await chain(RING_A).encode(originals)

    assert await chain(RING_AB).decode(written_with_a) == originals
    written_with_ab = await chain(RING_AB).encode(originals)
    assert {p.metadata["encryption-key-id"] for p in written_with_ab} == {b"b"}
    with pytest.raises(ValueError, match=r"key 'a'.*not in the key ring \(b\)") as err:
        await chain(RING_B).decode(written_with_a)
    assert KEY_A not in str(err.value) and KEY_B not in str(err.value)


async def test_a_tampered_payload_fails_to_decode():
    [encrypted] = await chain(RING_A).encode([payload(SECRET)])
    data = bytearray(encrypted.data)
    data[len(data) // 2] ^= 0x01
    encrypted.data = bytes(data)
    with pytest.raises(ValueError, match=r"key 'a' failed authentication"):
        await chain(RING_A).decode([encrypted])


async def test_a_swapped_key_under_a_known_id_fails_to_decode():
    [encrypted] = await chain(RING_A).encode([payload(SECRET)])
    impostor = KeyRing.parse(f"a:{KEY_B}")
    with pytest.raises(ValueError, match="failed authentication") as err:
        await chain(impostor).decode([encrypted])
    assert KEY_B not in str(err.value)


async def test_a_zlib_bomb_is_refused():
    bomb = Payload(metadata={"encoding": b"binary/zlib"}, data=zlib.compress(b"\0" * 2_000_000))
    with pytest.raises(ValueError, match="inflates beyond"):
        await CompressionCodec(max_decompressed=1_000_000).decode([bomb])


async def test_failure_message_and_stack_are_encrypted():
    converter = data_converter(chain(RING_A))
    failure = Failure()
    try:
        raise ApplicationError(f"secret {SECRET}", type="Oops")
    except ApplicationError as exc:
        await converter.encode_failure(exc, failure)

    assert SECRET not in failure.message and SECRET not in failure.stack_trace
    assert SECRET.encode() not in failure.SerializeToString()
    assert failure.encoded_attributes.metadata["encoding"] == b"binary/encrypted"
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError) and decoded.message == f"secret {SECRET}"


def test_without_a_codec_the_converter_is_the_plain_pydantic_one():
    from temporalio.contrib.pydantic import PydanticPayloadConverter

    converter = data_converter(None)
    assert converter.payload_converter_class is PydanticPayloadConverter
    assert converter.payload_codec is None
    assert converter.failure_converter_class is DataConverter.default.failure_converter_class


# ---- key ring ------------------------------------------------------------------------------


def test_parse_accepts_commas_newlines_comments_and_keeps_the_order():
    ring = KeyRing.parse(f"# rotated 2025-01\n a:{KEY_A} , \n\n# current\nb:{KEY_B}  # newest\n")
    assert ring.ids == ("a", "b") and ring.newest == "b" and len(ring) == 2
    assert KeyRing.parse(f"x.1:{KEY_A},y_2-z:{KEY_B}").ids == ("x.1", "y_2-z")
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(KEY_A)).decode()
    assert KeyRing.parse(f"a:{urlsafe}").ids == ("a",)
    assert KEY_A not in repr(RING_AB)


SHORT_KEY = base64.b64encode(b"k" * 16).decode()


@pytest.mark.parametrize(
    ("text", "message", "secret"),
    [
        ("a:not*base64!!", r"key 1 \('a'\): not valid base64", "not*base64!!"),
        (f"a:{SHORT_KEY}", r"key 1 \('a'\): 16 bytes, AES-256 needs 32", SHORT_KEY),
        (f"a:{KEY_A},a:{KEY_B}", r"key 2: duplicate key id 'a'", KEY_B),
        (f"a:{KEY_A},{KEY_B}", r"key 2: expected id:BASE64KEY", KEY_B),
        (f"{KEY_A}:a", r"key 1: its id must be non-empty", KEY_A),
        (f":{KEY_A}", r"key 1: its id must be non-empty", KEY_A),
        ("# nothing\n\n", r"no keys", None),
    ],
    ids=["bad-base64", "wrong-length", "duplicate-id", "no-id", "reversed", "empty-id", "empty"],
)
def test_parse_errors_say_what_is_wrong_without_the_key(text, message, secret):
    with pytest.raises(ValueError, match=message) as err:
        KeyRing.parse(text)
    if secret is not None:
        assert secret not in str(err.value)


def test_from_env_reads_the_variable_then_the_file(tmp_path):
    keys_file = tmp_path / "codec-keys"
    keys_file.write_text(f"# docker secret\nb:{KEY_B}\n")
    assert KeyRing.from_env({}) is None
    assert KeyRing.from_env({KEYS_VARIABLE: ""}) is None
    from_variable = KeyRing.from_env({KEYS_VARIABLE: f"a:{KEY_A}"})
    assert from_variable is not None and from_variable.ids == ("a",)
    from_file = KeyRing.from_env({KEYS_FILE_VARIABLE: str(keys_file)})
    assert from_file is not None and from_file.ids == ("b",)
    both = KeyRing.from_env({KEYS_VARIABLE: f"a:{KEY_A}", KEYS_FILE_VARIABLE: str(keys_file)})
    assert both is not None and both.ids == ("a",)
    with pytest.raises(ValueError, match=f"{KEYS_FILE_VARIABLE} .*cannot read"):
        KeyRing.from_env({KEYS_FILE_VARIABLE: str(tmp_path / "missing")})
    with pytest.raises(ValueError, match=f"^{KEYS_VARIABLE}: key 1 \\('a'\\): 16 bytes"):
        KeyRing.from_env({KEYS_VARIABLE: f"a:{SHORT_KEY}"})


# ---- codec server --------------------------------------------------------------------------


@asynccontextmanager
async def codec_server(codec: PayloadCodec, token: str | None = None) -> AsyncIterator[str]:
    """The codec server over real HTTP on a free loopback port; yields its base URL."""
    runner = web.AppRunner(build_app(codec, token=token, origins=[UI_ORIGIN]))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def as_json(payloads: list[Payload]) -> dict:
    return json_format.MessageToDict(Payloads(payloads=payloads))


def from_json(body: dict) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


async def test_codec_server_encodes_and_decodes_over_http():
    originals = [payload(SECRET), payload(SECRET * 100)]
    headers = {"X-Namespace": "default", "Origin": UI_ORIGIN}
    async with codec_server(chain(RING_AB)) as url, aiohttp.ClientSession() as http:
        async with http.post(f"{url}/encode", json=as_json(originals), headers=headers) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
            encoded = from_json(await resp.json())
        assert [p.metadata["encryption-key-id"] for p in encoded] == [b"b", b"b"]
        assert SECRET not in json.dumps(as_json(encoded))

        async with http.post(f"{url}/decode", json=as_json(encoded), headers=headers) as resp:
            assert resp.status == 200
            assert from_json(await resp.json()) == originals
        async with http.post(f"{url}/default/decode", json=as_json(encoded)) as resp:
            assert from_json(await resp.json()) == originals  # `{namespace}` endpoints

        async with http.post(f"{url}/decode", data=b"not json") as resp:
            assert resp.status == 400
        [foreign] = await chain(KeyRing.parse(f"c:{new_key()}")).encode([payload(SECRET)])
        async with http.post(f"{url}/decode", json=as_json([foreign])) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
            assert "key 'c'" in error and "not in the key ring (a, b)" in error
        async with http.get(f"{url}/health") as resp:
            assert resp.status == 200


async def test_codec_server_answers_cors_preflights_for_its_origins_only():
    preflight = {
        "Origin": UI_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
    }
    async with codec_server(chain(RING_A), token="t0ken") as url, aiohttp.ClientSession() as http:
        async with http.options(f"{url}/decode", headers=preflight) as resp:
            assert resp.status == 204  # no token needed for a preflight
            assert resp.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
            assert resp.headers["Access-Control-Allow-Credentials"] == "true"
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
            allowed = {
                h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")
            }
            assert {"content-type", "x-namespace", "authorization"} <= allowed
        evil = {**preflight, "Origin": "https://evil.example"}
        async with http.options(f"{url}/decode", headers=evil) as resp:
            assert resp.status == 403
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_codec_server_with_a_token_refuses_requests_without_it():
    [encoded] = await chain(RING_A).encode([payload(SECRET)])
    body = as_json([encoded])
    async with codec_server(chain(RING_A), token="t0ken") as url, aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "t0ken"}):
            async with http.post(f"{url}/decode", json=body, headers=headers) as resp:
                assert resp.status == 401
                assert SECRET not in await resp.text()
        ok = {"Authorization": "Bearer t0ken", "Origin": UI_ORIGIN}
        async with http.post(f"{url}/decode", json=body, headers=ok) as resp:
            assert resp.status == 200
            assert from_json(await resp.json()) == [payload(SECRET)]
        async with http.get(f"{url}/health") as resp:
            assert resp.status == 200  # compose health checks carry no token


def test_codec_server_refuses_to_start_without_keys_in_one_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_RESPONSES_CODEC")}
    for extra, message in [
        ({}, f"no keys: set {KEYS_VARIABLE} or {KEYS_FILE_VARIABLE}"),
        ({KEYS_VARIABLE: f"a:{SHORT_KEY}"}, "key 1 ('a'): 16 bytes"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "durable_responses.codec_server"],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 1 and done.stdout == ""
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("codec-server: ") and message in line and SHORT_KEY not in line


def test_new_key_prints_an_id_and_a_key_the_ring_accepts(capsys):
    codec_main(["new-key", "k1"])
    line = capsys.readouterr().out.strip()
    assert line.startswith("k1:") and KeyRing.parse(line).ids == ("k1",)


# ---- end to end: dev server, worker, CLI ---------------------------------------------------


async def temporal_show(dev_env, workflow_id: str, *args: str) -> str:
    """`temporal workflow show -o json`, without blocking the loop the worker and codec server
    run on."""
    proc = await asyncio.create_subprocess_exec(
        find_binary("temporal"),
        "workflow",
        "show",
        "--address",
        address_of(dev_env),
        "--workflow-id",
        workflow_id,
        "-o",
        "json",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def readable(shown: str) -> str:
    """The CLI's JSON plus the data of every payload in it, decoded from base64.

    `workflow show -o json` prints payloads as protobuf JSON (data in base64, no shorthand:
    the output is meant for replay), decoded by the codec server but still base64.
    """
    parts = [shown]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "metadata" in node and isinstance(node.get("data"), str):
                parts.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(shown))
    return "\n".join(parts)


async def test_history_is_ciphertext_and_the_cli_reads_it_through_the_codec_server(
    dev_env, fake, activities, task_queue
):
    codec = chain(RING_AB)
    client = await Client.connect(address_of(dev_env), data_converter=data_converter(codec))
    workflow_id = f"codec-{uuid.uuid4()}"
    async with build_worker(client, activities, task_queue=task_queue):
        result = await client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(
                input=f"{SECRET} Briefly explain relativity.",
                poll=PollPolicy(initial_interval_seconds=0.2),
            ),
            id=workflow_id,
            task_queue=task_queue,
        )
    answer = result.output_text[:40]
    assert result.status == "completed" and len(answer) == 40

    # What the server stores: neither the prompt nor the answer.
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    raw = history.to_json()
    stored = b"".join(event.SerializeToString() for event in history.events)
    for text in (SECRET, answer):
        assert text not in raw and text.encode() not in stored

    shown = readable(await temporal_show(dev_env, workflow_id))
    assert SECRET not in shown and answer not in shown
    assert base64.b64encode(b"binary/encrypted").decode() in shown

    async with codec_server(codec, token="t0ken") as url:
        decoded = await temporal_show(
            dev_env, workflow_id, "--codec-endpoint", url, "--codec-auth", "Bearer t0ken"
        )
    assert SECRET in readable(decoded)
    assert json.dumps(answer, ensure_ascii=False)[1:-1] in readable(decoded)
