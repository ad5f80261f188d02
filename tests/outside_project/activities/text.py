"""A trivial activity of the outside project's own, registered next to durable-responses' ones."""

from __future__ import annotations

from temporalio import activity


@activity.defn
async def shout(text: str) -> str:
    """The question in capitals, with an exclamation mark."""
    return f"{text.upper()}!"
