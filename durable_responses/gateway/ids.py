"""Response ids the gateway hands out, and the one workflow each names, without a lookup.

A client's response id is `resp_` and 48 hex digits, as OpenAI's; the workflow that runs it is
`gateway/<tenant>/<id>`. Another tenant's id therefore names a workflow that does not exist
(404, with nothing to compare), and a retried create with the same `Idempotency-Key` derives
the same id, so it finds the workflow the first one started instead of starting another.
"""

from __future__ import annotations

import hashlib
import re
import secrets

_RESPONSE_ID = re.compile(r"^resp_[0-9a-f]{48}$")
PREFIX = "gateway"


def new_response_id() -> str:
    return "resp_" + secrets.token_hex(24)


def idempotent_response_id(tenant: str, key: str) -> str:
    """The id of a create sent with this `Idempotency-Key` by this tenant, every time."""
    return "resp_" + hashlib.sha256(f"{tenant}\0{key}".encode()).hexdigest()[:48]


def is_response_id(value: str) -> bool:
    return bool(_RESPONSE_ID.match(value))


def workflow_id(tenant: str, response_id: str) -> str:
    """The workflow of a tenant's response."""
    return f"{PREFIX}/{tenant}/{response_id}"
