"""Gateway keys: each client key belongs to one tenant; only their SHA-256 is configured.

`DURABLE_RESPONSES_GATEWAY_KEYS` (or `..._KEYS_FILE`) holds entries `tenant:sha256-hex`,
separated by commas or new lines; `durable-responses-gateway hash-key` prints the hash of the
key on its standard input. A keys file that its group or others can read is refused, as ssh
refuses a private key they can read. The upstream OpenAI key is the workers' alone: it never
reaches the gateway.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
from collections.abc import Mapping

KEYS_VARIABLE = "DURABLE_RESPONSES_GATEWAY_KEYS"
KEYS_FILE_VARIABLE = "DURABLE_RESPONSES_GATEWAY_KEYS_FILE"
_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Tenants:
    """Which tenant a bearer key belongs to (None: no tenant's)."""

    def __init__(self, hashes: Mapping[str, str]) -> None:
        self._by_hash = dict(hashes)  # sha256 hex -> tenant

    @classmethod
    def parse(cls, text: str) -> Tenants:
        hashes: dict[str, str] = {}
        for entry in text.replace(",", "\n").splitlines():
            entry = entry.strip()
            if not entry or entry.startswith("#"):
                continue
            tenant, sep, digest = entry.partition(":")
            digest = digest.strip().lower().removeprefix("sha256:")
            if not sep or not _TENANT.match(tenant.strip()) or len(digest) != 64:
                raise ValueError(
                    f"gateway key entry {entry[:20]!r}…: expected tenant:<sha256 hex of the key>"
                )
            hashes[digest] = tenant.strip()
        if not hashes:
            raise ValueError(f"no gateway keys: set {KEYS_VARIABLE} or {KEYS_FILE_VARIABLE}")
        return cls(hashes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Tenants:
        env = os.environ if environ is None else environ
        path = env.get(KEYS_FILE_VARIABLE)
        if path:
            with open(path) as keys:
                mode = os.fstat(keys.fileno()).st_mode
                if mode & (stat.S_IRWXG | stat.S_IRWXO):
                    raise PermissionError(
                        f"{KEYS_FILE_VARIABLE} {path} is open to its group or others (mode "
                        f"{stat.S_IMODE(mode):o}): chmod 600 it, owned by the gateway's user"
                    )
                return cls.parse(keys.read())
        return cls.parse(env.get(KEYS_VARIABLE, ""))

    def __contains__(self, tenant: object) -> bool:
        """Whether `tenant` has a key configured (a watch link of a tenant removed since
        it was minted opens nothing)."""
        return tenant in self._by_hash.values()

    def tenant(self, authorization: str | None) -> str | None:
        """The tenant of `Authorization: Bearer <key>`, compared in constant time."""
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        try:
            digest = hash_key(key.strip())
        except UnicodeEncodeError:  # bytes that are not UTF-8 (aiohttp keeps them escaped)
            return None
        for known, tenant in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return tenant
        return None
