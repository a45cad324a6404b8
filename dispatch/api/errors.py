"""One error format for every failure: ``{"error": {"code", "message", "details"}}``.

Codes are stable (clients branch on them); messages are for people. Bad input is always a 4xx:
the store's, the life cycle's and the airspace parser's errors are mapped here, and anything
unexpected is a 500 ``internal`` whose message names no internals (the log has the stack).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import SQLAlchemyError

from airspace.paths import AirspaceError
from airspace.zones import ZoneFormatError
from dispatch.lifecycle import InvalidTransition
from dispatch.store import Conflict, Forbidden, InvalidInput, NotFound, StoreError

log = logging.getLogger(__name__)


class ErrorDetail(msgspec.Struct):
    """What went wrong: a stable ``code``, a clear ``message`` and structured ``details``."""

    code: str
    message: str
    details: dict[str, Any] = msgspec.field(default_factory=dict)


class ErrorBody(msgspec.Struct):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error the API answers with ``status`` and the error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[ErrorBody]:
    """The JSON error response."""
    return Response(
        ErrorBody(ErrorDetail(code, message, details or {})),
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[ErrorBody]:
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


def _store_error(_: Request[Any, Any, Any], exc: StoreError) -> Response[ErrorBody]:
    code = getattr(exc, "code", None)
    details = getattr(exc, "details", None)
    if isinstance(exc, NotFound):
        return error_response(404, code or "not_found", str(exc), details)
    if isinstance(exc, InvalidInput):
        return error_response(422, code or "invalid_input", str(exc), details)
    if isinstance(exc, Conflict):
        return error_response(409, code or "conflict", str(exc), details)
    if isinstance(exc, Forbidden):
        # Someone else's record is reported as absent, never as existing-but-forbidden.
        return error_response(404, "not_found", "not found")
    log.error("store error", exc_info=exc)
    return error_response(503, "store_unavailable", "the database refused the operation; try again")


def _database(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.error("database error", exc_info=exc)
    return error_response(503, "store_unavailable", "the database is not answering; try again")


def _transition(_: Request[Any, Any, Any], exc: InvalidTransition) -> Response[ErrorBody]:
    return error_response(409, "invalid_state", str(exc))


def _zone_format(_: Request[Any, Any, Any], exc: ZoneFormatError) -> Response[ErrorBody]:
    return error_response(
        422, "invalid_geojson", str(exc), {"feature": exc.feature, "problem": exc.problem, "index": exc.index}
    )


def _airspace(_: Request[Any, Any, Any], exc: AirspaceError) -> Response[ErrorBody]:
    return error_response(422, "airspace", str(exc))


# A string over its documented limit, or not of its documented form, is well-formed JSON with a
# value out of bounds: 422 with its own code, as the fields checked by hand (msgspec's messages).
_STRING_LIMITS = (
    ("Expected `str` of length <=", "too_long"),
    ("Expected `str` matching regex", "invalid_format"),
)


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    extra = exc.extra if isinstance(exc.extra, list | dict) else None
    message = exc.detail or "invalid request"
    first = extra[0] if isinstance(extra, list) and extra and isinstance(extra[0], dict) else {}
    if first.get("message"):
        message = f"{message}: {first['message']}"
        for prefix, code in _STRING_LIMITS:
            if str(first["message"]).startswith(prefix) and first.get("source") == "body":
                return error_response(422, code, message, {"field": first.get("key"), "errors": extra})
    return error_response(400, "invalid_request", message, {"errors": extra} if extra else None)


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    code = {
        400: "invalid_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        415: "unsupported_media_type",
        429: "rate_limited",
    }.get(exc.status_code, "http_error" if exc.status_code < 500 else "internal")
    headers = dict(exc.headers or {})
    return error_response(exc.status_code, code, exc.detail, None, headers or None)


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error; the server log has the details")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiError: _api_error,
    StoreError: _store_error,
    SQLAlchemyError: _database,
    InvalidTransition: _transition,
    ZoneFormatError: _zone_format,
    AirspaceError: _airspace,
    ValidationException: _validation,
    NotAuthorizedException: _http,
    PermissionDeniedException: _http,
    NotFoundException: _http,
    HTTPException: _http,
    Exception: _internal,
}
"""Register on the app: ``Litestar(..., exception_handlers=EXCEPTION_HANDLERS)``."""


DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "malformed request: not JSON, nested deeper than 32, a missing or mistyped field, a bad query"
    " parameter (invalid_request)",
    401: "no, malformed, unknown or revoked API key (missing_key, malformed_key, invalid_key)",
    403: "the key's role may not do this (forbidden_role)",
    404: "no such record, or another office's (not_found)",
    409: "the record's state does not allow it (too_late, not_steered, idempotency_conflict, invalid_state)",
    413: "the body is larger than 10 MB (too_large)",
    415: "the body is not application/json (unsupported_media_type)",
    422: "invalid input (invalid_coordinates, unknown_pad, outside_service_area, time_out_of_range,"
    " too_long, invalid_format, invalid_geojson...) or refused at intake",
    429: "over the key's rate limit; retry after Retry-After seconds (rate_limited)",
    503: "the database is not answering (store_unavailable)",
}


def error_responses(**overrides: str) -> dict[int, ResponseSpec]:
    """The documented error responses of an ``/api/v1`` route (every one is an :class:`ErrorBody`).

    ``overrides``: ``e404="..."`` replaces the description of that status.
    """
    descriptions = dict(DEFAULT_DESCRIPTIONS)
    for key, text in overrides.items():
        descriptions[int(key.removeprefix("e"))] = text
    return {status: ResponseSpec(ErrorBody, description=text) for status, text in descriptions.items()}
