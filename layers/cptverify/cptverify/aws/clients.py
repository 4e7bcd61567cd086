"""Lazily created, process-wide boto3 clients (imports stay off the cold-start path)."""

from __future__ import annotations

from functools import cache
from typing import Any

from cptverify.aws.settings import settings


@cache
def _session() -> Any:
    import boto3

    return boto3.session.Session()


@cache
def dynamodb() -> Any:
    return _session().client("dynamodb")


@cache
def table() -> Any:
    """The single table as a boto3 `Table` resource."""
    return _session().resource("dynamodb").Table(settings().table_name)


@cache
def s3() -> Any:
    return _session().client("s3")


@cache
def events() -> Any:
    return _session().client("events")


@cache
def stepfunctions() -> Any:
    return _session().client("stepfunctions")


def reset() -> None:
    """Forget every cached client and the settings (tests and the local stack call this)."""
    for fn in (_session, dynamodb, table, s3, events, stepfunctions, settings):
        fn.cache_clear()


def is_conditional_failure(exc: Exception) -> bool:
    """True for DynamoDB's ConditionalCheckFailedException (as raised by any client shape)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    return response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
