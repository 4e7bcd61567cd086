"""Per-payer pacing: a concurrency lease in the table, shared by API and batch traffic.

The item `PAYER#<id>` / `LEASE` holds `holders` (lease id -> expiry epoch) and a `version`.
Acquiring drops expired holders, refuses when the live ones reach the payer's limit, and writes
with a condition on the version, so two tasks never both take the last slot. A task that crashes
loses its slot when the expiry passes; it cannot leak it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cptverify.aws import clients, keys
from cptverify.payers.errors import PayerThrottled

# Limitation: one lease item per payer is a hot key; under heavy contention a task gives up after
# CONTENTION_TRIES conditional writes and raises PayerThrottled (retried by the state machine).
CONTENTION_TRIES = 8


def _key(payer_id: str) -> dict[str, str]:
    return {"pk": keys.payer_pk(payer_id), "sk": keys.LEASE_SK}


def acquire(
    payer_id: str,
    limit: int,
    ttl_seconds: float,
    *,
    clock: Callable[[], float] = time.time,
) -> str:
    """Take one of the payer's `limit` slots for `ttl_seconds`; `PayerThrottled` when full."""
    from botocore.exceptions import ClientError

    lease_id = uuid.uuid4().hex
    table = clients.table()
    if _take_fast(payer_id, lease_id, limit, ttl_seconds, clock()):
        return lease_id
    for _ in range(CONTENTION_TRIES):
        now = clock()
        item = table.get_item(Key=_key(payer_id), ConsistentRead=True).get("Item") or {}
        holders = {k: int(v) for k, v in (item.get("holders") or {}).items() if int(v) > now}
        if len(holders) >= limit:
            raise PayerThrottled("pacing lease full", payer_id=payer_id, code="lease_full")
        holders[lease_id] = int(now + ttl_seconds) + 1
        version = int(item.get("version", 0))
        record: dict[str, Any] = {
            **_key(payer_id),
            "holders": holders,
            "version": version + 1,
            "limit": limit,
            "expires_at": int(now + ttl_seconds) + 86400,
        }
        try:
            table.put_item(
                Item=record,
                ConditionExpression="attribute_not_exists(pk) OR version = :v",
                ExpressionAttributeValues={":v": version},
            )
        except ClientError as exc:
            if clients.is_conditional_failure(exc):
                continue
            raise
        return lease_id
    raise PayerThrottled("pacing lease contended", payer_id=payer_id, code="lease_contention")


def _take_fast(payer_id: str, lease_id: str, limit: int, ttl_seconds: float, now: float) -> bool:
    """One conditional write when the item holds fewer than `limit` leases, expired or not.

    False sends the caller to the slow path, which reads the item and drops expired leases.
    """
    from botocore.exceptions import ClientError

    try:
        clients.table().update_item(
            Key=_key(payer_id),
            UpdateExpression="SET holders.#lease = :expiry ADD version :one",
            ConditionExpression="attribute_exists(holders) AND size(holders) < :limit",
            ExpressionAttributeNames={"#lease": lease_id},
            ExpressionAttributeValues={
                ":expiry": int(now + ttl_seconds) + 1,
                ":one": 1,
                ":limit": limit,
            },
        )
    except ClientError as exc:
        if clients.is_conditional_failure(exc):
            return False
        raise
    return True


def release(payer_id: str, lease_id: str) -> None:
    """Give the slot back (bumping the version, so a concurrent acquire re-reads)."""
    clients.table().update_item(
        Key=_key(payer_id),
        UpdateExpression="REMOVE holders.#lease ADD version :one",
        ExpressionAttributeNames={"#lease": lease_id},
        ExpressionAttributeValues={":one": 1},
    )


def live_holders(payer_id: str, *, clock: Callable[[], float] = time.time) -> int:
    """How many unexpired leases the payer has now (for tests and the local stack)."""
    item = clients.table().get_item(Key=_key(payer_id), ConsistentRead=True).get("Item") or {}
    now = clock()
    return sum(1 for v in (item.get("holders") or {}).values() if int(v) > now)


@contextmanager
def held(payer_id: str, limit: int, ttl_seconds: float) -> Iterator[str]:
    """Hold a lease for the duration of a `with` block."""
    lease_id = acquire(payer_id, limit, ttl_seconds)
    try:
        yield lease_id
    finally:
        release(payer_id, lease_id)
