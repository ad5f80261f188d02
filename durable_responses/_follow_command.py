"""The `durable-responses-follow` command: its settings and what it prints, over the run
handle's followers (`run.py`: a streaming run's text, a polling run's progress)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field
from pydantic_settings import CliPositionalArg, CliToggleFlag, SettingsConfigDict
from temporalio.client import WorkflowFailureError

from durable_responses import cli
from durable_responses.models import Progress, TextSlice, items
from durable_responses.run import RunHandle


class FollowSettings(cli.TemporalSettings):
    """Follow a run: a StreamingResponseWorkflow's text as it grows, from any offset, or a
    BackgroundResponseWorkflow's progress (status, polls, searches, tool calls)."""

    model_config = SettingsConfigDict(cli_prog_name="durable-responses-follow")
    VARIABLES: ClassVar[dict[str, str]] = {
        "from_offset": "DURABLE_RESPONSES_FOLLOW_FROM",
        "poll": "DURABLE_RESPONSES_FOLLOW_POLL",
        "no_items": "DURABLE_RESPONSES_FOLLOW_NO_ITEMS",
        "as_json": "DURABLE_RESPONSES_FOLLOW_JSON",
    }

    workflow_id: CliPositionalArg[str] = Field(description="the run's workflow id")
    from_offset: int = Field(
        default=0, ge=0, alias="from", description="absolute character offset to start from"
    )
    poll: float = Field(
        default=0.2, gt=0, allow_inf_nan=False, description="seconds between two reads"
    )
    no_items: CliToggleFlag[bool] = Field(
        default=False, description="do not print output items (searches, tool calls...)"
    )
    as_json: CliToggleFlag[bool] = Field(
        default=False,
        alias="json",
        description="one JSON object per line on stdout (type: text, progress, retrying or result)",
    )


async def run(settings: FollowSettings) -> int:
    """Follow the run whatever its kind; a run that did not complete is exit 1."""
    client = await cli.connect(settings)
    run = RunHandle.attach(client, settings.workflow_id)
    try:
        if await run.streaming():
            await _print_text(run, settings)
        else:
            await _print_progress(run, settings)
    except (LookupError, TypeError) as err:
        raise cli.CommandError(str(err)) from None
    except WorkflowFailureError as err:
        cause = err.cause
        raise cli.CommandError(
            f"workflow {settings.workflow_id!r} did not complete: {cause or err}"
        ) from None
    return 0


def _emit(kind: str, fields: dict[str, Any]) -> None:
    print(json.dumps({"type": kind, **fields}, default=str), flush=True)


async def _print_progress(run: RunHandle, settings: FollowSettings) -> None:
    """A polling run: progress lines to stderr, the text to stdout at the end."""
    async for event in run.follow_progress(poll_seconds=max(settings.poll, 0.5)):
        if isinstance(event, str):
            if settings.as_json:
                _emit("retrying", {"message": event})
            else:
                print(f"[{event}]", file=sys.stderr, flush=True)
        elif isinstance(event, Progress):
            if settings.as_json:
                _emit("progress", event.model_dump(mode="json"))
                continue
            line = f"[{event.status}, {event.polls} poll(s), {event.elapsed_seconds:.1f}s]"
            if event.activity and not settings.no_items:
                line += f" {event.activity}"
            print(line, file=sys.stderr, flush=True)
        elif settings.as_json:
            _emit("result", event.model_dump(mode="json", include=_RESULT_FIELDS))
        else:
            if not settings.no_items:  # what it did, as the stream follower shows it
                notes = [n.summary for n in items.notes(event.output) if n.type != "message"]
                for note in notes:
                    print(f"[{note}]", file=sys.stderr)
            print(event.output_text, flush=True)
            print(
                f"[{event.status} after {event.polls} poll(s); response {event.response_id}]",
                file=sys.stderr,
            )


_RESULT_FIELDS = {"response_id", "status", "output_text", "polls", "usage", "error"}


async def _print_text(run: RunHandle, settings: FollowSettings) -> None:
    """A streaming run: its text to stdout as it grows, items and notes to stderr."""
    offset = start = settings.from_offset
    last: TextSlice | None = None
    line_start = True  # whether the text printed so far ends a line
    items_from = None if settings.no_items else 0
    async for piece in run.follow(start, poll_seconds=settings.poll, items_from=items_from):
        offset, last = piece.next_offset, piece
        if settings.as_json:
            _emit("text", piece.model_dump(mode="json"))
            continue
        if piece.truncated:
            print(f"\n[text before offset {piece.offset} is no longer kept]", file=sys.stderr)
        # What the response does beside its text goes to stderr, so stdout is the text alone.
        lines = [f"[{note.summary}]" for note in piece.items if note.type != "message"]
        if piece.activity and not piece.items:
            lines.append(f"[{piece.activity} …]")
        if lines:
            sys.stdout.flush()
            print(("" if line_start else "\n") + "\n".join(lines), file=sys.stderr, flush=True)
            line_start = True
        if piece.text:
            sys.stdout.write(piece.text)
            sys.stdout.flush()
            line_start = piece.text.endswith("\n")
    status = last.status if last is not None else "unknown"
    if not settings.as_json:
        print(
            f"\n[{status}; {offset - start} characters from offset {start}; "
            f"resume with --from {offset}]",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> None:
    """`durable-responses-follow`: one line and exit 1 for a run that did not complete."""
    cli.run(FollowSettings, run, argv)
