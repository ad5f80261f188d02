"""The plan of a response: one frozen step per output item, and the turn that lists them.

`turns.py` decides the steps, `items.py` writes each as an item and its events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ReasoningStep:
    """A reasoning item with one summary part; `encrypted` only with that `include`."""

    tokens: tuple[str, ...]
    seconds: float
    encrypted: str | None = None


@dataclass(frozen=True)
class FunctionCallStep:
    """A `function_call` with its (JSON) arguments; the call id is made when written."""

    name: str
    arguments: str


@dataclass(frozen=True)
class WebSearchStep:
    """A `web_search_call`; `url` is what the answer cites, listed as a source if included."""

    query: str
    url: str
    sources: bool = False


@dataclass(frozen=True)
class FileSearchStep:
    """A `file_search_call`; `results` only with `include: ["file_search_call.results"]`."""

    queries: tuple[str, ...]
    results: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True)
class CodeInterpreterStep:
    """A `code_interpreter_call`; its logs are output only with that `include`."""

    code: str
    logs: str
    container_id: str | None = None
    """The tool's container id; None: a new one (`container: {"type": "auto"}`)."""
    outputs: bool = False


@dataclass(frozen=True)
class ImageStep:
    """An `image_generation_call`: base64 result, partial image and its look."""

    result: str
    partial: str
    revised_prompt: str
    size: str = "1024x1024"
    quality: str = "medium"
    background: str = "opaque"
    output_format: str = "png"


@dataclass(frozen=True)
class McpListToolsStep:
    """The tools an MCP server lists, before its first use in the chain."""

    server_label: str
    tools: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class McpApprovalRequestStep:
    """A call to an MCP tool that waits for the caller's approval in the next turn."""

    server_label: str
    name: str
    arguments: str


@dataclass(frozen=True)
class McpCallStep:
    """An MCP tool call and its output; `approval_request_id` if it was approved."""

    server_label: str
    name: str
    arguments: str
    output: str
    approval_request_id: str | None = None


@dataclass(frozen=True)
class MessageStep:
    """The assistant message: `tokens` as streamed; `annotations[i]` are announced right after
    token `i`, the one that completes their cited span. A refusal streams `refusal` deltas."""

    tokens: tuple[str, ...]
    annotations: Mapping[int, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    refusal: bool = False

    @property
    def text(self) -> str:
        return "".join(self.tokens)


Step = (
    ReasoningStep
    | FunctionCallStep
    | WebSearchStep
    | FileSearchStep
    | CodeInterpreterStep
    | ImageStep
    | McpListToolsStep
    | McpApprovalRequestStep
    | McpCallStep
    | MessageStep
)


@dataclass(frozen=True)
class Turn:
    """The items one response is set to produce, in output order."""

    steps: tuple[Step, ...]

    @property
    def message(self) -> MessageStep | None:
        return next((s for s in self.steps if isinstance(s, MessageStep)), None)

    @property
    def planned_text(self) -> str:
        message = self.message
        return message.text if message is not None and not message.refusal else ""

    @property
    def summary_tokens(self) -> int:
        return sum(len(s.tokens) for s in self.steps if isinstance(s, ReasoningStep))
