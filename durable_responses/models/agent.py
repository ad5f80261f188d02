"""Agent loops and sessions: the tools a loop may run, the approvals it waits on, what it returns.

A leaf module (pydantic only). The loop itself is workflow code
(`durable_responses.workflow.run_agent`, `workflows/_agent.py`); these models are what its
callers, its session workflow and its clients exchange.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .request import ResponseRequest
from .result import ResponseResult, Usage


class ToolRetry(BaseModel):
    """How a tool's activity is retried (Temporal's retry policy, in seconds)."""

    model_config = ConfigDict(extra="forbid")

    initial_interval_seconds: float = Field(default=1.0, gt=0)
    backoff: float = Field(default=2.0, ge=1.0)
    max_interval_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=5, ge=0, description="0: until the timeouts end it.")


class AgentTool(BaseModel):
    """A function tool the model may call, run as a Temporal activity by its type name.

    What a session (or any caller that cannot hand over Python functions) gives a loop; in
    workflow code, `durable_responses.workflow.activity_tool(fn)` builds one from the activity
    itself and `function_tool(fn)` runs a workflow-side function instead.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="The function's name, as the model sees it.")
    description: str = ""
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}, "additionalProperties": False},
        description="JSON schema of the arguments (strict: every property required).",
    )
    strict: bool = True
    activity: str | None = Field(
        default=None, description="The activity type to run; default: `name`."
    )
    task_queue: str | None = Field(default=None, description="Default: the workflow's queue.")
    start_to_close_seconds: float = Field(default=300.0, gt=0)
    heartbeat_seconds: float | None = Field(
        default=None, gt=0, description="Heartbeat timeout of a slow tool that heartbeats."
    )
    retry: ToolRetry = Field(default_factory=ToolRetry)
    needs_approval: bool = Field(
        default=False, description="Wait for an `approve` update before each call."
    )

    def definition(self) -> dict[str, Any]:
        """The `tools` entry the API takes."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": self.strict,
        }


class PendingApproval(BaseModel):
    """A tool call waiting for a person: an MCP approval request, or a call of a function
    tool that needs approval. Answer it with the `approve` update."""

    id: str = Field(description="The approval request's id, or the function call's `call_id`.")
    kind: Literal["mcp", "function"] = "mcp"
    name: str = ""
    server_label: str | None = None
    arguments: str = ""
    response_id: str = ""


class ApprovalDecision(BaseModel):
    """Input of the `approve` update: `{"id": "mcpr_…", "approve": true}`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    approve: bool = True
    reason: str | None = None


class ToolRun(BaseModel):
    """One function call the loop ran, and what it answered."""

    turn: int = 0
    call_id: str = ""
    name: str = ""
    arguments: str = ""
    output: str = ""
    approved: bool | None = Field(default=None, description="None: no approval was needed.")


class AgentResult(BaseModel):
    """Every turn of an agent loop (each a whole `ResponseResult`, items included), the tools
    it ran and the approvals it got, and the final answer."""

    turns: list[ResponseResult] = Field(default_factory=list)
    tool_runs: list[ToolRun] = Field(default_factory=list)
    approvals: list[ApprovalDecision] = Field(default_factory=list)
    output_text: str = Field(default="", description="The final answer's text.")
    response_id: str = Field(default="", description="The last turn's response.")
    usage: Usage = Field(default_factory=Usage, description="Every turn's tokens, summed.")

    @property
    def final(self) -> ResponseResult:
        """The last turn's result."""
        return self.turns[-1]


ModelT = TypeVar("ModelT", bound=BaseModel)


class ParsedAgentResult(AgentResult, Generic[ModelT]):
    """An agent result whose final answer was asked for as JSON of a model's schema."""

    output_parsed: ModelT | None = None


class SessionRequest(BaseModel):
    """Input of `AgentSessionWorkflow`: how every message of the conversation is answered."""

    model_config = ConfigDict(extra="forbid")

    request: ResponseRequest = Field(
        default_factory=lambda: ResponseRequest(input="(each message is the input)"),
        description="Model, instructions, API tools (web search, MCP...), poll policy... of "
        "every turn; its `input` is replaced by each message.",
    )
    tools: list[AgentTool] = Field(default_factory=list, description="Function tools.")
    streaming: bool = Field(default=False, description="Stream each turn (followers can watch).")
    max_turns: int = Field(default=10, ge=1, description="Model turns per message.")
    approval_timeout_seconds: float | None = Field(default=None, gt=0)
    max_messages_per_run: int = Field(
        default=50, ge=1, description="Continue-as-new after this many messages."
    )
    previous_response_id: str | None = Field(
        default=None, description="Set by continue-as-new: the conversation so far."
    )
    messages: int = Field(default=0, description="Set by continue-as-new: messages answered.")


class SessionMessage(BaseModel):
    """Input of a session's `send` update: one user message."""

    model_config = ConfigDict(extra="forbid")

    input: str | list[dict[str, Any]] = Field(min_length=1)


class SessionReply(BaseModel):
    """Answer of `send`: the reply to one message."""

    output_text: str = ""
    response_id: str = ""
    message: int = Field(default=0, description="This message's number in the session, from 1.")
    turns: int = 0
    tool_runs: list[ToolRun] = Field(default_factory=list)


class SessionState(BaseModel):
    """Answer of a session's `state` query."""

    messages: int = 0
    previous_response_id: str | None = None
    busy: bool = False
    current_turn: str | None = Field(
        default=None, description="The workflow id of the turn being answered, to follow."
    )
    pending_approvals: list[PendingApproval] = Field(default_factory=list)
    closed: bool = False
