"""Inquiry, result and API-key items in the single table.

Writes that move an inquiry are conditional: an open inquiry (PENDING/IN_PROGRESS) may move on,
a terminal one never changes again, and a result is written once per inquiry (a retried step
finds its own result and leaves it); a claim keeps the answer of its newest inquiry.
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
    *,
    submitted_at: str,
) -> bool:
    """Write one per-CPT result twice: as the inquiry's own and as the claim's newest answer.

    The inquiry's copy is written once (a retried step finds it and gets False). The claim's copy
    is replaced only by an inquiry submitted later (`submitted_at`, then the inquiry id, break the
    tie), so an older inquiry that finishes late never overwrites a newer one's answer.
    """
    from botocore.exceptions import ClientError

    result_sk = keys.result_sk(result["code"], result.get("modifiers") or [], line)
    fields = {
        "tenant": tenant,
        "claim_id": claim_id,
        "inquiry_id": inquiry_id,
        "submitted_at": submitted_at,
        "line": line,
        "code": result["code"],
        "status": result["status"],
        "result": json.dumps(result, separators=(",", ":")),
        "updated_at": now_iso(),
        "expires_at": expires_at(),
    }
    written = True
    try:
        clients.table().put_item(
            Item={
                "pk": keys.inquiry_pk(tenant, inquiry_id),
                "sk": keys.inquiry_result_sk(claim_id, result_sk),
                **fields,
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        if not clients.is_conditional_failure(exc):
            raise
        written = False

    # Limitation: two writes per CPT (not one transaction): between them the inquiry's GET can
    # list a result the claim's procedures do not show yet.
    # Tried on a retry too: the step may have stopped between the two writes.
    try:
        clients.table().put_item(
            Item={"pk": keys.claim_pk(tenant, claim_id), "sk": result_sk, **fields},
            ConditionExpression=(
                "attribute_not_exists(pk) OR submitted_at < :at"
                " OR (submitted_at = :at AND inquiry_id < :id)"
                " OR (attribute_not_exists(submitted_at) AND inquiry_id <> :id)"
            ),
            ExpressionAttributeValues={":at": submitted_at, ":id": inquiry_id},
        )
    except ClientError as exc:
        if not clients.is_conditional_failure(exc):
            raise
    return written


def _result_view(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "claim_id": item["claim_id"],
        "line": int(item["line"]),
        "inquiry_id": item["inquiry_id"],
        "updated_at": item["updated_at"],
        **json.loads(item["result"]),
    }


def _query_all(pk: str, prefix: str | None) -> list[dict[str, Any]]:
    condition = "pk = :pk"
    values = {":pk": pk}
    if prefix is not None:
        condition += " AND begins_with(sk, :prefix)"
        values[":prefix"] = prefix
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
    return [_plain(i) for i in items]


def claim_results(tenant: str, claim_id: str, code: str | None = None) -> list[dict[str, Any]]:
    """The newest per-CPT answer stored for a claim (optionally one code), ordered by key."""
    prefix = keys.result_sk_prefix(code) if code is not None else None
    items = _query_all(keys.claim_pk(tenant, claim_id), prefix)
    return [_result_view(i) for i in items]


def inquiry_results(tenant: str, inquiry_id: str) -> list[dict[str, Any]]:
    """The per-CPT results this inquiry wrote, by claim and line, whatever answered later."""
    items = _query_all(keys.inquiry_pk(tenant, inquiry_id), keys.INQUIRY_RESULT_PREFIX)
    views = [_result_view(i) for i in items]
    return sorted(views, key=lambda r: (r["claim_id"], r["line"]))


def tenant_for_api_key(api_key_id: str) -> str | None:
    """The tenant an API key serves (item `APIKEY#<key id>` / `TENANT`), or None."""
    response = clients.table().get_item(
        Key={"pk": keys.api_key_pk(api_key_id), "sk": keys.TENANT_SK}
    )
    item = response.get("Item")
    return str(item["tenant"]) if item and item.get("tenant") else None


def register_api_key(api_key_id: str, tenant: str) -> None:
    """Bind an API key id to a tenant (once per partner key; see the README, "Configuration")."""
    clients.table().put_item(
        Item={"pk": keys.api_key_pk(api_key_id), "sk": keys.TENANT_SK, "tenant": tenant}
    )
