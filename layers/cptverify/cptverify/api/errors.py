"""The one place where exceptions become HTTP answers.

Bodies are `{"error", "message", "fields"}`; messages carry ids and field names, never input
values, and no answer ever carries a stack trace.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from cptverify.observability import logger
from cptverify.service import errors as service_errors

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

JSON = "application/json"


def error_response(
    status: HTTPStatus, code: str, message: str, fields: list[dict[str, str]] | None = None
) -> Response[Any]:
    from aws_lambda_powertools.event_handler import Response

    return Response(
        status_code=int(status),
        content_type=JSON,
        body={"error": code, "message": message, "fields": fields or []},
    )


def error_proxy_result(status: HTTPStatus, code: str, message: str) -> dict[str, Any]:
    """An error as a finished REST proxy result (for checks made before the resolver runs)."""
    import json

    return {
        "statusCode": int(status),
        "headers": {"Content-Type": JSON},
        "body": json.dumps({"error": code, "message": message, "fields": []}),
        "isBase64Encoded": False,
    }


def _location(loc: tuple[Any, ...]) -> str:
    from cptverify.inquiry import format_location

    parts = tuple(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else loc
    where = format_location(parts)
    if loc and loc[0] in ("query", "path", "header"):
        return f"{loc[0]}.{where}"
    return where


# What a value with a pattern must look like, in words (a regex means little to a caller).
PATTERN_RULES = {
    "query.cpt": (
        "must be a CPT code (5 digits, or 4 digits and F, T or U), a HCPCS code (a letter and "
        "4 digits) or a CDT code (D and 4 digits), optionally after HC: or AD: and followed by "
        "up to four 2-character modifiers, each after a colon (HC:99213:25)"
    ),
    "path.cpt": "must be a 5-character code of capital letters or digits (99213)",
}


def _pattern_rule(field: str) -> str:
    return PATTERN_RULES.get(field.split("[", 1)[0], "does not have the expected form")


def validation_fields(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Pydantic error entries as `{"field", "rule"}`, dropping every input value."""
    out = []
    for item in errors:
        if item.get("type") == "json_invalid":
            out.append({"field": "body", "rule": "must be valid JSON"})
            continue
        field = _location(tuple(item.get("loc", ())))
        if item.get("type") == "string_pattern_mismatch":
            rule = _pattern_rule(field)
        else:
            rule = str(item.get("msg") or item.get("type") or "invalid")
        out.append({"field": field, "rule": rule})
    return out


STATUS_BY_ERROR: dict[type[Exception], tuple[HTTPStatus, str]] = {
    service_errors.NotFound: (HTTPStatus.NOT_FOUND, "not_found"),
    service_errors.Conflict: (HTTPStatus.CONFLICT, "conflict"),
    service_errors.PayloadTooLarge: (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large"),
    service_errors.Unauthenticated: (HTTPStatus.UNAUTHORIZED, "unauthenticated"),
    service_errors.Forbidden: (HTTPStatus.FORBIDDEN, "forbidden"),
}


def register(app: APIGatewayRestResolver) -> None:
    """Attach every exception handler of the API to the resolver."""
    from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )
    from pydantic import ValidationError

    from cptverify.x12.errors import X12Error

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response[Any]:
        fields = validation_fields(list(exc.errors()))
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_request", "the request is invalid", fields
        )

    @app.exception_handler(RecursionError)
    def _too_deep(exc: RecursionError) -> Response[Any]:
        # Raised while decoding a body of thousands of nested arrays or objects.
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the request is invalid",
            [{"field": "body", "rule": "must be valid JSON"}],
        )

    @app.exception_handler(ValidationError)
    def _invalid_model(exc: ValidationError) -> Response[Any]:
        errors = exc.errors(include_input=False, include_url=False, include_context=False)
        fields = validation_fields([dict(e) for e in errors])
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_request", "the request is invalid", fields
        )

    @app.exception_handler(service_errors.UnknownPayer)
    def _unknown_payer(exc: service_errors.UnknownPayer) -> Response[Any]:
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the request is invalid",
            [{"field": exc.field, "rule": exc.rule}],
        )

    @app.exception_handler(service_errors.InvalidInput)
    def _invalid_input(exc: service_errors.InvalidInput) -> Response[Any]:
        return error_response(
            HTTPStatus.BAD_REQUEST,
            "bad_request",
            str(exc),
            [{"field": exc.field, "rule": str(exc)}],
        )

    @app.exception_handler(X12Error)
    def _bad_x12(exc: X12Error) -> Response[Any]:
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "invalid_271",
            str(exc),
            [{"field": "body", "rule": str(exc)}],
        )

    @app.exception_handler(IdempotencyValidationError)
    def _idempotency_mismatch(exc: Exception) -> Response[Any]:
        return error_response(
            HTTPStatus.CONFLICT,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different body",
            [{"field": "header.Idempotency-Key", "rule": "must name one request body"}],
        )

    @app.exception_handler(IdempotencyAlreadyInProgressError)
    def _idempotency_in_progress(exc: Exception) -> Response[Any]:
        return error_response(
            HTTPStatus.CONFLICT, "in_progress", "the same request is still being processed"
        )

    @app.exception_handler(service_errors.ServiceError)
    def _service_error(exc: service_errors.ServiceError) -> Response[Any]:
        status, code = STATUS_BY_ERROR.get(
            type(exc), (HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error")
        )
        return error_response(status, code, str(exc))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[Any]:
        logger.error("request failed", extra={"error": type(exc).__name__})
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "the request could not be served"
        )

    @app.not_found
    def _no_route(exc: Exception) -> Response[Any]:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route")


# Limitation: the rebuilt exception keeps the name and ids but not the original traceback, so a
# task's stack trace in CloudWatch ends at `run_task`.
def step_error(exc: BaseException) -> Exception:
    """The exception a state machine task re-raises: same error name, a data-free message.

    Step Functions matches `Retry`/`Catch` on the error name (the exception's class name) and
    records the message as the cause, so the message is rebuilt from ids and codes only.
    """
    from cptverify.payers.errors import RETRYABLE_ERROR_NAMES
    from cptverify.x12.builder270 import BuildError

    name = type(exc).__name__
    if isinstance(exc, BuildError):
        # The inquiry and the payer's envelope settings or capabilities cannot make a 270: no
        # retry can help, and the builder's message is not carried (it may quote values).
        name = "InquiryNotBuildable"
    if name in RETRYABLE_ERROR_NAMES and getattr(exc, "retryable", True) is False:
        # The state machine retries by name, so an error that says no retry can help (AAA 42
        # with AAA04 W, X or S) leaves under a name no Retry matches.
        name += NO_RESUBMIT_SUFFIX
    code = getattr(exc, "code", None)
    payer = getattr(exc, "payer_id", None)
    parts = [name]
    if payer:
        parts.append(f"payer {payer}")
    if code:
        parts.append(f"code {code}")
    return _step_error_class(name)(", ".join(str(p) for p in parts))


NO_RESUBMIT_SUFFIX = "NoResubmit"
_STEP_ERRORS: dict[str, type[Exception]] = {}


def _step_error_class(name: str) -> type[Exception]:
    cls = _STEP_ERRORS.get(name)
    if cls is None:
        cls = type(name, (Exception,), {"__module__": __name__})
        _STEP_ERRORS[name] = cls
    return cls
