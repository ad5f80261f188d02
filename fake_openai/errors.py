"""The Responses API error envelope, raised from anywhere in a handler."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class APIErrorResponse(Exception):
    """An error the fake answers with: status code, envelope fields, extra headers."""

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
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def not_found(response_id: str) -> APIErrorResponse:
    return APIErrorResponse(
        404, f"Response with id '{response_id}' not found.", param="response_id"
    )


def invalid_type(param: str, expected: str, got: object) -> APIErrorResponse:
    return APIErrorResponse(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(got)} instead.",
        param=param,
        code="invalid_type",
    )


def missing(param: str) -> APIErrorResponse:
    return APIErrorResponse(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def invalid_value(param: str, got: object, allowed: Iterable[str]) -> APIErrorResponse:
    return APIErrorResponse(
        400,
        f"Invalid value: '{got}'. Supported values are: "
        + ", ".join(f"'{value}'" for value in allowed)
        + ".",
        param=param,
        code="invalid_value",
    )


def below_min(param: str, minimum: int, got: int) -> APIErrorResponse:
    return APIErrorResponse(
        400,
        f"Invalid '{param}': integer below minimum value. Expected a value >= {minimum}, "
        f"but got {got} instead.",
        param=param,
        code="integer_below_min_value",
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
