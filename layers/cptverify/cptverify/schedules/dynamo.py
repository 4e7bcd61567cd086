"""Batched DynamoDB calls the batch path needs (writes, reads, a counting transaction).

Plain Python values in and out, over the low-level client (`cptverify.aws.clients.dynamodb`).
Unprocessed items and keys are sent again until none remain.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cptverify.aws import clients
from cptverify.aws.settings import settings

WRITE_BATCH = 25
READ_BATCH = 100


def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def encode(values: dict[str, Any]) -> dict[str, Any]:
    to = _serializer().serialize
    return {k: to(v) for k, v in values.items()}


def decode(item: dict[str, Any]) -> dict[str, Any]:
    back = _deserializer().deserialize
    return {k: back(v) for k, v in item.items()}


class BatchWriter:
    """Puts (or deletes) items 25 to a request; `close` sends the rest, as they come."""

    def __init__(self) -> None:
        self._to = _serializer().serialize
        self._pending: list[dict[str, Any]] = []
        self.table = settings().table_name

    def put(self, item: dict[str, Any]) -> None:
        self._pending.append({"PutRequest": {"Item": {k: self._to(v) for k, v in item.items()}}})
        if len(self._pending) == WRITE_BATCH:
            self._send()

    def delete(self, key: dict[str, Any]) -> None:
        self._pending.append({"DeleteRequest": {"Key": {k: self._to(v) for k, v in key.items()}}})
        if len(self._pending) == WRITE_BATCH:
            self._send()

    def _send(self) -> None:
        requests, self._pending = self._pending, []
        delay = 0.05
        while requests:
            response = clients.dynamodb().batch_write_item(RequestItems={self.table: requests})
            requests = response.get("UnprocessedItems", {}).get(self.table, [])
            if requests:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def close(self) -> None:
        if self._pending:
            self._send()


@contextmanager
def batch_writer() -> Iterator[BatchWriter]:
    writer = BatchWriter()
    yield writer
    writer.close()


def batch_get(item_keys: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Items by (pk, sk); missing ones are absent from the answer."""
    table = settings().table_name
    found: dict[tuple[str, str], dict[str, Any]] = {}
    unique = list({(k["pk"], k["sk"]): k for k in item_keys}.values())
    for start in range(0, len(unique), READ_BATCH):
        chunk = [encode(k) for k in unique[start : start + READ_BATCH]]
        request: dict[str, Any] = {table: {"Keys": chunk}}
        while request:
            response = clients.dynamodb().batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                item = decode(raw)
                found[(item["pk"], item["sk"])] = item
            request = response.get("UnprocessedKeys") or {}
    return found


def query_prefix(pk: str, sk_prefix: str) -> Iterator[dict[str, Any]]:
    """Every item of a partition whose sort key starts with `sk_prefix`, page by page."""
    kwargs: dict[str, Any] = {
        "TableName": settings().table_name,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": encode({":pk": pk, ":prefix": sk_prefix}),
    }
    while True:
        page = clients.dynamodb().query(**kwargs)
        for raw in page.get("Items", []):
            yield decode(raw)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def count_once(flag_key: dict[str, str], counter_key: dict[str, str], counter: str) -> bool:
    """Set a flag on one item and add 1 to a counter on another, atomically, once.

    False when the flag was already set (the count happened before).
    """
    from botocore.exceptions import ClientError

    table = settings().table_name
    try:
        clients.dynamodb().transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": encode(flag_key),
                        "UpdateExpression": "SET batch_counted = :yes",
                        "ConditionExpression": "attribute_not_exists(batch_counted)",
                        "ExpressionAttributeValues": encode({":yes": True}),
                    }
                },
                {
                    "Update": {
                        "TableName": table,
                        "Key": encode(counter_key),
                        "UpdateExpression": "ADD #c :one",
                        "ExpressionAttributeNames": {"#c": counter},
                        "ExpressionAttributeValues": encode({":one": 1}),
                    }
                },
            ]
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
            return False
        raise
    return True
