"""What one turn does: the deterministic plan of a response's output items.

A turn is planned from the request, the generation settings and the `previous_response_id`
chain (`chain.py`) before the response starts, so the same request and seed give the same
items (ids are random; texts, arguments and queries are not, `content.py`). The rules:

1. MCP servers not yet listed in the chain (or the input) get an `mcp_list_tools` item first.
2. `refusal`: (reasoning and) a message with a refusal part, nothing else.
3. Function calls. Turn N (`chain.turn_number`) calls round N of `tool_rounds`
   (`"a,b;c"`: turn 1 calls a and b, turn 2 calls c, turn 3 answers) or, by default, every
   function tool on turn 1 (one a turn, in `tools` order, when `parallel_tool_calls` is
   false). `tool_choice: {"type": "function", "name": X}` calls X on every turn; `"required"`
   calls the first function tool when the plan has none left; `"none"` turns every tool off;
   `allowed_tools` keeps only the tools it lists. A turn with calls is (reasoning and) the
   calls: the response completes with them last.
4. An input answering MCP approval requests: an `mcp_call` per approval, and for each
   rejection the sentence `The <name> call on <server_label> was not approved. ` opening the
   answer; then the answer.
5. Otherwise the built-in tools, in `tools` order, at most `max_tool_calls` calls in all:
   `searches` web searches (however many web search tools), one file search, one code
   interpreter call, one image, one MCP call or approval request per server (approval unless
   `require_approval` is `"never"` or lists the tool under `never.tool_names`; the API's default
   is `"always"`). A turn with approval requests ends with them.
6. The answer: (reasoning and) a message. After function outputs it opens with a quote of each
   (`<name> said "<output>". `); each web search of the turn adds a cited link. A
   `json_schema` text format gets plain JSON instead (no quotes, no citations).

Reasoning models think (a reasoning item) before the calls or the answer, with the full
`reasoning_tokens` and `reasoning_seconds`, and briefly (at most four summary tokens, no
pause) before each built-in tool call, as deep research does.
"""

from __future__ import annotations

from typing import Any

from . import chain, content, textgen
from .chain import PastResponse
from .config import GenerationSettings
from .errors import APIErrorResponse
from .params import CreateParams
from .steps import (
    FunctionCallStep,
    McpApprovalRequestStep,
    McpListToolsStep,
    MessageStep,
    ReasoningStep,
    Step,
    Turn,
    WebSearchStep,
)

_BRIEF_SUMMARY = 4
_BUILT_IN = frozenset({"file_search", "code_interpreter", "image_generation", "mcp"})


def is_reasoning_model(model: str, flag: bool | None) -> bool:
    if flag is not None:
        return flag
    name = model.lower()
    return name.startswith("o") or "reason" in name


def plan_turn(
    params: CreateParams, settings: GenerationSettings, history: list[PastResponse]
) -> Turn:
    """The steps of this response, by the rules above; raises the API's 400 when the input
    does not answer the chain's calls and approval requests."""
    chain.check_continuation(params.input, history)
    return _Planner(params, settings, history).plan()


