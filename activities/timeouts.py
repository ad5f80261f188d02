"""Timeouts of the OpenAI calls, shared by every activity that makes one."""

from __future__ import annotations

CALL_TIMEOUT_SECONDS = 20.0
"""Per-call HTTP timeout; shorter than every activity's start-to-close timeout."""
