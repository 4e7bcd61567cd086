"""Inquiry, result and API-key items in the single table.

Writes that move an inquiry are conditional: an open inquiry (PENDING/IN_PROGRESS) may move on,
a terminal one never changes again, and a result is written once per inquiry (a retried step
finds its own result and leaves it).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from cptverify.aws import clients, keys
from cptverify.aws.settings import settings
from cptverify.service.lifecycle import IN_PROGRESS, OPEN_STATUSES, PENDING, Status


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def expires_at(now: float | None = None) -> int:
    """TTL epoch seconds for a new item (retention from the template's DataRetentionDays)."""
    return int((now or time.time()) + settings().retention_days * 86400)


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; hand callers ints."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def put_inquiry(item: dict[str, Any]) -> None:
    """Create an inquiry item (PENDING); fails if the id already exists."""
    tenant, inquiry_id = item["tenant"], item["inquiry_id"]
    stamp = now_iso()
    record = {
        "pk": keys.inquiry_pk(tenant, inquiry_id),
        "sk": keys.INQUIRY_SK,
        "gsi1pk": keys.status_gsi1pk(PENDING),
        "gsi1sk": keys.status_gsi1sk(stamp[:10], inquiry_id),
        "status": PENDING,
        "attempts": 0,
        "payer_calls": 0,
        "retry_after_waits": 0,
        "created_at": stamp,
        "updated_at": stamp,
        "expires_at": expires_at(),
        **item,
    }
    clients.table().put_item(Item=record, ConditionExpression="attribute_not_exists(pk)")


def get_inquiry(tenant: str, inquiry_id: str) -> dict[str, Any] | None:
    response = clients.table().get_item(
        Key={"pk": keys.inquiry_pk(tenant, inquiry_id), "sk": keys.INQUIRY_SK},
        ConsistentRead=True,
    )
    item = response.get("Item")
    return _plain(item) if item else None


def _open_condition() -> tuple[str, dict[str, Any]]:
    return "#s IN (:open0, :open1)", {":open0": OPEN_STATUSES[0], ":open1": OPEN_STATUSES[1]}


def start_attempt(tenant: str, inquiry_id: str) -> dict[str, Any] | None:
    """Move an open inquiry to IN_PROGRESS and count the attempt; None when it is terminal."""
    from botocore.exceptions import ClientError

    condition, values = _open_condition()
    stamp = now_iso()
    try:
        response = clients.table().update_item(
            Key={"pk": keys.inquiry_pk(tenant, inquiry_id), "sk": keys.INQUIRY_SK},
            UpdateExpression=(
                "SET #s = :ip, gsi1pk = :g1, gsi1sk = :g1s, updated_at = :now ADD attempts :one"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                **values,
                ":ip": IN_PROGRESS,
                ":g1": keys.status_gsi1pk(IN_PROGRESS),
                ":g1s": keys.status_gsi1sk(stamp[:10], inquiry_id),
                ":now": stamp,
                ":one": 1,
            },
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if clients.is_conditional_failure(exc):
            return None
        raise
    return _plain(response["Attributes"])


def update_open(tenant: str, inquiry_id: str, fields: dict[str, Any], add: dict[str, int]) -> bool:
    """Set fields and add counters on an open inquiry; False when it is already terminal."""
    from botocore.exceptions import ClientError

    condition, values = _open_condition()
    names = {"#s": "status"}
    sets = ["updated_at = :now"]
    values[":now"] = now_iso()
    for index, (name, value) in enumerate(fields.items()):
        names[f"#f{index}"] = name
        values[f":f{index}"] = value
        sets.append(f"#f{index} = :f{index}")
    expression = "SET " + ", ".join(sets)
    if add:
        adds = []
        for index, (name, value) in enumerate(add.items()):
            names[f"#a{index}"] = name
            values[f":a{index}"] = value
            adds.append(f"#a{index} :a{index}")
        expression += " ADD " + ", ".join(adds)
    try:
        clients.table().update_item(
            Key={"pk": keys.inquiry_pk(tenant, inquiry_id), "sk": keys.INQUIRY_SK},
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if clients.is_conditional_failure(exc):
            return False
        raise
    return True


def finish(tenant: str, inquiry_id: str, status: Status, fields: dict[str, Any]) -> bool:
    """Record a terminal status; False (and nothing written) when it was already terminal."""
    stamp = now_iso()
    return update_open(
        tenant,
        inquiry_id,
        {
            "status": status,
            "gsi1pk": keys.status_gsi1pk(status),
            "gsi1sk": keys.status_gsi1sk(stamp[:10], inquiry_id),
            "finished_at": stamp,
            **fields,
        },
        {},
    )


def link_resubmission(tenant: str, inquiry_id: str, new_id: str) -> bool:
    """Mark an inquiry as resubmitted once; False when it already was."""
    from botocore.exceptions import ClientError

    try:
        clients.table().update_item(
            Key={"pk": keys.inquiry_pk(tenant, inquiry_id), "sk": keys.INQUIRY_SK},
            UpdateExpression="SET resubmitted_as = :new, updated_at = :now",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(resubmitted_as)",
            ExpressionAttributeValues={":new": new_id, ":now": now_iso()},
        )
    except ClientError as exc:
        if clients.is_conditional_failure(exc):
            return False
        raise
    return True


def put_result(
    tenant: str,
    claim_id: str,
    inquiry_id: str,
    line: int,
    result: dict[str, Any],
) -> bool:
    """Write one per-CPT result; a second write by the same inquiry is skipped (False)."""
    from botocore.exceptions import ClientError

    item = {
        "pk": keys.claim_pk(tenant, claim_id),
        "sk": keys.result_sk(result["code"], result.get("modifiers") or [], line),
        "tenant": tenant,
        "claim_id": claim_id,
        "inquiry_id": inquiry_id,
        "line": line,
        "code": result["code"],
        "status": result["status"],
        "result": json.dumps(result, separators=(",", ":")),
        "updated_at": now_iso(),
        "expires_at": expires_at(),
    }
    try:
        clients.table().put_item(
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR inquiry_id <> :id",
            ExpressionAttributeValues={":id": inquiry_id},
        )
    except ClientError as exc:
        if clients.is_conditional_failure(exc):
            return False
        raise
    return True


def _result_view(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "claim_id": item["claim_id"],
        "line": int(item["line"]),
        "inquiry_id": item["inquiry_id"],
        "updated_at": item["updated_at"],
        **json.loads(item["result"]),
    }


def claim_results(tenant: str, claim_id: str, code: str | None = None) -> list[dict[str, Any]]:
    """The per-CPT results stored for a claim (optionally one code), ordered by key."""
    condition = "pk = :pk"
    values = {":pk": keys.claim_pk(tenant, claim_id)}
    if code is not None:
        condition += " AND begins_with(sk, :prefix)"
        values[":prefix"] = keys.result_sk_prefix(code)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ConsistentRead": True,
    }
    while True:
        page = clients.table().query(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return [_result_view(_plain(i)) for i in items]


def inquiry_results(tenant: str, claim_id: str, inquiry_id: str) -> list[dict[str, Any]]:
    return [r for r in claim_results(tenant, claim_id) if r["inquiry_id"] == inquiry_id]


def tenant_for_api_key(api_key_id: str) -> str | None:
    """The tenant an API key serves (item `APIKEY#<key id>` / `TENANT`), or None."""
    response = clients.table().get_item(
        Key={"pk": keys.api_key_pk(api_key_id), "sk": keys.TENANT_SK}
    )
    item = response.get("Item")
    return str(item["tenant"]) if item and item.get("tenant") else None


def register_api_key(api_key_id: str, tenant: str) -> None:
    """Bind an API key id to a tenant (run once per partner key; see the README, "Configuration")."""
    clients.table().put_item(
        Item={"pk": keys.api_key_pk(api_key_id), "sk": keys.TENANT_SK, "tenant": tenant}
    )
