"""The fake's output items, through the unmodified SDK: every scenario's stream, items and errors
validate against the SDK's own models and keep the API's ordering invariants."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, get_args

import jsonschema
import openai
import pytest
from openai.types.responses import Response, ResponseOutputItem, ResponseStreamEvent
from pydantic import TypeAdapter

from durable_responses.fake_openai import FakeControl, GenerationSettings, ResponseRecord

EVENT: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)
ITEM: TypeAdapter[ResponseOutputItem] = TypeAdapter(ResponseOutputItem)
EVENT_TYPES = frozenset(
    get_args(member.model_fields["type"].annotation)[0]
    for member in get_args(get_args(ResponseStreamEvent)[0])
)
"""The union's `type` literals: the SDK builds an unknown type as its first member silently."""

FAST = {
    "tokens": 40,
    "tokens_per_second": 2000.0,
    "queued_seconds": 0.0,
    "reasoning_seconds": 0.0,
    "reasoning_tokens": 6,
    "item_seconds": 0.0,
    "searches": 3,
    "tool_rounds": None,
    "mcp_tool": "ask_question",
    "refusal": False,
    "image_bytes": 2048,
}

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "where": {
                "type": "object",
                "properties": {"lat": {"type": "number"}, "tags": {"type": "array", "items": {}}},
                "required": ["lat", "tags"],
                "additionalProperties": False,
            },
        },
        "required": ["city", "unit", "days", "where"],
        "additionalProperties": False,
    },
    "strict": True,
}
TIME = {
    "type": "function",
    "name": "get_time",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    "strict": False,
}
NEWS = {"type": "function", "name": "get_news", "parameters": None, "strict": None}
MCP = {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com/mcp"}


@pytest.fixture
def quick(fake: FakeControl) -> Iterator[FakeControl]:
    """The shared fake, fast; afterwards the settings conftest does not reset are defaults."""
    fake.configure(**FAST)
    yield fake
    defaults = GenerationSettings().model_dump()
    fake.configure(**{name: defaults[name] for name in FAST})


@dataclass
class Run:
    """One streamed response, checked: its events (as the SDK yields them), final Response."""

    events: list[dict[str, Any]]
    final: Response
    record: ResponseRecord

    @property
    def id(self) -> str:
        return self.final.id

    @property
    def output(self) -> list[dict[str, Any]]:
        return self.events[-1]["response"]["output"]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_]


