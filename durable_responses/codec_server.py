"""The codec server: lets Temporal's Web UI and CLI show the payloads our codec encrypts.

    DURABLE_RESPONSES_CODEC_KEYS=... durable-responses-codec-server --port 8081
    temporal workflow show -w ID --codec-endpoint http://127.0.0.1:8081

It speaks Temporal's codec server protocol: `POST /encode` and `POST /decode`, each taking and
answering `{"payloads": [...]}` in protobuf JSON (also under `/{namespace}/...`, for a CLI
endpoint templated with `{namespace}`). Browsers reach it through CORS, from the configured
Web UI origins only. It holds the keys, so by default it listens on loopback only; elsewhere,
set a token (`DURABLE_RESPONSES_CODEC_TOKEN`, sent by the CLI as
`--codec-auth "Bearer TOKEN"`) or put it behind an authenticating proxy.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import ClassVar

from aiohttp import hdrs, web
from google.protobuf import json_format
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from durable_responses import cli
from durable_responses.codec import ENVIRONMENT as CODEC_ENVIRONMENT
from durable_responses.codec import (
    KEYS_FILE_VARIABLE,
    KEYS_VARIABLE,
    KeyRing,
    codec_chain,
)

logger = logging.getLogger("durable_responses.codec_server")

TOKEN_VARIABLE = "DURABLE_RESPONSES_CODEC_TOKEN"
ORIGINS_VARIABLE = "DURABLE_RESPONSES_CODEC_CORS_ORIGINS"

DEFAULT_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")
"""The dev server's Web UI; its origin is whichever of the two hosts the browser was given."""
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
"""What the Web UI sends (`Authorization` only with its "pass access token" setting)."""
MAX_BODY_BYTES = 16 * 1024 * 1024
"""A history event's payloads may reach Temporal's 2 MB blob limit, a third more in base64;
aiohttp's default of 1 MiB would refuse them."""


class CodecServerSettings(cli.CommandSettings):
    """Temporal codec server for durable-responses payloads (Web UI and CLI)."""

    model_config = SettingsConfigDict(cli_prog_name="durable-responses-codec-server")
    VARIABLES: ClassVar[dict[str, str]] = {
        "host": "DURABLE_RESPONSES_CODEC_HOST",
        "port": "DURABLE_RESPONSES_CODEC_PORT",
        "cors_origins": ORIGINS_VARIABLE,
    }
    ENVIRONMENT: ClassVar[dict[str, str]] = {
        **CODEC_ENVIRONMENT,
        # Never a flag: `ps` shows the command line.
        TOKEN_VARIABLE: "require `Authorization: Bearer <token>` on /encode and /decode",
    }

    host: str = Field(default=DEFAULT_HOST, description="listen address (default loopback)")
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535, description="listen port")
    cors_origins: str = Field(
        default=",".join(DEFAULT_ORIGINS),
        description="Web UI origins allowed by CORS, comma separated",
    )


ENVIRONMENT: dict[str, str] = {
    **CodecServerSettings.ENVIRONMENT,
    **CodecServerSettings.environment(),
}
"""Every environment variable the codec server reads."""

_Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def build_app(
    codec: PayloadCodec,
    *,
    token: str | None = None,
    origins: Iterable[str] = DEFAULT_ORIGINS,
) -> web.Application:
    """The codec server's routes, CORS for `origins` and, if `token` is set, bearer auth.

    Preflight `OPTIONS` requests and `GET /health` never need the token.
    """
    allowed = frozenset(origin.rstrip("/") for origin in origins)
    expected = f"Bearer {token}".encode() if token else None

    @web.middleware
    async def cors_and_auth(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        cors = origin is not None and origin in allowed
        response: web.StreamResponse
        if request.method == hdrs.METH_OPTIONS:
            response = web.Response(status=204 if cors else 403)
            if cors:
                response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = "POST, OPTIONS"
                response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ALLOWED_HEADERS
                response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "600"
        elif (
            expected is not None
            and request.path != "/health"
            and not hmac.compare_digest(
                request.headers.get(hdrs.AUTHORIZATION, "").encode(), expected
            )
        ):
            response = web.json_response(
                {"error": "missing or wrong bearer token"},
                status=401,
                headers={hdrs.WWW_AUTHENTICATE: "Bearer"},
            )
        else:
            response = await handler(request)
        if cors and origin is not None:
            # Also on errors, so the Web UI can read why a call failed.
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
        response.headers.add(hdrs.VARY, hdrs.ORIGIN)
        return response

    def route(transform: _Transform) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return await _apply(transform, request)

        return handle

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(middlewares=[cors_and_auth], client_max_size=MAX_BODY_BYTES)
    encode, decode = route(codec.encode), route(codec.decode)
    app.add_routes(
        [
            web.post("/encode", encode),
            web.post("/decode", decode),
            web.post("/{namespace}/encode", encode),
            web.post("/{namespace}/decode", decode),
            web.get("/health", health),
        ]
    )
    return app


async def _apply(transform: _Transform, request: web.Request) -> web.Response:
    """Run `transform` over the posted payloads; a bad body or payload is a 400 that says why."""
    namespace = request.headers.get("X-Namespace") or request.match_info.get("namespace", "")
    try:
        payloads = json_format.Parse(await request.read(), Payloads())
    except (json_format.ParseError, UnicodeDecodeError):
        return web.json_response(
            {"error": 'expected {"payloads": [...]} in protobuf JSON'}, status=400
        )
    try:
        result = await transform(payloads.payloads)
    except ValueError as err:
        logger.warning("%s for namespace %r failed: %s", request.path, namespace, err)
        return web.json_response({"error": str(err)}, status=400)
    logger.debug("%s: %d payloads for namespace %r", request.path, len(result), namespace)
    return web.Response(
        text=json_format.MessageToJson(Payloads(payloads=result), indent=None),
        content_type="application/json",
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(settings: CodecServerSettings) -> int:
    """Check the keys, then serve until SIGINT/SIGTERM."""
    try:
        keys = KeyRing.from_env()
    except ValueError as err:
        raise cli.CommandError(str(err)) from None
    if keys is None:
        raise cli.CommandError(f"no keys: set {KEYS_VARIABLE} or {KEYS_FILE_VARIABLE}")
    codec = codec_chain(keys)
    assert codec is not None  # keys are set
    token = os.environ.get(TOKEN_VARIABLE) or None
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    origins = origins or list(DEFAULT_ORIGINS)
    logger.info(
        "codec server on http://%s:%d: keys %s (newest %s), CORS origins %s, token %s",
        settings.host,
        settings.port,
        ",".join(keys.ids),
        keys.newest,
        ",".join(origins),
        "required" if token else "not required",
    )
    if token is None and not _is_loopback(settings.host):
        logger.warning(
            "listening beyond loopback without %s: whoever reaches it can decode", TOKEN_VARIABLE
        )
    runner = web.AppRunner(build_app(codec, token=token, origins=origins), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        return await cli.until_signalled()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-codec-server`; exits with a one-line error."""
    cli.run(CodecServerSettings, serve, argv)


if __name__ == "__main__":
    main()
