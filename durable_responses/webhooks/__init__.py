"""The webhook receiver: OpenAI says a background response has ended, the workflow that owns it
wakes at once (instead of at its next poll). `durable-responses-webhooks` serves it on its own;
`durable-responses-worker --webhook-port P` serves it beside a worker."""

from .app import DEFAULT_PATH, Receiver, build_app, serve_beside, start
from .owners import OwnerLookup
from .verify import Rejected, Verifier, parse_secrets

__all__ = [
    "DEFAULT_PATH",
    "OwnerLookup",
    "Receiver",
    "Rejected",
    "Verifier",
    "build_app",
    "parse_secrets",
    "serve_beside",
    "start",
]
