"""The harness's item-level rollback keeps moto's transaction semantics; models are untracked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cptverify_local.harness.moto_memory import item_level_rollback, untracked_models

TABLE = "rollback-test"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(), untracked_models(), item_level_rollback():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(
            TableName=TABLE,
            Item={"pk": {"S": "A"}, "sk": {"S": "1"}, "n": {"N": "1"}},
        )
        yield dynamodb


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _get(client: Any, pk: str, sk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = client.get_item(TableName=TABLE, Key=_key(pk, sk)).get("Item")
    return item


def _bump(pk: str, sk: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": _key(pk, sk),
            "UpdateExpression": "SET n = n + :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def test_a_cancelled_transaction_leaves_every_item_as_it_was(client: Any) -> None:
    put_new = {"Put": {"TableName": TABLE, "Item": {**_key("B", "1"), "n": {"N": "7"}}}}
    failing = {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": _key("C", "1"),
            "ConditionExpression": "attribute_exists(pk)",
        }
    }

    with pytest.raises(ClientError) as raised:
        client.transact_write_items(TransactItems=[_bump("A", "1"), put_new, failing])

    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert _get(client, "A", "1") == {"pk": {"S": "A"}, "sk": {"S": "1"}, "n": {"N": "1"}}
    assert _get(client, "B", "1") is None


def test_a_transaction_that_succeeds_writes_every_item(client: Any) -> None:
    put_new = {"Put": {"TableName": TABLE, "Item": {**_key("B", "1"), "n": {"N": "7"}}}}

    client.transact_write_items(TransactItems=[_bump("A", "1"), put_new])

    assert (_get(client, "A", "1") or {})["n"] == {"N": "2"}
    assert (_get(client, "B", "1") or {})["n"] == {"N": "7"}


def test_two_operations_on_one_item_are_refused_and_nothing_changes(client: Any) -> None:
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[_bump("A", "1"), _bump("A", "1")])

    assert (_get(client, "A", "1") or {})["n"] == {"N": "1"}


def _tracked() -> tuple[int, int]:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    tables: list[Any] = Table.instances_tracked  # type: ignore[attr-defined]
    items: list[Any] = Item.instances_tracked  # type: ignore[attr-defined]
    return len(tables), len(items)


def test_moto_models_are_not_kept_by_their_class(client: Any) -> None:
    before = _tracked()
    for n in range(20):
        client.transact_write_items(TransactItems=[_bump("A", "1")])
        client.put_item(TableName=TABLE, Item=_key("D", str(n)))

    after = _tracked()
    assert after == before
