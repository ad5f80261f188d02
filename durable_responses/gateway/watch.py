"""Watch links: a short-lived, read-only token for one run, and the page it opens.

A tenant's key can create, cancel and delete every run of the tenant, so it never travels in a
URL (history, proxy logs, `Referer`). `POST /v1/responses/{id}/watch_link`, with the key in its
header, mints a link instead: `/runs/{id}?token=...`, whose token opens only that run's page,
its events and its Response (`/runs/{id}`, `/runs/{id}/events`, `/runs/{id}/response`), until
it expires. The token is `<payload>.<signature>`, both base64url: the payload names the
tenant, the run and the expiry; the signature is an HMAC-SHA256 under the gateway's secret.
Nothing is stored: any replica with the same secret verifies it, and rotating the secret
(the old one kept second, for verifying only) retires every link signed with an older one.

Every answer of the gateway carries `SECURITY_HEADERS`; the page carries its own CSP, which
allows its one script and its one stylesheet by their hashes and nothing else inline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .errors import APIError

LINK_SECONDS = 3600
"""Default lifetime of a link: an hour covers most runs; a page open when its link expires
keeps its stream, but cannot reconnect after it (the page asks for a new link)."""
MAX_LINK_SECONDS = 7 * 24 * 3600
"""Longest lifetime an operator may configure."""
MIN_SECRET_CHARS = 32
_PURPOSE = b"durable-responses watch link v1\0"
"""Signed with the payload: a signature made for anything else never verifies as a link."""

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""On every answer: run data is never sniffed, cached, or named in another site's Referer."""
API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
"""The CSP of every answer but the page: JSON and event streams run nothing, framed nowhere."""


@dataclass(frozen=True)
class Watcher:
    """Whom a verified token lets watch which run."""

    tenant: str
    response_id: str
    expires_at: int


class WatchLinks:
    """Mints and verifies watch tokens under `secrets` (the first signs, each verifies)."""

    def __init__(self, secrets_: Sequence[str], *, seconds: int = LINK_SECONDS) -> None:
        if not secrets_:
            raise ValueError("watch links need a secret")
        for secret in secrets_:
            if len(secret) < MIN_SECRET_CHARS:
                raise ValueError(
                    f"watch link secret too short: at least {MIN_SECRET_CHARS} characters "
                    "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
                )
        if not 0 < seconds <= MAX_LINK_SECONDS:
            raise ValueError(f"watch link lifetime must be 1..{MAX_LINK_SECONDS} seconds")
        self._keys = [secret.encode() for secret in secrets_]
        self.seconds = seconds

    @classmethod
    def parse(cls, text: str, *, seconds: int = LINK_SECONDS) -> WatchLinks:
        """Secrets separated by commas or new lines, the signing one first."""
        listed = [s.strip() for s in text.replace(",", "\n").splitlines() if s.strip()]
        return cls(listed, seconds=seconds)

    @classmethod
    def ephemeral(cls, *, seconds: int = LINK_SECONDS) -> WatchLinks:
        """A secret of this process only: its links stop working when it restarts, and no
        other replica opens them."""
        return cls([secrets.token_urlsafe(32)], seconds=seconds)

    def mint(
        self, tenant: str, response_id: str, *, seconds: int | None = None, now: float | None = None
    ) -> tuple[str, int]:
        """A token for `response_id` of `tenant`, and when it expires (Unix seconds)."""
        lifetime = self.seconds if seconds is None else min(seconds, self.seconds)
        expires_at = int(time.time() if now is None else now) + lifetime
        payload = json.dumps(
            {"t": tenant, "r": response_id, "e": expires_at}, separators=(",", ":")
        ).encode()
        return f"{_b64(payload)}.{_b64(self._sign(self._keys[0], payload))}", expires_at

    def verify(self, token: str, response_id: str, *, now: float | None = None) -> Watcher:
        """The watcher `token` names, if it is ours, for `response_id`, and not expired;
        else `APIError` 401 (`invalid_watch_token` or `watch_link_expired`)."""
        encoded, _, signature = token.partition(".")
        try:
            payload = _unb64(encoded)
            given = _unb64(signature)
        except (binascii.Error, ValueError):
            raise _invalid() from None
        if not any(hmac.compare_digest(self._sign(key, payload), given) for key in self._keys):
            raise _invalid()
        claims = json.loads(payload)  # ours: signed by us
        if claims["r"] != response_id:
            raise _invalid()
        if claims["e"] <= (time.time() if now is None else now):
            raise APIError(
                401,
                "This watch link has expired. Mint a new one: POST "
                f"/v1/responses/{response_id}/watch_link with the API key.",
                code="watch_link_expired",
            )
        return Watcher(tenant=claims["t"], response_id=response_id, expires_at=claims["e"])

    @staticmethod
    def _sign(key: bytes, payload: bytes) -> bytes:
        return hmac.new(key, _PURPOSE + payload, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _invalid() -> APIError:
    return APIError(
        401,
        "Invalid watch link: it opens only the run it was minted for, as long as the "
        "gateway's watch secret is unchanged. Mint one: POST /v1/responses/{id}/watch_link "
        "with the API key.",
        code="invalid_watch_token",
    )


def key_in_url(response_id: str | None) -> APIError:
    """The answer to `?key=`: an API key is never accepted in a URL."""
    where = response_id or "{id}"
    return APIError(
        401,
        "API keys are not accepted in URLs (they end up in browser history, proxy logs and "
        "Referer headers). Send the key as `Authorization: Bearer <key>`; to share a run's "
        f"page, mint a watch link: POST /v1/responses/{where}/watch_link.",
        code="key_in_url",
    )


@dataclass(frozen=True)
class Page:
    """The watch page and the CSP that lets exactly its own script and style run."""

    html: str
    csp: str


@cache
def page() -> Page:
    html = resources.files(__package__).joinpath("static", "watch.html").read_text()
    hashes = {
        tag: [_csp_hash(body) for body in re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)]
        for tag in ("script", "style")
    }
    csp = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(hashes["script"]),
            "style-src " + " ".join(hashes["style"]),
            "connect-src 'self'",  # the run's events and Response, nothing elsewhere
            "img-src 'none'",  # markdown images are shown as links: no tracking pixels
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return Page(html, csp)


def _csp_hash(body: str) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return f"'sha256-{digest}'"


__all__ = [
    "API_CSP",
    "LINK_SECONDS",
    "SECURITY_HEADERS",
    "WatchLinks",
    "Watcher",
    "key_in_url",
    "page",
]
