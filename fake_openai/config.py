"""Settings of the fake server: how responses are generated and how long streams stay resumable."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .faults import FaultRule


class GenerationSettings(BaseModel):
    """How a response is produced; every field can be overridden per request (see `overrides`)."""

    model_config = ConfigDict(extra="forbid")

    tokens: int = Field(default=300, ge=0, description="Answer tokens per response.")
    tokens_per_second: float = Field(default=150.0, gt=0, description="Answer generation rate.")
    queued_seconds: float = Field(default=0.3, ge=0, description="Time spent `queued`.")
    reasoning_seconds: float = Field(
        default=0.4, ge=0, description="Reasoning time before the first answer token."
    )
    reasoning_tokens: int = Field(
        default=24, ge=0, description="Reasoning summary tokens of reasoning models."
    )
    reasoning: bool | None = Field(
        default=None,
        description="Force reasoning on/off; None: by model name (o* or *reason*).",
    )
    seed: int = Field(default=0, description="Seed of the generated text.")
    item_seconds: float = Field(
        default=0.05,
        ge=0,
        description="Time each built-in tool item (web/file search, code, image, MCP) takes, "
        "spread over its progress events.",
    )
    searches: int = Field(
        default=3,
        ge=0,
        description="`web_search_call` items before an answer that has a web search tool "
        "(and deep research answers); one citation each.",
    )
    tool_rounds: str | None = Field(
        default=None,
        description="Function calls per turn, e.g. `get_weather,get_time;get_news`: turn 1 "
        "calls two tools in parallel, turn 2 one, turn 3 answers. None: every function tool "
        "on turn 1 (one a turn without `parallel_tool_calls`).",
    )
    mcp_tool: str = Field(
        default="ask_question", min_length=1, description="The one tool each MCP server lists."
    )
    refusal: bool = Field(
        default=False, description="Answer with a `refusal` content part instead of text."
    )
    image_bytes: int = Field(
        default=2048, ge=0, description="Size of each generated image (before base64)."
    )
    window_2h_seconds: float = Field(
        default=2.0, gt=0, description="The `2h` completion window, scaled to these seconds."
    )
    window_8h_seconds: float = Field(
        default=8.0, gt=0, description="The `8h` completion window, scaled to these seconds."
    )
    window_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="How far into its window a `2h`/`8h` response starts: it stays `queued` "
        "for window x fraction (instead of `queued_seconds`), the same every time.",
    )
    flex_slowdown: float = Field(
        default=2.0,
        ge=1,
        description='`service_tier: "flex"` responses stay `queued` this many times longer '
        "and write this many times slower.",
    )

    def overrides(self, metadata: dict[str, str]) -> GenerationSettings:
        """Apply per-request overrides from `fake_<field>` metadata keys (e.g. `fake_tokens`)."""
        update: dict[str, Any] = {}
        for name in type(self).model_fields:
            raw = metadata.get(f"fake_{name}")
            if raw is not None:
                update[name] = raw
        if not update:
            return self
        return type(self).model_validate({**self.model_dump(), **update})


RUNTIME_FIELDS = (
    "stream_retention_seconds",
    "honour_idempotency_key",
    "models",
    "max_request_bytes",
    "reject_unknown_parameters",
    "webhook_url",
    "webhook_secret",
    "webhook_timeout_seconds",
    "webhook_retry_seconds",
    "webhook_max_attempts",
    "flex_unavailable_seconds",
    "retrieve_lag_seconds",
)
"""Server settings (beyond generation) that `/_fake/config` may change at run time."""


class ServerSettings(BaseModel):
    """Start-up settings of one fake server."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(
        default=None, description="Required bearer token; None accepts any non-empty key."
    )
    stream_retention_seconds: float = Field(
        default=300.0, gt=0, description="How long after creation a stream may be resumed."
    )
    honour_idempotency_key: bool = Field(
        default=True,
        description="Answer a create that repeats an `Idempotency-Key` with the response the "
        "key first created. OpenAI does not document honouring the header: False ignores it, "
        "so every create makes a response.",
    )
    models: list[str] = Field(
        default_factory=list,
        description="Model names accepted beyond the built-in catalogue "
        "(fake_openai/catalogue.py); '*' accepts any. Other models get the API's 404 "
        "`model_not_found`.",
    )
    max_request_bytes: int = Field(
        default=25 * 1024 * 1024,
        gt=0,
        description="Create bodies above this many bytes get 413. The API's limit, as "
        "third-party error catalogues quote its 413, is 26,214,400 bytes; OpenAI does not "
        "document it.",
    )
    reject_unknown_parameters: bool = Field(
        default=True,
        description="Answer a create body key that `client.responses.create` of the installed "
        "SDK does not have with the API's 400 `unknown_parameter`; False accepts and ignores "
        "it (a parameter newer than the SDK).",
    )
    webhook_url: str | None = Field(
        default=None,
        description="Where `response.*` events of background responses are POSTed; None: no "
        "webhooks (the API's webhook endpoint, configured per project).",
    )
    webhook_secret: str | None = Field(
        default=None,
        description="The signing secret, `whsec_<base64>`; None with a URL set: one is made "
        "up (shown by `/_fake/config`).",
    )
    webhook_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="An attempt not answered within this is failed and retried (the API asks "
        "for a 2xx 'within a few seconds').",
    )
    webhook_retry_seconds: float = Field(
        default=1.0, ge=0, description="Wait before the first retry; doubles with each."
    )
    webhook_max_attempts: int = Field(
        default=6,
        ge=1,
        description="Attempts per event, the first included. ASSUMED: OpenAI documents retries "
        "with exponential backoff for up to 72 hours, not how many.",
    )
    flex_unavailable_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Every `flex` create within this many seconds from when it is set gets the "
        "API's 429 Resource Unavailable (no response is made); 0 ends it.",
    )
    retrieve_lag_seconds: float = Field(
        default=0.0,
        ge=0,
        description="For this long after a background response ends (when its webhook is "
        "sent), `GET /v1/responses/{id}` still shows it as it was just before: webhooks and "
        "reads are not ordered at the provider (eventual consistency). 0: reads are current.",
    )
    fault_seed: int = Field(default=0, description="Seed of probabilistic fault decisions.")
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    faults: list[FaultRule] = Field(default_factory=list)

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, secret: str | None) -> str | None:
        """The form the API hands out, so the signing key is its base64 part, as the SDK reads
        it (a secret without `whsec_` would be keyed by its raw bytes there)."""
        if secret is None:
            return None
        key = secret.removeprefix("whsec_")
        try:
            decoded = base64.b64decode(key, validate=True)
        except binascii.Error:
            decoded = b""
        if not secret.startswith("whsec_") or not decoded:
            raise ValueError("webhook_secret must be 'whsec_' followed by non-empty base64")
        return secret