def run(client: openai.OpenAI, fake: FakeControl, **create: Any) -> Run:
    """Create with `background` and `stream`, and check everything every stream must keep."""
    with client.responses.create(background=True, stream=True, **create) as stream:
        sdk_events = list(stream)
    events = [e.to_dict() for e in sdk_events]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in sdk_events:
        assert event.type in EVENT_TYPES, event.type
        EVENT.validate_python(event.to_dict())
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.completed"
    final = Response.model_validate(events[-1]["response"])
    done = _check_item_blocks(events)
    assert done == events[-1]["response"]["output"]
    for item, expected in zip(final.output, done, strict=True):
        assert ITEM.validate_python(expected).type == item.type == expected["type"]
    record = fake.wait_terminal(final.id)
    assert record.events == events  # what the SDK saw is the log, obfuscation and all
    raw = client.responses.with_raw_response.retrieve(final.id).http_response.json()
    assert raw == events[-1]["response"] == record.response
    assert record.output == done
    for k in (0, 3, len(events) // 2, len(events) - 2):
        replay = client.responses.retrieve(final.id, stream=True, starting_after=k)
        assert [e.to_dict() for e in replay] == events[k + 1 :]
    with client.responses.stream(response_id=final.id) as helper:  # the SDK's invariants
        list(helper)
        assert helper.get_final_response().output_text == final.output_text
    assert final.output_text == record.text
    return Run(events, final, record)


def _check_item_blocks(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items come one at a time: added, its own events, done; return the done items."""
    done: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for event in events:
        kind = event["type"]
        if kind == "response.output_item.added":
            assert current is None and event["output_index"] == len(done)
            current = event["item"]
        elif kind == "response.output_item.done":
            assert current is not None and event["output_index"] == len(done)
            assert (event["item"]["type"], event["item"]["id"]) == (current["type"], current["id"])
            done.append(event["item"])
            current = None
        elif "output_index" in event:
            assert current is not None and event["output_index"] == len(done), kind
            assert event["item_id"] == current["id"]
    assert current is None
    return done


def _message(error: openai.APIStatusError) -> str:
    """The API's own message (the SDK's `message` prefixes the status)."""
    assert isinstance(error.body, dict)
    return str(error.body["message"])


def _answer(client: openai.OpenAI, fake: FakeControl, previous: Run, outputs: list[str], **kw):
    calls = [i for i in previous.output if i["type"] == "function_call"]
    return run(
        client,
        fake,
        model=kw.pop("model", "gpt-4.1"),
        previous_response_id=previous.id,
        input=[
            {"type": "function_call_output", "call_id": c["call_id"], "output": o}
            for c, o in zip(calls, outputs, strict=True)
        ],
        **kw,
    )


# ---- function tools ---------------------------------------------------------------------------


def test_function_call_streams_arguments_valid_for_the_schema(quick, openai_sync):
    r = run(openai_sync, quick, model="gpt-4.1", input="Weather in Paris?", tools=[WEATHER])
    [call] = r.output
    assert call["type"] == "function_call" and call["status"] == "completed"
    assert call["id"].startswith("fc_") and call["call_id"].startswith("call_")
    jsonschema.validate(json.loads(call["arguments"]), WEATHER["parameters"])
    added = r.of("response.output_item.added")[0]["item"]
    assert (added["arguments"], added["status"]) == ("", "in_progress")
    deltas = r.of("response.function_call_arguments.delta")
    assert len(deltas) > 2 and all(d["obfuscation"] for d in deltas)
    assert "".join(d["delta"] for d in deltas) == call["arguments"]
    [args_done] = r.of("response.function_call_arguments.done")
    assert args_done["arguments"] == call["arguments"]
    assert (
        r.types().index("response.function_call_arguments.done")
        == r.types().index("response.output_item.done") - 1
    )
    assert r.final.output_text == r.record.text == r.record.planned_text == ""
    assert r.record.request["tools"] == [WEATHER]


def test_parallel_calls_in_one_turn_or_one_a_turn_without_parallel(quick, openai_sync):
    tools = [WEATHER, TIME, NEWS]
    r = run(openai_sync, quick, model="o4-mini", input="Plan my day.", tools=tools)
    assert [i["type"] for i in r.output] == ["reasoning", *["function_call"] * 3]
    assert [i["name"] for i in r.output[1:]] == ["get_weather", "get_time", "get_news"]
    assert len({i["call_id"] for i in r.output[1:]}) == 3
    serial = run(
        openai_sync,
        quick,
        model="gpt-4.1",
        input="Plan my day.",
        tools=tools,
        parallel_tool_calls=False,
    )
    names = [serial.output[0]["name"]]
    while serial.output[-1]["type"] == "function_call":
        serial = _answer(openai_sync, quick, serial, ["ok"], parallel_tool_calls=False, tools=tools)
        names += [i["name"] for i in serial.output if i["type"] == "function_call"]
    assert names == ["get_weather", "get_time", "get_news"]
    assert serial.output[-1]["type"] == "message"


def test_three_turn_chain_follows_tool_rounds_and_quotes_the_outputs(quick, openai_sync):
    tools = [WEATHER, TIME, NEWS]
    plan = {"fake_tool_rounds": "get_weather,get_time;get_news"}
    first = run(openai_sync, quick, model="gpt-4.1", input="Brief me.", tools=tools, metadata=plan)
    assert [i["name"] for i in first.output] == ["get_weather", "get_time"]
    second = _answer(
        openai_sync, quick, first, ["sunny, 21 °C", "09:30"], tools=tools, metadata=plan
    )
    assert [i["name"] for i in second.output] == ["get_news"]
    third = _answer(openai_sync, quick, second, ["Nothing new today."], tools=tools, metadata=plan)
    assert [i["type"] for i in third.output] == ["message"]
    assert third.final.output_text.startswith('get_news said "Nothing new today.". ')
    assert third.record.text == third.record.planned_text == third.final.output_text


def test_the_answer_quotes_and_depends_on_the_tool_outputs(quick, openai_sync):
    first = run(openai_sync, quick, model="gpt-4.1", input="Weather?", tools=[WEATHER])
    long = "A very long tool output with   lots of words, " * 5
    a = _answer(openai_sync, quick, first, ["sunny"], tools=[WEATHER]).final.output_text
    b = _answer(openai_sync, quick, first, [long], tools=[WEATHER]).final.output_text
    assert a.startswith('get_weather said "sunny". ')
    cut = " ".join(long.split())[:60]
    assert b.startswith(f'get_weather said "{cut}…". ')
    assert a.split(". ", 1)[1] != b.split(". ", 1)[1]  # the rest of the answer differs too
    again = _answer(openai_sync, quick, first, ["sunny"], tools=[WEATHER]).final.output_text
    assert again == a  # deterministic: the outputs seed the answer, the call ids do not


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (lambda ids: [], "No tool output found for function call {0}."),
        (
            lambda ids: [ids[0], "call_nope"],
            "No tool call found for function call output with call_id call_nope.",
        ),
    ],
    ids=["missing-output", "unknown-call-id"],
)
def test_tool_outputs_must_match_the_calls(quick, openai_sync, outputs, message):
    first = run(openai_sync, quick, model="gpt-4.1", input="x", tools=[WEATHER])
    call_id = first.output[0]["call_id"]
    with pytest.raises(openai.BadRequestError) as err:
        openai_sync.responses.create(
            model="gpt-4.1",
            previous_response_id=first.id,
            background=True,
            tools=[WEATHER],
            input=[
                {"type": "function_call_output", "call_id": c, "output": "x"}
                for c in outputs([call_id])
            ],
        )
    assert err.value.param == "input" and err.value.code is None
    assert _message(err.value) == message.format(call_id)


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("auto", ["get_weather", "get_time"]),
        ("none", []),
        ({"type": "function", "name": "get_time"}, ["get_time"]),
        (
            {
                "type": "allowed_tools",
                "mode": "auto",
                "tools": [{"type": "function", "name": "get_time"}],
            },
            ["get_time"],
        ),
    ],
    ids=["auto", "none", "forced", "allowed"],
)
def test_tool_choice_decides_the_calls(quick, openai_sync, tool_choice, expected):
    r = openai_sync.responses.create(
        model="gpt-4.1", input="x", tools=[WEATHER, TIME], tool_choice=tool_choice
    )
    assert [i.name for i in r.output if i.type == "function_call"] == expected
    assert (r.output[-1].type == "message") is (expected == [])


def test_required_calls_again_after_the_plan_and_stateless_input_counts(quick, openai_sync):
    first = openai_sync.responses.create(model="gpt-4.1", input="x", tools=[WEATHER])
    [call] = first.output
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
    again = openai_sync.responses.create(
        model="gpt-4.1",
        previous_response_id=first.id,
        tools=[WEATHER],
        tool_choice="required",
        input=[output],
    )
    assert [i.type for i in again.output] == ["function_call"]
    stateless = openai_sync.responses.create(
        model="gpt-4.1",
        tools=[WEATHER],
        input=[{"role": "user", "content": "x"}, call.to_dict(), output],
    )
    assert stateless.output_text.startswith('get_weather said "sunny". ')


# ---- web search and deep research ------------------------------------------------------------


@pytest.mark.parametrize("sources", [False, True])
def test_web_search_cites_each_search_in_the_answer(quick, openai_sync, sources):
    include = ["web_search_call.action.sources"] if sources else []
    r = run(
        openai_sync,
        quick,
        model="gpt-4.1-mini",
        input="Berlin art week highlights",
        tools=[{"type": "web_search"}],
        include=include,
    )
    assert [i["type"] for i in r.output] == ["web_search_call"] * 3 + ["message"]
    queries = [i["action"]["query"] for i in r.output[:3]]
    assert queries[0] == "Berlin art week highlights" and len(set(queries)) == 3
    assert all(("sources" in i["action"]) is sources for i in r.output[:3])
    for item in r.output[:3]:
        block = [e["type"] for e in r.events if e.get("item_id") == item["id"]]
        assert block == [
            f"response.web_search_call.{s}" for s in ("in_progress", "searching", "completed")
        ]
    text = r.final.output_text
    part = r.output[-1]["content"][0]
    assert len(part["annotations"]) == 3
    for annotation in part["annotations"]:
        domain = annotation["url"].split("/")[2]
        assert annotation["url"].endswith("?utm_source=openai")
        span = text[annotation["start_index"] : annotation["end_index"]]
        assert span == f"([{domain}]({annotation['url']}))"
    # Each annotation is announced right after the delta that completes its span.
    seen = ""
    for i, event in enumerate(r.events):
        if event["type"] == "response.output_text.delta":
            seen += event["delta"]
        if event["type"] == "response.output_text.annotation.added":
            assert r.events[i - 1]["type"] in ("response.output_text.delta", event["type"])
            assert len(seen) == event["annotation"]["end_index"]
            assert event["annotation"] == part["annotations"][event["annotation_index"]]
    [text_done] = r.of("response.output_text.done")
    assert "annotations" not in text_done and text_done["text"] == text
    assert r.of("response.content_part.done")[0]["part"]["annotations"] == part["annotations"]


def test_deep_research_thinks_before_each_search(quick, openai_sync):
    r = run(
        openai_sync,
        quick,
        model="o3-deep-research",
        input="History of durable execution",
        tools=[{"type": "web_search_preview"}],
        metadata={"fake_searches": "2"},
    )
    expected = ["reasoning", "web_search_call"] * 2 + ["reasoning", "message"]
    assert [i["type"] for i in r.output] == expected
    assert len(r.output[-1]["content"][0]["annotations"]) == 2


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        (
            [{"type": "web_search_preview"}, WEATHER],
            "Deep research models only support the 'web_search_preview', 'code_interpreter', "
            "'mcp', and 'file_search' tools.",
        ),
        ([], "Deep research models require at least one of 'web_search_preview' or 'mcp' tools."),
        (
            [{"type": "code_interpreter", "container": {"type": "auto"}}],
            "Deep research models require at least one of 'web_search_preview' or 'mcp' tools.",
        ),
    ],
)
def test_deep_research_tool_rules(quick, openai_sync, tools, message):
    with pytest.raises(openai.BadRequestError) as err:
        openai_sync.responses.create(
            model="o4-mini-deep-research-2025-06-26", input="x", background=True, tools=tools
        )
    assert (err.value.param, _message(err.value)) == ("tools", message)


# ---- MCP --------------------------------------------------------------------------------------


@pytest.mark.parametrize("approve", [True, False])
def test_mcp_approval_then_call_or_rejection(quick, openai_sync, approve):
    first = run(openai_sync, quick, model="gpt-4.1", input="Ask the docs", tools=[MCP])
    listing, request = first.output
    assert listing["type"] == "mcp_list_tools" and listing["server_label"] == "docs"
    assert [t["name"] for t in listing["tools"]] == ["ask_question"]
    assert first.of("response.output_item.added")[0]["item"]["tools"] == []
    assert request["type"] == "mcp_approval_request" and request["name"] == "ask_question"
    request_events = [
        e["type"] for e in first.events if e.get("item", {}).get("id") == request["id"]
    ]
    assert request_events == ["response.output_item.added", "response.output_item.done"]
    assert first.final.status == "completed" and first.final.output_text == ""
    second = run(
        openai_sync,
        quick,
        model="gpt-4.1",
        previous_response_id=first.id,
        tools=[MCP],
        input=[
            {
                "type": "mcp_approval_response",
                "approval_request_id": request["id"],
                "approve": approve,
            }
        ],
    )
    if approve:
        call, message = second.output  # listed already: no second mcp_list_tools
        assert call["type"] == "mcp_call" and call["approval_request_id"] == request["id"]
        assert call["arguments"] == request["arguments"] and call["status"] == "completed"
        assert call["output"].startswith("docs answered: ")
        block = [e["type"] for e in second.events if e.get("item_id") == call["id"]]
        assert block == [
            "response.mcp_call.in_progress",
            "response.mcp_call_arguments.delta",
            "response.mcp_call_arguments.done",
            "response.mcp_call.completed",
        ]
    else:
        [message] = second.output
        assert second.final.output_text.startswith(
            "The ask_question call on docs was not approved. "
        )
    assert message["type"] == "message"


def test_mcp_approval_must_answer_a_pending_request(quick, openai_sync):
    first = run(openai_sync, quick, model="gpt-4.1", input="Ask", tools=[MCP])
    request_id = first.output[-1]["id"]
    cases = [
        (
            [
                {
                    "type": "mcp_approval_response",
                    "approval_request_id": "mcpr_nope",
                    "approve": True,
                }
            ],
            "No approval request found with id mcpr_nope.",
        ),
        ("go on", f"No approval response found for approval request {request_id}."),
    ]
    for input_, message in cases:
        with pytest.raises(openai.BadRequestError) as err:
            openai_sync.responses.create(
                model="gpt-4.1", previous_response_id=first.id, tools=[MCP], input=input_
            )
        assert (err.value.param, _message(err.value)) == ("input", message)


def test_mcp_without_approval_calls_directly(quick, openai_sync):
    tool = {**MCP, "require_approval": "never"}
    r = run(openai_sync, quick, model="o3", input="Ask the docs", tools=[tool])
    types = [i["type"] for i in r.output]
    assert types == ["mcp_list_tools", "reasoning", "mcp_call", "reasoning", "message"]
    assert r.output[2]["approval_request_id"] is None
    assert json.loads(r.output[2]["arguments"]) == {"question": "Ask the docs"}


# ---- code, files, images --------------------------------------------------------------------


@pytest.mark.parametrize("include", [False, True])
def test_code_interpreter_outputs_only_when_included(quick, openai_sync, include):
    r = run(
        openai_sync,
        quick,
        model="gpt-4.1",
        input="Sum some numbers",
        tools=[{"type": "code_interpreter", "container": {"type": "auto"}}],
        include=["code_interpreter_call.outputs"] if include else [],
    )
    call = r.output[0]
    assert call["type"] == "code_interpreter_call" and call["container_id"].startswith("cntr_")
    added = r.of("response.output_item.added")[0]["item"]
    assert (added["code"], added["outputs"], added["status"]) == ("", [], "in_progress")
    code = "".join(e["delta"] for e in r.of("response.code_interpreter_call_code.delta"))
    assert code == call["code"] == r.of("response.code_interpreter_call_code.done")[0]["code"]
    block = [e["type"] for e in r.events if e.get("item_id") == call["id"]]
    assert block[0] == "response.code_interpreter_call.in_progress"
    assert block[-2:] == [
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
    ]
    if include:
        namespace: dict[str, Any] = {}
        [logs] = call["outputs"]
        assert logs["type"] == "logs" and logs["logs"].startswith("n=5 total=")
        exec(compile(call["code"].replace("print(", "out = ("), "code", "exec"), namespace)
        assert namespace["out"] + "\n" == logs["logs"]  # the logs are what the code prints
    else:
        assert call["outputs"] is None


def test_file_search_results_only_when_included(quick, openai_sync):
    tool = {"type": "file_search", "vector_store_ids": ["vs_1"]}
    plain = run(openai_sync, quick, model="gpt-4.1", input="What do the docs say?", tools=[tool])
    assert plain.output[0]["results"] is None
    assert plain.output[0]["queries"] == ["What do the docs say"]
    r = run(
        openai_sync,
        quick,
        model="gpt-4.1",
        input="What do the docs say?",
        tools=[tool],
        include=["file_search_call.results"],
    )
    assert len(r.output[0]["results"]) == 2
    block = [e["type"] for e in r.events if e.get("item_id") == r.output[0]["id"]]
    assert block == [
        f"response.file_search_call.{s}" for s in ("in_progress", "searching", "completed")
    ]


def test_image_generation_result_is_image_bytes_of_base64(quick, openai_sync):
    size = 300_000
    r = run(
        openai_sync,
        quick,
        model="gpt-4.1",
        input="Draw a lighthouse",
        tools=[{"type": "image_generation", "quality": "low"}],
        metadata={"fake_image_bytes": str(size)},
    )
    image = r.output[0]
    assert image["type"] == "image_generation_call" and image["quality"] == "low"
    assert len(base64.b64decode(image["result"])) == size
    block = [e["type"] for e in r.events if e.get("item_id") == image["id"]]
    assert block == [
        "response.image_generation_call.in_progress",
        "response.image_generation_call.generating",
        "response.image_generation_call.partial_image",
        "response.image_generation_call.completed",
    ]


# ---- reasoning, refusal --------------------------------------------------------------------


def test_encrypted_reasoning_only_when_included_and_deterministic(quick, openai_sync):
    def reasoning(**kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        r = run(openai_sync, quick, model="o3", input="Think", **kw)
        return r.of("response.output_item.added")[0]["item"], r.output[0]

    added, done = reasoning(include=["reasoning.encrypted_content"])
    assert done["encrypted_content"].startswith("gAAAAAB")
    assert done["encrypted_content"].startswith(added["encrypted_content"])
    assert added["encrypted_content"] != done["encrypted_content"]
    assert (
        reasoning(include=["reasoning.encrypted_content"])[1]["encrypted_content"]
        == done["encrypted_content"]
    )
    assert "encrypted_content" not in reasoning()[1]


def test_refusal_streams_a_refusal_part_and_no_text(quick, openai_sync):
    r = run(openai_sync, quick, model="gpt-4.1", input="x", metadata={"fake_refusal": "true"})
    [message] = r.output
    [part] = message["content"]
    assert part["type"] == "refusal" and part["refusal"]
    assert r.of("response.content_part.added")[0]["part"] == {"type": "refusal", "refusal": ""}
    refused = "".join(e["delta"] for e in r.of("response.refusal.delta"))
    assert refused == part["refusal"] == r.of("response.refusal.done")[0]["refusal"]
    assert r.final.status == "completed" and r.final.output_text == r.record.text == ""


# ---- request validation, polling, records -----------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "param", "message"),
    [
        ({"extra_body": {"frobnicate": 1}}, "frobnicate", "Unknown parameter: 'frobnicate'."),
        ({"include": ["everything"]}, "include", "Invalid value: 'everything'. Supported values"),
        ({"tools": [{"type": "function"}]}, "tools[0].name", "Missing required parameter"),
        ({"tool_choice": "sometimes"}, "tool_choice", "Invalid value: 'sometimes'."),
    ],
)
def test_bad_requests_are_refused_as_the_api_does(quick, openai_sync, extra, param, message):
    with pytest.raises(openai.BadRequestError) as err:
        openai_sync.responses.create(model="gpt-4.1", input="x", background=True, **extra)
    assert err.value.param == param and _message(err.value).startswith(message)
    if param == "frobnicate":
        assert err.value.code == "unknown_parameter"


def test_known_parameters_are_echoed(quick, openai_sync):
    body = {
        "max_tool_calls": 2,
        "service_tier": "flex",
        "prompt_cache_key": "k",
        "safety_identifier": "s",
        "reasoning": {"effort": "max", "mode": "pro", "context": "all_turns"},
        "tools": [{"type": "web_search"}],
        "extra_body": {"background_options": {"completion_window": "soonest"}},
    }
    r = run(openai_sync, quick, model="o3", input="x", **body)
    assert sum(i["type"] == "web_search_call" for i in r.output) == 2  # capped
    response = r.events[-1]["response"]
    assert response["background_options"] == {"completion_window": "soonest"}
    assert response["reasoning"]["effort"] == "max" and response["reasoning"]["mode"] == "pro"
    assert (response["max_tool_calls"], response["service_tier"]) == (2, "flex")
    assert (response["prompt_cache_key"], response["safety_identifier"]) == ("k", "s")
    assert r.record.request["background_options"] == {"completion_window": "soonest"}


def test_polling_shows_the_item_in_progress_then_the_final_items(quick, openai_sync):
    quick.configure(item_seconds=0.3)
    created = openai_sync.responses.create(
        model="gpt-4.1", input="slow search", background=True, tools=[{"type": "web_search"}]
    )
    deadline = time.monotonic() + 10
    while True:
        snapshot = openai_sync.responses.retrieve(created.id)
        Response.model_validate(snapshot.to_dict())
        if snapshot.output and snapshot.output[-1].status == "searching":
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert snapshot.status == "in_progress"
    assert snapshot.output[-1].type == "web_search_call"
    final = quick.wait_terminal(created.id)
    assert [i["type"] for i in final.output] == ["web_search_call"] * 3 + ["message"]
    assert openai_sync.responses.retrieve(created.id).to_dict()["output"] == final.output


@pytest.mark.parametrize(
    ("tool", "status"),
    [({"type": "web_search"}, "incomplete"), ({"type": "image_generation"}, "failed")],
)
def test_cancel_mid_item_leaves_it_interrupted(quick, openai_sync, tool, status):
    quick.configure(item_seconds=5)
    created = openai_sync.responses.create(
        model="gpt-4.1", input="x", background=True, tools=[tool]
    )
    deadline = time.monotonic() + 30
    while not openai_sync.responses.retrieve(created.id).output:
        assert time.monotonic() < deadline, "no item after 30 s"
        time.sleep(0.02)
    cancelled = openai_sync.responses.cancel(created.id)
    Response.model_validate(cancelled.to_dict())
    assert cancelled.status == "cancelled"
    assert [i.status for i in cancelled.output] == [status]


def test_sdk_stream_helper_parses_strict_function_arguments(quick, openai_sync):
    with openai_sync.responses.stream(
        model="gpt-4.1", input="Weather?", tools=[WEATHER], background=True
    ) as stream:
        deltas = [e for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    [call] = final.output
    assert call.type == "function_call"
    assert deltas[-1].snapshot == call.arguments
    assert call.parsed_arguments == json.loads(call.arguments)
