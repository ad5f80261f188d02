"""Our copy of an SDK `Response`: what crosses the activity boundary instead of it."""

from __future__ import annotations

from openai.types.responses import Response

from durable_responses.models import ResponseErrorInfo, Usage, is_terminal
from durable_responses.models.items import describe_item, output_text_of

from .models import ResponseSnapshot


def snapshot_of(response: Response, *, partial_output: bool = False) -> ResponseSnapshot:
    """Our copy of an SDK `Response`: nothing of the SDK crosses the activity boundary.

    A finished response (or, with `partial_output`, a running one) comes with every output
    item as the API sent it; otherwise only its status and item count (see
    `ResponseSnapshot`). Callers fit it under the payload limit (`sizing.fit_snapshot`).
    """
    finished = is_terminal(response.status)
    whole = finished or partial_output
    # A slim poll needs the last item only (its one line): no JSON of the rest.
    shown = response.output if whole else response.output[-1:]
    items = [item.to_dict(mode="json", warnings=False) for item in shown]
    summary = "".join(
        part.text for item in shown if item.type == "reasoning" for part in item.summary
    )
    usage = None
    if response.usage is not None:
        details = response.usage.output_tokens_details
        usage = Usage(
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            reasoning_tokens=details.reasoning_tokens if details is not None else 0,
            total_tokens=response.usage.total_tokens,
        )
    error = None
    if response.error is not None:
        error = ResponseErrorInfo(code=response.error.code, message=response.error.message)
    incomplete = response.incomplete_details
    body = None
    if finished:  # what `to_dict()` gives, without the items (already dumped above)
        body = response.model_dump(
            mode="json", by_alias=True, exclude_unset=True, exclude={"output"}, warnings=False
        )
    return ResponseSnapshot(
        id=response.id,
        status=response.status or "",
        model=str(response.model),
        output_text=output_text_of(items) if whole else "",
        reasoning_summary=summary if whole else "",
        usage=usage,
        error=error,
        incomplete_reason=incomplete.reason if incomplete is not None else None,
        created_at=response.created_at,
        completed_at=response.completed_at,
        output=items if whole else [],
        response=body,
        service_tier=response.service_tier,
        item_count=len(response.output),
        activity=describe_item(items[-1]) if items else None,
    )
