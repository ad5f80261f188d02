"""OpenAI's error body and status codes, so each SDK raises its usual exception."""

from __future__ import annotations

from aiohttp import web


class APIError(Exception):
    """An error answered as OpenAI answers it: `{"error": {message, type, param, code}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.headers = headers or {}
        self.status, self.message, self.type, self.param, self.code = (
            status,
            message,
            type_,
            param,
            code,
        )

    def response(self) -> web.Response:
        body = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return web.json_response({"error": body}, status=self.status, headers=self.headers)


def not_found(response_id: str) -> APIError:
    return APIError(404, f"Response with id '{response_id}' not found.", param="response_id")


def unauthorized() -> APIError:
    return APIError(
        401,
        "Incorrect API key provided. The gateway takes the keys its operator configured "
        "(Authorization: Bearer <key>).",
        code="invalid_api_key",
    )


def printable(text: str) -> str:
    """`text` as a log line can hold it: bytes that were not UTF-8 escaped, not raised."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
