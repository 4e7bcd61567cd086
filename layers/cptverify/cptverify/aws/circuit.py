"""The payer circuit breaker's state in the table (`PAYER#<id>` / `CIRCUIT`), shared by every
function instance, so one container's failures open the circuit for all of them."""

from __future__ import annotations

import threading
import time
from typing import Any

from cptverify.aws import clients, keys
from cptverify.payers.circuit import CircuitState

STATE_TTL_SECONDS = 86400
# A prefetched state answers the breaker's check only this soon after it was read.
PREFETCH_SECONDS = 1.0


class DynamoCircuitStore:
    """`CircuitStore` over the single table; counters are atomic (`ADD`)."""

    def __init__(self) -> None:
        self._clean: set[str] = set()
        self._lock = threading.Lock()
        self._prefetched: dict[str, tuple[float, CircuitState]] = {}

    @staticmethod
    def _key(payer_id: str) -> dict[str, str]:
        return {"pk": keys.payer_pk(payer_id), "sk": keys.CIRCUIT_SK}

    def prefetch(self, payer_id: str) -> None:
        """Read the state now (e.g. beside other reads), for the next `get` within
        PREFETCH_SECONDS; one use only."""
        state = self._read(payer_id)
        with self._lock:
            self._prefetched[payer_id] = (time.monotonic(), state)

    def get(self, payer_id: str) -> CircuitState:
        with self._lock:
            taken = self._prefetched.pop(payer_id, None)
        if taken is not None and time.monotonic() - taken[0] <= PREFETCH_SECONDS:
            return taken[1]
        return self._read(payer_id)

    def _read(self, payer_id: str) -> CircuitState:
        item = clients.table().get_item(Key=self._key(payer_id), ConsistentRead=True).get("Item")
        state = _state(item)
        with self._lock:
            if state.failures == 0 and state.opened_until is None:
                self._clean.add(payer_id)
            else:
                self._clean.discard(payer_id)
        return state

    def record_failure(
        self, payer_id: str, threshold: int, open_seconds: float, now: float
    ) -> CircuitState:
        with self._lock:
            self._clean.discard(payer_id)
        response = clients.table().update_item(
            Key=self._key(payer_id),
            UpdateExpression="ADD failures :one SET expires_at = :ttl",
            ExpressionAttributeValues={":one": 1, ":ttl": int(now) + STATE_TTL_SECONDS},
            ReturnValues="ALL_NEW",
        )
        state = _state(response.get("Attributes"))
        if state.failures >= threshold:
            until = now + open_seconds
            clients.table().update_item(
                Key=self._key(payer_id),
                UpdateExpression="SET opened_until = :until",
                ExpressionAttributeValues={":until": str(until)},
            )
            state.opened_until = until
        return state

    def record_success(self, payer_id: str) -> None:
        """Close the circuit; skipped (no write) when this instance last saw it clean."""
        with self._lock:
            if payer_id in self._clean:
                return
        clients.table().update_item(
            Key=self._key(payer_id),
            UpdateExpression="SET failures = :zero, expires_at = :ttl REMOVE opened_until",
            ExpressionAttributeValues={":zero": 0, ":ttl": int(time.time()) + STATE_TTL_SECONDS},
        )
        with self._lock:
            self._clean.add(payer_id)


def _state(item: dict[str, Any] | None) -> CircuitState:
    if not item:
        return CircuitState()
    opened = item.get("opened_until")
    return CircuitState(int(item.get("failures", 0)), float(opened) if opened else None)
