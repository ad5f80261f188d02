"""Scripted and probabilistic faults, decided deterministically from a seed and request order."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Route = Literal["create", "retrieve", "stream", "cancel", "delete", "webhook", "any"]
FaultKind = Literal[
    "error",
    "reset",
    "cut",
    "error_event",
    "delay",
    "fail",
    "incomplete",
    "expire",
    "unavailable",
    "drop",
    "duplicate",
]

WEBHOOK_KINDS = frozenset({"drop", "duplicate", "delay"})
"""What a `webhook` rule may do to an event: lose it, send it twice, send it late."""


class FaultRule(BaseModel):
    """One fault: which requests it hits, what it does, how often.

    Routes: `create` (POST /v1/responses), `retrieve` (GET without stream), `stream` (any SSE
    answer: a streaming create or GET ?stream=true), `cancel`, `delete`, `any` (any of those),
    and `webhook` (the fake's own outgoing event deliveries, which `any` leaves alone: a rule
    written for API requests must not eat webhooks).
    """

    model_config = ConfigDict(extra="forbid")

    route: Route = "any"
    kind: FaultKind
    status: int = Field(default=500, ge=400, le=599, description="HTTP status of `error`.")
    code: str | None = Field(
        default=None, description="Error code (`error`, `error_event`, `fail`)."
    )
    message: str | None = Field(
        default=None, description="Error message (`error`, `error_event`, `fail`)."
    )
    retry_after: float | None = Field(default=None, ge=0, description="`retry-after` seconds.")
    retry_after_ms: int | None = Field(default=None, ge=0, description="`retry-after-ms`.")
    after_events: int = Field(
        default=3, ge=0, description="`cut`/`error_event`: events sent before it."
    )
    seconds: float = Field(default=1.0, ge=0, description="`delay`: added latency.")
    after_tokens: int = Field(
        default=0, ge=0, description="`fail`/`incomplete`: tokens generated before ending."
    )
    reason: Literal["max_output_tokens", "content_filter"] = "max_output_tokens"
    when: Literal["before", "after"] = Field(
        default="before",
        description="`reset`/`delay` on create: before the job is created, or after (`reset`: "
        "the job runs and the client never hears of it; `delay`: its answer is late).",
    )
    probability: float = Field(default=1.0, ge=0, le=1)
    skip: int = Field(default=0, ge=0, description="Let the first N matching requests through.")
    times: int | None = Field(default=None, ge=0, description="Fire at most N times.")
    response_id: str | None = Field(default=None, description="Only requests for this response.")

    @model_validator(mode="after")
    def _fits_route(self) -> FaultRule:
        """A rule that could never fire is refused, not kept silently."""
        if self.route == "webhook" and self.kind not in WEBHOOK_KINDS:
            raise ValueError(f"route 'webhook' takes kind {sorted(WEBHOOK_KINDS)}")
        if self.kind in {"drop", "duplicate"} and self.route != "webhook":
            raise ValueError(f"kind {self.kind!r} is for route 'webhook'")
        if self.kind == "unavailable" and self.route not in {"create", "any"}:
            raise ValueError("kind 'unavailable' is for route 'create'")
        return self

    @classmethod
    def parse_spec(cls, spec: str) -> FaultRule:
        """Parse the CLI form `route=create,kind=error,status=429,retry_after=1,times=2`."""
        fields: dict[str, str] = {}
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault spec part {part!r} is not key=value")
            fields[key.strip()] = value.strip()
        return cls.model_validate(fields)


@dataclass
class _Armed:
    rule: FaultRule
    rng: random.Random
    matched: int = 0
    fired: int = 0


@dataclass
class FaultInjector:
    """Holds the active rules; `pick` returns the first rule that fires for a request."""

    seed: int = 0
    _armed: list[_Armed] = field(default_factory=list)
    _added: int = 0

    def add(self, rule: FaultRule) -> None:
        self._added += 1
        self._armed.append(_Armed(rule, random.Random(self.seed * 1_000_003 + self._added)))

    def clear(self) -> None:
        self._armed.clear()
        self._added = 0

    def pick(
        self, tags: set[str], response_id: str | None, kinds: set[str] | None = None
    ) -> FaultRule | None:
        for armed in self._armed:
            rule = armed.rule
            if rule.route == "any" and "webhook" in tags:
                continue
            if rule.route != "any" and rule.route not in tags:
                continue
            if kinds is not None and rule.kind not in kinds:
                continue
            if rule.response_id is not None and rule.response_id != response_id:
                continue
            armed.matched += 1
            if armed.matched <= rule.skip:
                continue
            if rule.times is not None and armed.fired >= rule.times:
                continue
            if rule.probability < 1.0 and armed.rng.random() >= rule.probability:
                continue
            armed.fired += 1
            return rule
        return None

    def describe(self) -> list[dict[str, object]]:
        return [
            {**a.rule.model_dump(), "matched": a.matched, "fired": a.fired} for a in self._armed
        ]

    @property
    def fired_total(self) -> int:
        return sum(a.fired for a in self._armed)
