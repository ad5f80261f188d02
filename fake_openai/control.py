"""A small client of the fake's `/_fake` control API (faults, config, introspection, reset)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from pydantic import BaseModel, Field

from .jobs import TERMINAL
from .webhooks import WebhookAttempt


class ResponseRecord(BaseModel):
    """What the fake knows of one response: canonical text, items, request and Response, event
    log, request counts."""

    id: str
    status: str
    model: str
    background: bool
    deleted: bool = False
    text: str = Field(
        description="Output text so far: all `output_text` parts of all messages, in output "
        "order (the SDK's `Response.output_text`); the canonical text once terminal."
    )
    planned_text: str = Field(
        description="The full text this response is set to produce ('' for a turn of calls, "
        "approval requests or a refusal)."
    )
    reasoning_summary: str = Field(
        default="", description="All reasoning summaries so far, in output order."
    )
    event_count: int = 0
    accepted_at: float = Field(default=0.0, description="Unix time the create was accepted.")
    started_at: float | None = Field(
        default=None, description="Unix time it left `queued` (None: it never ran)."
    )
    finished_at: float | None = Field(
        default=None, description="Unix time it reached its terminal status."
    )
    create_seconds: float = Field(
        default=0.0,
        description="Seconds the create request had been in flight when it was accepted "
        "(a `delay` fault adds to it).",
    )
    answered_at: float | None = Field(
        default=None,
        description="Unix time a create was last answered with this response; None: no "
        "client ever heard of it (see `counts`).",
    )
    idempotency_key: str | None = Field(
        default=None, description="The create's `Idempotency-Key` header, honoured or not."
    )
    counts: dict[str, int] = Field(
        default_factory=dict,
        description="Requests about this response (`creates`, `retrieves`, `stream_opens`, "
        "`cancels`, `idempotent_replays`) and why its create went unanswered: "
        "`reset_after_accept` (a `reset` fault with `when=after` dropped the connection) or "
        "`client_left_before_answer` (the client timed out or died while the create was in "
        "flight).",
    )
    metadata: dict[str, str] = Field(default_factory=dict)
    output: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The output items so far (the one being written in its partial form); the "
        "final `response.output` once terminal.",
    )
    response: dict[str, Any] = Field(
        default_factory=dict,
        description="The Response object as `GET /v1/responses/{id}` would return it now.",
    )
    request: dict[str, Any] = Field(
        default_factory=dict, description="The create body exactly as received (JSON)."
    )
    events: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class RequestRecord(BaseModel):
    """One API request as the fake received it."""

    at: float = Field(description="Unix time of arrival.")
    method: str
    path: str


class FakeControl:
    """Synchronous control client; `url` is the server root (no `/v1`)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_fake/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"fake control {method} {path}: {err.read().decode()}") from None

    def health(self) -> bool:
        return bool(self._call("GET", "health").get("ok"))

    def stats(self) -> dict[str, Any]:
        """Overall counts (`counts`) and per-response counts (`responses`)."""
        result: dict[str, Any] = self._call("GET", "stats")
        return result

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = self.stats()["counts"]
        return result

    def requests(self) -> list[RequestRecord]:
        """Every API request since the last reset, in arrival order."""
        return [RequestRecord.model_validate(r) for r in self._call("GET", "requests")]

    def webhooks(self) -> list[WebhookAttempt]:
        """Every webhook delivery attempt since the last reset, in the order they were made."""
        return [WebhookAttempt.model_validate(a) for a in self._call("GET", "webhooks")]

    def config(self) -> dict[str, Any]:
        """The runtime settings now, with the webhook secret the server signs with."""
        result: dict[str, Any] = self._call("GET", "config")
        return result

    def responses(self) -> list[ResponseRecord]:
        return [ResponseRecord.model_validate(r) for r in self._call("GET", "responses")]

    def response(self, response_id: str, *, events: bool = True) -> ResponseRecord:
        suffix = "" if events else "?events=false"
        return ResponseRecord.model_validate(self._call("GET", f"responses/{response_id}{suffix}"))

    def wait_terminal(self, response_id: str, timeout: float = 30.0) -> ResponseRecord:
        deadline = time.monotonic() + timeout
        while True:
            record = self.response(response_id, events=False)
            if record.terminal:
                return self.response(response_id)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{response_id} still {record.status} after {timeout}s")
            time.sleep(0.05)

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def add_fault(self, **rule: Any) -> list[dict[str, Any]]:
        """Add one rule, e.g. `add_fault(route="create", kind="error", status=429, times=2)`."""
        result: list[dict[str, Any]] = self._call("POST", "faults", rule)
        return result

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "faults")
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change generation settings (`tokens=`, `tokens_per_second=`...),
        or any of `config.RUNTIME_FIELDS` (`stream_retention_seconds=`, `webhook_url=`...) at
        run time; answers the settings now (`webhook_secret` included)."""
        result: dict[str, Any] = self._call("PUT", "config", settings)
        return result
