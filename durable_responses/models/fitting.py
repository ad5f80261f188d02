"""Keeping output items under Temporal's payload limit, losing nothing the caller cannot get
back: message text left out where it is the response's `output_text` (lengths kept), the
largest items reduced to their id, type and status (the provider keeps them whole).

Pure functions on JSON, shared by the activities (which measure with the worker's codec) and
the workflows (which see the plain size).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, Self, TypeVar

from pydantic import BaseModel, Field

from .items import (
    OutputItem,
    elide_message_text,
    inflate_message_text,
    text_lengths,
    text_parts,
)


def item_bytes(item: OutputItem) -> int:
    """The size of an item as compact JSON, which is how payloads carry it."""
    return len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())


def stub(item: OutputItem) -> OutputItem:
    """What is kept of an item too large to carry: what it is, not what it holds."""
    return {key: item[key] for key in ("id", "type", "status") if key in item}


class RecordedItem(BaseModel):
    """An output item as a stream batch and the streaming workflow carry it: the text of a
    message's `output_text` parts is left out (the workflow holds it as the stream's text),
    and an item past `limits.MAX_ITEM_BYTES` keeps only its id, type and status."""

    index: int = Field(default=0, description="Position in the response's output.")
    item: OutputItem = Field(default_factory=dict)
    text_lengths: list[int] = Field(
        default_factory=list, description="Lengths of the `output_text` parts left out."
    )
    omitted: bool = Field(default=False, description="Too large: only a stub is kept.")
    bytes: int = Field(default=0, description="Size of `item` as carried (compact JSON).")

    @classmethod
    def of(cls, item: OutputItem, index: int, max_bytes: int) -> RecordedItem:
        """Record `item` (the API's, whole) at `index`, eliding its text, stubbing it if
        still larger than `max_bytes`."""
        elided = elide_message_text(item)
        size = item_bytes(elided)
        if size > max_bytes:
            kept = stub(item)
            return cls(index=index, item=kept, omitted=True, bytes=item_bytes(kept))
        return cls(index=index, item=elided, text_lengths=text_lengths(item), bytes=size)

    def omit(self) -> None:
        """Keep only the stub (the workflow's carried state grew past its budget)."""
        if not self.omitted:
            self.item = stub(self.item)
            self.text_lengths = []
            self.omitted = True
            self.bytes = item_bytes(self.item)


def omit_largest(recorded: Sequence[RecordedItem], budget: int) -> None:
    """Stub the largest items until all of them together take at most `budget` bytes."""
    total = sum(r.bytes for r in recorded)
    for record in sorted(recorded, key=lambda r: r.bytes, reverse=True):
        if total <= budget:
            return
        before = record.bytes
        record.omit()
        total -= before - record.bytes


class FittedOutput(BaseModel):
    """`output` and the fields that say how it was made to fit (see `ResponseResult`)."""

    output: list[OutputItem] = Field(default_factory=list)
    output_text_lengths: list[int] | None = None
    omitted_items: list[int] = Field(default_factory=list)


def from_recorded(recorded: Sequence[RecordedItem], text: str | None) -> FittedOutput:
    """The result's output from carried items: whole if `text` (the complete output text) is
    given and the lengths match it, else with message text left out and its lengths."""
    output = [r.item for r in recorded]
    lengths = [n for r in recorded for n in r.text_lengths]
    omitted = [r.index for r in recorded if r.omitted]
    if text is not None and sum(lengths) == len(text):
        return FittedOutput(
            output=inflate_message_text(output, lengths, text), omitted_items=omitted
        )
    return FittedOutput(output=output, output_text_lengths=lengths, omitted_items=omitted)


def recorded_from_output(
    output: Sequence[OutputItem],
    lengths: Sequence[int] | None,
    omitted: Iterable[int],
    start: int,
    max_bytes: int,
) -> list[RecordedItem]:
    """`RecordedItem`s of `output[start:]`, from a snapshot that may already have its message
    text elided (`lengths`, in order over all of `output`) or items stubbed (`omitted`)."""
    stubbed = set(omitted)
    remaining = list(lengths) if lengths is not None else None
    recorded = []
    for index, item in enumerate(output):
        parts = len(text_parts(item))
        own = remaining[:parts] if remaining is not None else None
        if remaining is not None:
            del remaining[:parts]
        if index < start:
            continue
        if index in stubbed:
            kept = stub(item)
            recorded.append(
                RecordedItem(index=index, item=kept, omitted=True, bytes=item_bytes(kept))
            )
        elif own is not None:
            recorded.append(
                RecordedItem(index=index, item=item, text_lengths=own, bytes=item_bytes(item))
            )
        else:
            recorded.append(RecordedItem.of(item, index, max_bytes))
    return recorded


def elide_all(output: Sequence[OutputItem]) -> tuple[list[OutputItem], list[int]]:
    """Every message's `output_text` parts without their text, and the lengths of the parts
    in order (see `inflate_message_text`)."""
    lengths = [n for item in output for n in text_lengths(item)]
    return [elide_message_text(item) for item in output], lengths


def stub_largest(
    output: Sequence[OutputItem], omitted: Iterable[int], over: int
) -> tuple[list[OutputItem], list[int]]:
    """Stub the largest items until their JSON is `over` bytes smaller; returns the output
    and the sorted positions of every stubbed item."""
    stubbed = list(output)
    positions = set(omitted)
    by_size = sorted(((item_bytes(item), i) for i, item in enumerate(stubbed)), reverse=True)
    for size, index in by_size:
        if over <= 0:
            break
        kept = stub(stubbed[index])
        over -= size - item_bytes(kept)
        stubbed[index] = kept
        positions.add(index)
    return stubbed, sorted(positions)


class Fittable(Protocol):
    """A result or snapshot: the fields `reductions` gives up, in order."""

    output: list[OutputItem]
    output_text: str
    output_text_offset: int
    output_text_lengths: list[int] | None
    omitted_items: list[int]
    response: dict[str, Any] | None

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self: ...

    def model_dump_json(self) -> str: ...


FittableT = TypeVar("FittableT", bound=Fittable)


def reductions(value: FittableT, budget: int) -> Iterator[FittableT]:
    """Ever smaller copies of `value`, losing only what the caller can get back, until its
    plain JSON is within `budget`: message text elided (it is `output_text`), the largest
    items stubbed, the response object dropped, then the head of the text cut (the provider
    keeps all of it). The caller measures each (with its codec, if any) and takes the first
    that fits."""
    if value.output_text_lengths is None and value.output_text_offset == 0:
        output, lengths = elide_all(value.output)
        value = value.model_copy(update={"output": output, "output_text_lengths": lengths})
        yield value
    over = len(value.model_dump_json()) - budget
    if over > 0:
        output, omitted = stub_largest(value.output, value.omitted_items, over)
        value = value.model_copy(update={"output": output, "omitted_items": omitted})
        yield value
    if value.response is not None:
        value = value.model_copy(update={"response": None})
        yield value
    while value.output_text:
        size = len(value.model_dump_json())
        cut = max(size - budget, len(value.output_text) // 10)
        value = value.model_copy(
            update={
                "output_text": value.output_text[cut:],
                "output_text_offset": value.output_text_offset + cut,
            }
        )
        yield value
