"""A durable OpenAI-compatible gateway: any Responses API client, in any language, gets
crash-proof background runs and a stream it can resume from any event, for as long as the run
is kept. Only the base URL (and the key) change on the client's side.

`durable-responses-gateway` serves it; `serve()` runs it in a process of yours.
"""

from .app import Gateway, build_app
from .auth import Tenants, hash_key
from .server import serve, start

__all__ = ["Gateway", "Tenants", "build_app", "hash_key", "serve", "start"]
