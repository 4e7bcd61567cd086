"""Two moto 5.2.5 behaviours that make a long local run grow without bound, made proportional.

- Every moto model (`BaseModel.__new__`) appends itself to its class's `instances_tracked`
  list, which only moto's own model-data endpoint reads and which is cleared only when the mock
  ends. Every object moto ever made (deep copies included) therefore stays alive for the whole
  run. `untracked_models()` stops the tracking while the stack runs.
- `transact_write_items` deep-copies each whole table it writes to, before every transaction, so
  that it can roll back. On a table of N items that is O(N) time per transaction (quadratic over
  a run) and, with the tracking above, a full copy of the table kept per transaction.
  `item_level_rollback()` backs up only the items the transaction names (as DynamoDB's own
  isolation is per item) and restores them when moto rolls back; moto's code otherwise runs
  unchanged: conditions, errors and cancellation reasons are its own.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


@contextmanager
def untracked_models() -> Iterator[None]:
    """moto models are not appended to their class's `instances_tracked` list."""
    from moto.core.common_models import BaseModel

    with mock.patch.object(BaseModel, "__new__", _untracked_new):
        yield


def _key_of(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    attrs = op.get("Item") if op_type == "Put" else op.get("Key")
    if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
        return None  # moto rejects it itself (a validation error, nothing written)
    hash_value = DynamoType(attrs[table.hash_key_attr])
    if table.range_key_attr is None:
        return hash_value, None
    if table.range_key_attr not in attrs:
        return None
    return hash_value, DynamoType(attrs[table.range_key_attr])


def _backup(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(table, hash, range, deep copy of the stored item or None) per item the call names."""
    saved: list[tuple[Any, ...]] = []
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        op_type, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        key = _key_of(table, op_type, op) if table is not None else None
        if table is None or key is None:
            continue
        hash_value, range_value = key
        if range_value is None:
            current = table.items.get(hash_value)
        else:
            current = table.items.get(hash_value, {}).get(range_value)
        saved.append((table, hash_value, range_value, copy.deepcopy(current)))
    return saved


def _restore(saved: list[tuple[Any, ...]]) -> None:
    for table, hash_value, range_value, item in reversed(saved):
        if range_value is None:
            if item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item
        elif item is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = item


# Limitation: a rolled-back transaction's stream records (tables with a stream) are not taken
# back; the template's table declares no stream, so nothing reads them locally.
@contextmanager
def item_level_rollback() -> Iterator[None]:
    """`transact_write_items` backs up the items it names instead of whole tables."""
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models.table import Table

    original = dynamodb_models.DynamoDBBackend.transact_write_items

    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        # moto's whole-table backup: the table itself, so its own rollback is a no-op
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _backup(backend, transact_items)
        try:
            original(backend, transact_items)
        except Exception:
            _restore(saved)
            raise

    with ExitStack() as patches:
        patches.enter_context(
            mock.patch.object(
                dynamodb_models, "copy", types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)
            )
        )
        patches.enter_context(
            mock.patch.object(
                dynamodb_models.DynamoDBBackend, "transact_write_items", transact_write_items
            )
        )
        yield
