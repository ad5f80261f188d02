"""What followers of a streaming run read: the recorded text by absolute offset, the output
items one line each, and the checks on their requests."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from durable_responses.models import ErrorType, ItemNote, TextRequest, TextSlice
    from durable_responses.models import items as _items
    from durable_responses.models._carried import ResumeState
    from durable_responses.models.fitting import RecordedItem


def notes_of(recorded: Sequence[RecordedItem]) -> list[ItemNote]:
    """One line per recorded item."""
    return [
        ItemNote(
            index=r.index, type=str(r.item.get("type") or ""), summary=_items.describe_item(r.item)
        )
        for r in recorded
    ]


def slice_of(state: ResumeState, request: TextRequest, *, finished: bool) -> TextSlice:
    """The recorded text after `request.offset` (and the items from `request.items_from`).

    An offset past the recorded text is allowed: a follower may have shown the reader's
    unrecorded tail and asks from there.
    """
    length = state.text_length
    start = min(max(request.offset, state.text_offset), length)
    relative = start - state.text_offset
    text = state.text[relative : relative + request.max_chars]
    end = start + len(text)
    notes: list[ItemNote] = []
    next_item = None
    if request.items_from is not None:
        notes = notes_of(state.items[request.items_from :])
        next_item = max(request.items_from, len(state.items))
    return TextSlice(
        offset=max(start, request.offset) if not text else start,
        text=text,
        next_offset=max(end, request.offset),
        status=state.status or "starting",
        done=finished and end >= length,
        response_id=state.response_id,
        truncated=request.offset < state.text_offset,
        items=notes,
        next_item=next_item,
        activity=state.activity,
    )


def text_request(request: object, unexpected: tuple[object, ...]) -> TextRequest:
    """A `text_after` argument, or a typed refusal: the SDK passes what it cannot decode as
    it came, and a missing or extra argument would be an untyped TypeError."""
    if unexpected:
        raise ApplicationError(
            f"text_after takes one argument, got {1 + len(unexpected)}",
            type=ErrorType.INVALID_REQUEST,
        )
    if request is None:
        raise ApplicationError(
            'text_after needs an argument, e.g. {"offset": 0}', type=ErrorType.INVALID_REQUEST
        )
    if isinstance(request, TextRequest):
        return request
    try:
        return TextRequest.model_validate(request)
    except ValidationError as err:
        raise ApplicationError(
            f"invalid text_after request: {err}", type=ErrorType.INVALID_REQUEST
        ) from None