class _Planner:
    """Builds one turn's steps, in output order, following the rules above."""

    def __init__(
        self, params: CreateParams, settings: GenerationSettings, history: list[PastResponse]
    ) -> None:
        self.params = params
        self.settings = settings
        self.history = history
        self.reasoning = is_reasoning_model(params.model, settings.reasoning)
        self.content = chain.without_ids(params.input)
        self.topic = chain.topic(params.input, history)
        self.tools = usable_tools(params)
        self.steps: list[Step] = []
        self.calls_left = params.max_tool_calls
        self.thoughts = 0

    def plan(self) -> Turn:
        listed = chain.listed_servers(self.history, self.params.input)
        for label in dict.fromkeys(t["server_label"] for t in self.tools if t["type"] == "mcp"):
            if label not in listed:
                tool = content.mcp_tool(self.settings.mcp_tool)
                self.steps.append(McpListToolsStep(label, (tool,)))
        if self.settings.refusal:
            return self._answer(MessageStep(tuple(content.words_of(content.REFUSAL)), refusal=True))
        calls = self._function_calls()
        if calls:
            self._think(brief=False)
            self.steps.extend(calls)
            return Turn(tuple(self.steps))
        opening = content.quotes(
            chain.input_items(self.params.input), chain.call_names(self.history, self.params.input)
        )
        approvals = chain.approval_responses(self.params.input)
        if approvals:
            opening = self._approved_calls(approvals) + opening
        else:
            self._built_in_tools()
            if any(isinstance(s, McpApprovalRequestStep) for s in self.steps):
                return Turn(tuple(self.steps))
        return self._answer(self._message(opening))

    def _answer(self, message: MessageStep) -> Turn:
        self._think(brief=False)
        self.steps.append(message)
        return Turn(tuple(self.steps))

    def _think(self, *, brief: bool = True) -> None:
        """A reasoning item: the turn's full one, or a brief one before a tool call."""
        if not self.reasoning:
            return
        s = self.settings
        if brief:
            self.thoughts += 1
            salt = f"summary-{self.thoughts}"
        else:
            salt = "summary"  # what a plain answer's reasoning always used
        tokens = textgen.summary_tokens(
            seed=s.seed,
            model=self.params.model,
            input_=self.content,
            instructions=self.params.instructions,
            count=min(_BRIEF_SUMMARY, s.reasoning_tokens) if brief else s.reasoning_tokens,
            salt=salt,
        )
        encrypted = None
        if self.params.includes("reasoning.encrypted_content"):
            encrypted = textgen.opaque(96, s.seed, self.params.model, self.content, salt)
        seconds = 0.0 if brief else s.reasoning_seconds
        self.steps.append(ReasoningStep(tuple(tokens), seconds, encrypted))

    def _take_call(self) -> bool:
        """Whether another built-in tool call fits `max_tool_calls` (then it is counted)."""
        if self.calls_left is None:
            return True
        if self.calls_left <= 0:
            return False
        self.calls_left -= 1
        return True

    def _function_calls(self) -> list[FunctionCallStep]:
        functions = {t["name"]: t for t in self.tools if t["type"] == "function"}
        if not functions:
            return []
        turn = chain.turn_number(self.history, self.params.input)
        choice = self.params.tool_choice
        if isinstance(choice, dict) and choice.get("type") == "function":
            names = [choice["name"]]
        else:
            plan = rounds(
                self.settings.tool_rounds, list(functions), self.params.parallel_tool_calls
            )
            names = plan[turn - 1] if turn <= len(plan) else []
            if not names and _required(choice):
                names = [next(iter(functions))]
        steps = []
        for index, name in enumerate(names):
            if name not in functions:
                raise APIErrorResponse(
                    400,
                    f"fake_tool_rounds names '{name}', which is not a function tool of this "
                    "request.",
                    param="metadata",
                )
            arguments = content.arguments(
                functions[name], self.settings.seed, self.content, turn, index
            )
            steps.append(FunctionCallStep(name, arguments))
        return steps

    def _approved_calls(self, approvals: list[dict[str, Any]]) -> str:
        """An `mcp_call` per approval; returns the sentences that report the rejections."""
        pending = chain.pending_approvals(self.history, self.params.input)
        rejected = ""
        for approval in approvals:
            request = pending[approval["approval_request_id"]]
            name, label = request["name"], request["server_label"]
            if not approval["approve"]:
                rejected += f"The {name} call on {label} was not approved. "
            elif self._take_call():
                self._think()
                self.steps.append(
                    content.mcp_call(
                        label, name, request["arguments"], self.settings.seed, request["id"]
                    )
                )
        return rejected

    def _built_in_tools(self) -> None:
        p, s = self.params, self.settings
        searched = False
        for tool in self.tools:
            kind = tool["type"]
            if kind.startswith("web_search") and not searched:
                searched = True
                sources = p.includes("web_search_call.action.sources")
                for i in range(s.searches):
                    if self._take_call():
                        self._think()
                        self.steps.append(content.search(self.topic, i, sources=sources))
            elif kind in _BUILT_IN and self._take_call():
                self._think()
                self.steps.append(self._built_in(kind, tool))

    def _built_in(self, kind: str, tool: dict[str, Any]) -> Step:
        p, s = self.params, self.settings
        match kind:
            case "file_search":
                return content.file_search(
                    tool,
                    self.topic,
                    s.seed,
                    self.content,
                    results=p.includes("file_search_call.results"),
                )
            case "code_interpreter":
                return content.code(
                    tool, s.seed, self.content, outputs=p.includes("code_interpreter_call.outputs")
                )
            case "image_generation":
                return content.image(tool, self.topic, s.seed, self.content, s.image_bytes)
        arguments = content.mcp_arguments(self.topic)
        if needs_approval(tool, s.mcp_tool):
            return McpApprovalRequestStep(tool["server_label"], s.mcp_tool, arguments)
        return content.mcp_call(tool["server_label"], s.mcp_tool, arguments, s.seed, None)

    def _message(self, opening: str) -> MessageStep:
        p, s = self.params, self.settings
        schema = json_schema(p.text)
        if schema is not None:
            return MessageStep(
                tuple(textgen.json_tokens(seed=s.seed, input_=self.content, schema=schema))
            )
        answer = textgen.answer_tokens(
            seed=s.seed,
            model=p.model,
            input_=self.content,
            instructions=p.instructions,
            count=s.tokens,
        )
        lead = content.words_of(opening)
        searches = [step for step in self.steps if isinstance(step, WebSearchStep)]
        return content.cite(lead + answer, searches, after=len(lead))


def rounds(spec: str | None, functions: list[str], parallel: bool) -> list[list[str]]:
    """The function names each turn calls: `tool_rounds`, or the default plan."""
    if spec is not None:
        return [[n.strip() for n in part.split(",") if n.strip()] for part in spec.split(";")]
    return [functions] if parallel else [[name] for name in functions]


def needs_approval(server: dict[str, Any], name: str) -> bool:
    """`require_approval` of an MCP tool entry, for one of its tools."""
    policy = server.get("require_approval", "always")
    if policy == "never":
        return False
    if isinstance(policy, dict):
        return name not in ((policy.get("never") or {}).get("tool_names") or [])
    return True


def usable_tools(params: CreateParams) -> list[dict[str, Any]]:
    """The tools this turn may use: none with `tool_choice: "none"`, those `allowed_tools`
    lists (by type, function name, MCP server label), else all."""
    choice = params.tool_choice
    if choice == "none":
        return []
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = [a for a in choice.get("tools") or [] if isinstance(a, dict)]
        return [t for t in params.tools if any(_matches(t, a) for a in allowed)]
    return list(params.tools)


def json_schema(text: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schema of a `text: {format: {type: json_schema, schema: ...}}` create parameter."""
    fmt = (text or {}).get("format") or {}
    schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
    return schema if isinstance(schema, dict) else None


def _matches(tool: dict[str, Any], ref: dict[str, Any]) -> bool:
    if tool["type"] != ref.get("type"):
        return False
    key = {"function": "name", "mcp": "server_label"}.get(tool["type"])
    return key is None or tool.get(key) == ref.get(key)


def _required(choice: Any) -> bool:
    return choice == "required" or (isinstance(choice, dict) and choice.get("mode") == "required")
