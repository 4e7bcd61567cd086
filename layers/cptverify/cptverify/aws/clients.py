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


class Table:
    """The single table over the low-level client, taking and giving plain Python values.

    Mirrors the few `Table` resource calls we use; the resource layer itself is not loaded
    (it costs a second client and its model on every cold start).
    """

    def __init__(self, client: Any, name: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.client = client
        self.name = name
        self._to = TypeSerializer().serialize
        self._from = TypeDeserializer().deserialize

    def _encode(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self._to(v) for k, v in values.items()}

    def _decode(self, item: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if item is None else {k: self._from(v) for k, v in item.items()}

    def _request(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        request = {"TableName": self.name, **kwargs}
        for name in ("Key", "Item", "ExpressionAttributeValues", "ExclusiveStartKey"):
            if name in request:
                request[name] = self._encode(request[name])
        return request

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        response = self.client.get_item(**self._request(kwargs))
        return {"Item": self._decode(response.get("Item"))} if "Item" in response else {}

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        return dict(self.client.put_item(**self._request(kwargs)))

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        response = self.client.update_item(**self._request(kwargs))
        if "Attributes" in response:
            return {"Attributes": self._decode(response["Attributes"])}
        return {}

    def query(self, **kwargs: Any) -> dict[str, Any]:
        response = self.client.query(**self._request(kwargs))
        out: dict[str, Any] = {"Items": [self._decode(i) for i in response.get("Items", [])]}
        if "LastEvaluatedKey" in response:
            out["LastEvaluatedKey"] = self._decode(response["LastEvaluatedKey"])
        return out


@cache
def table() -> Table:
    """The single table (name from the environment)."""
    return Table(dynamodb(), settings().table_name)


@cache
def s3() -> Any:
    return _session().client("s3")


@cache
def events() -> Any:
    return _session().client("events")


@cache
def stepfunctions() -> Any:
    return _session().client("stepfunctions")


def share_session_with_parameters(*, secrets: bool = False) -> None:
    """Let Powertools Parameters build its clients from our session, so botocore reads its
    endpoint and model files once: the SSM client (payer registry) always, the Secrets Manager
    client (payer credentials) only with `secrets` (payers without a secret never need one).
    Call from one thread at a time (a boto3 session is not thread-safe)."""
    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

    if "ssm" not in DEFAULT_PROVIDERS:
        from aws_lambda_powertools.utilities.parameters.ssm import SSMProvider

        DEFAULT_PROVIDERS["ssm"] = SSMProvider(boto3_session=_session())
    if secrets and "secrets" not in DEFAULT_PROVIDERS:
        from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider

        DEFAULT_PROVIDERS["secrets"] = SecretsProvider(boto3_session=_session())


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
