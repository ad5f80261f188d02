"""Output items in results: kept whole, their text not carried twice, put back exactly, and
rebuilt into the SDK's own `Response`; requests that say everything the API takes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.responses import Response

from durable_responses.models import (
    OutputIncomplete,
    ResponseParams,
    ResponseRequest,
    ResponseResult,
    fitting,
)
from durable_responses.models import items as _items

MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "status": "completed",
    "role": "assistant",
    "content": [
        {
            "type": "output_text",
            "text": "Batteries ([example.com](https://example.com/a?utm_source=openai)) last.",
            "annotations": [
                {
                    "type": "url_citation",
                    "start_index": 10,
                    "end_index": 66,
                    "url": "https://example.com/a?utm_source=openai",
                    "title": "A",
                }
            ],
            "logprobs": [],
        },
        {"type": "output_text", "text": " Naïve 🚀 tail.", "annotations": [], "logprobs": []},
    ],
}
SEARCH: dict[str, Any] = {
    "id": "ws_1",
    "type": "web_search_call",
    "status": "completed",
    "action": {"type": "search", "query": "solid-state batteries"},
}
CALL: dict[str, Any] = {
    "id": "fc_1",
    "type": "function_call",
    "status": "completed",
    "call_id": "call_1",
    "name": "get_weather",
    "arguments": '{"city": "Zürich"}',
}
APPROVAL: dict[str, Any] = {
    "id": "mcpr_1",
    "type": "mcp_approval_request",
    "server_label": "deepwiki",
    "name": "ask_question",
    "arguments": "{}",
}
REASONING: dict[str, Any] = {
    "id": "rs_1",
    "type": "reasoning",
    "summary": [],
    "encrypted_content": "gAAA",
}
UNKNOWN: dict[str, Any] = {"id": "x_1", "type": "brand_new_item", "payload": {"a": [1, 2]}}
OUTPUT: list[dict[str, Any]] = [REASONING, SEARCH, CALL, UNKNOWN, MESSAGE]
TEXT = _items.output_text_of(OUTPUT)


def test_the_output_text_is_every_output_text_part_in_order():
    assert MESSAGE["content"][0]["text"] + MESSAGE["content"][1]["text"] == TEXT


def test_elided_items_are_put_back_exactly():
    elided, lengths = fitting.elide_all(OUTPUT)
    assert all(p["text"] == "" for item in elided for p in _items.text_parts(item))
    assert lengths == [len(p["text"]) for p in MESSAGE["content"]]
    assert _items.inflate_message_text(elided, lengths, TEXT) == OUTPUT
    with pytest.raises(ValueError):
        _items.inflate_message_text(elided, lengths, TEXT[1:])


@pytest.mark.parametrize(
    ("output", "kind"),
    [
        (OUTPUT, "function_calls"),
        ([REASONING, APPROVAL], "approval_requests"),
        ([REASONING, MESSAGE], "text"),
        (
            [{**MESSAGE, "content": [{"type": "refusal", "refusal": "No."}]}],
            "refusal",
        ),
        ([REASONING], "no_output"),
    ],
)
def test_a_finished_response_says_what_it_asks_of_its_caller(output, kind):
    assert _items.output_kind(output) == kind


def test_an_answered_approval_request_is_no_longer_pending():
    answered = {"type": "mcp_call", "id": "mcp_1", "approval_request_id": "mcpr_1"}
    assert _items.approval_requests([APPROVAL]) != []
    assert _items.approval_requests([APPROVAL, answered]) == []


def test_items_in_a_line_each():
    lines = [note.summary for note in _items.notes(OUTPUT)]
    assert lines == [
        "reasoning",
        "searching: solid-state batteries",
        'calling get_weather({"city": "Zürich"})',
        "brand new item",
        "answering",
    ]


def test_a_recorded_item_leaves_out_its_text_and_a_huge_one_keeps_only_its_id():
    recorded = fitting.RecordedItem.of(MESSAGE, 4, max_bytes=10_000)
    assert recorded.text_lengths == [len(p["text"]) for p in MESSAGE["content"]]
    assert not recorded.omitted and "Batteries" not in json.dumps(recorded.item)
    image = {
        "id": "ig_1",
        "type": "image_generation_call",
        "status": "completed",
        "result": "A" * 9,
    }
    huge = fitting.RecordedItem.of(image, 0, max_bytes=50)
    assert huge.omitted and huge.item == {
        "id": "ig_1",
        "type": "image_generation_call",
        "status": "completed",
    }
    fitted = fitting.from_recorded([huge, recorded], TEXT)
    assert fitted.omitted_items == [0] and fitted.output[1] == MESSAGE


def test_the_carried_items_stay_within_their_budget_by_stubbing_the_largest():
    big = {"id": "ci_1", "type": "code_interpreter_call", "status": "completed", "code": "x" * 5000}
    recorded = [
        fitting.RecordedItem.of(item, i, max_bytes=100_000)
        for i, item in enumerate([SEARCH, big, CALL])
    ]
    fitting.omit_largest(recorded, budget=1000)
    assert [r.omitted for r in recorded] == [False, True, False]
    assert sum(r.bytes for r in recorded) <= 1000


def _result(**fields) -> ResponseResult:
    body = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": "o3",
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [{"type": "web_search"}],
        "usage": None,
    }
    return ResponseResult(response_id="resp_1", output_text=TEXT, response=body, **fields)


def test_a_result_rebuilds_the_sdks_response_whole_or_elided():
    whole = _result(output=OUTPUT)
    elided, lengths = fitting.elide_all(OUTPUT)
    small = _result(output=elided, output_text_lengths=lengths)
    for result in (whole, small):
        response = result.to_response()
        assert isinstance(response, Response)
        assert response.output_text == TEXT
        assert [item.to_dict(warnings=False) for item in response.output] == OUTPUT
        assert result.citations()[0].url == "https://example.com/a?utm_source=openai"
        assert result.web_searches()[0].query == "solid-state batteries"
        assert result.function_calls()[0].parsed_arguments() == {"city": "Zürich"}


def test_a_result_missing_items_says_so_rather_than_rebuild_a_wrong_response():
    stubbed, omitted = fitting.stub_largest(OUTPUT, [], over=1)
    with pytest.raises(OutputIncomplete):
        _result(output=stubbed, omitted_items=omitted).to_response()
    elided, lengths = fitting.elide_all(OUTPUT)
    with pytest.raises(OutputIncomplete):
        _result(output=elided, output_text_lengths=lengths, output_text_offset=5).output_items()


def test_requests_say_everything_the_api_takes_and_pass_on_what_they_do_not_know():
    request = ResponseRequest.model_validate(
        {
            "input": "x",
            "reasoning": {"effort": "max", "mode": "pro", "context": "all_turns"},
            "tools": [{"type": "web_search_preview"}],
            "include": ["reasoning.encrypted_content"],
            "tool_choice": "required",
            "parallel_tool_calls": False,
            "max_tool_calls": 3,
            "service_tier": "flex",
            "prompt_cache_key": "k-1",  # not declared: goes to the API as it is
            "params": {"temperature": 0.2},
            "poll": {"initial_interval_seconds": 1},
        }
    )
    api = request.api_params()
    assert type(api) is ResponseParams and "poll" not in api.model_dump()
    assert api.passed_through() == {
        "include": ["reasoning.encrypted_content"],
        "max_tool_calls": 3,
        "parallel_tool_calls": False,
        "service_tier": "flex",
        "tool_choice": "required",
        "tools": [{"type": "web_search_preview"}],
        "prompt_cache_key": "k-1",
        "temperature": 0.2,
    }
    assert api.reasoning is not None and api.reasoning.effort == "max"


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"stream": True}, "set by the workflow"),
        ({"tools": [], "params": {"tools": []}}, "both at the top level and in params"),
        ({"params": {"model": "o3"}}, "top-level request fields"),
        ({"reasoning": {"effort": "extreme"}}, "effort"),
        (
            {"background_options": {"completion_window": "8h"}, "service_tier": "flex"},
            "standard tier",
        ),
        ({"background_options": {"completion_window": "1h"}}, "completion_window"),
    ],
)
def test_requests_the_api_would_refuse_fail_before_they_start(fields, fragment):
    with pytest.raises(ValueError, match=fragment):
        ResponseRequest.model_validate({"input": "x", **fields})


def test_runs_recorded_before_tools_were_fields_still_decode():
    # Runs in flight carry `tools` in params; replaying them must validate as before.
    old = ResponseRequest.model_validate({"input": "x", "params": {"tools": [{"type": "x"}]}})
    assert old.api_params().passed_through() == {"tools": [{"type": "x"}]}
