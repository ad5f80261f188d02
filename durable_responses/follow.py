"""Follow a `StreamingResponseWorkflow`'s text by offset, through Temporal, across crashes.

    durable-responses-follow WORKFLOW_ID [--from N]    (or python -m durable_responses.follow)

Each step is the workflow's `text_after` update: "what comes after offset N, waiting up to
T seconds". Offsets are absolute, so a follower that restarts (or whose worker restarts)
reconnects with its last offset and sees no gap and no repeat. Client-side code: workflows
never import it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Sequence

from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from durable_responses import connection
from durable_responses.models import ErrorType, ResponseResult, TextRequest, TextSlice
from durable_responses.workflows import StreamingResponseWorkflow


async def follow(
    handle: WorkflowHandle[StreamingResponseWorkflow, ResponseResult],
    offset: int = 0,
    *,
    wait_seconds: float = 30.0,
    retry_seconds: float = 0.5,
) -> AsyncIterator[TextSlice]:
    """Yield the text after `offset` as it is recorded, until the response is done.

    Survives the workflow continuing as new, its worker restarting and the server being
    briefly unreachable: each of those is an update error after which the follower asks again
    from the same offset. Once the workflow has closed, the rest comes from its result.
    """
    while True:
        try:
            piece = await handle.execute_update(
                "text_after",
                TextRequest(offset=offset, wait_seconds=wait_seconds),
                result_type=TextSlice,
            )
        except (
            WorkflowUpdateFailedError,
            WorkflowUpdateRPCTimeoutOrCancelledError,
            RPCError,
        ) as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, ApplicationError) and cause.type == ErrorType.INVALID_REQUEST:
                raise
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                result = await handle.result()  # raises if the workflow failed
                start = max(offset, result.output_text_offset)
                rest = result.output_text[start - result.output_text_offset :]
                yield TextSlice(
                    offset=start,
                    text=rest,
                    next_offset=start + len(rest),
                    status=result.status,
                    done=True,
                    response_id=result.response_id,
                    truncated=offset < result.output_text_offset,
                )
                return
            await asyncio.sleep(retry_seconds)
            continue
        if piece.text or piece.done:
            yield piece
        offset = piece.next_offset
        if piece.done:
            return


async def _main(args: argparse.Namespace) -> int:
    client = await connection.connect(
        address=args.address, namespace=args.namespace, profile=args.profile
    )
    handle = client.get_workflow_handle_for(StreamingResponseWorkflow.run, args.workflow_id)
    offset = args.from_offset
    last: TextSlice | None = None
    async for piece in follow(handle, args.from_offset, wait_seconds=args.wait):
        if piece.truncated:
            print(f"\n[text before offset {piece.offset} is no longer kept]", file=sys.stderr)
        sys.stdout.write(piece.text)
        sys.stdout.flush()
        offset, last = piece.next_offset, piece
    status = last.status if last is not None else "unknown"
    print(
        f"\n[{status}; {offset - args.from_offset} characters from offset "
        f"{args.from_offset}; resume with --from {offset}]",
        file=sys.stderr,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-follow`."""
    connection.exit_after(lambda: _cli(argv))


def _cli(argv: Sequence[str] | None) -> None:
    parser = argparse.ArgumentParser(
        prog="durable-responses-follow",
        description="Print a StreamingResponseWorkflow's text as it grows, from any offset.",
    )
    parser.add_argument("workflow_id")
    parser.add_argument(
        "--from",
        dest="from_offset",
        type=int,
        default=0,
        help="absolute character offset to start from (default 0)",
    )
    parser.add_argument(
        "--wait", type=float, default=30.0, help="seconds each long-poll waits for new text"
    )
    # Unset: TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_PROFILE, as for the worker.
    parser.add_argument("--address", default=None)
    parser.add_argument("--namespace", default=None)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    try:
        sys.exit(asyncio.run(_main(args)))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as err:  # a failed workflow, a bad offset, no server: say it plainly
        sys.exit(f"follow: {type(err).__name__}: {err}")


if __name__ == "__main__":
    main()
