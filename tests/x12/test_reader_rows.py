"""The reader builds benefit rows field by field (no dataclass `__init__`) for speed.

These tests keep that honest: every field of `Benefit` and `Procedure` is set on a row the
reader made, and the shared read-only empty list (`NO_ITEMS`) never takes a value: a row that
carries a qualifying segment gets a list of its own.
"""

from __future__ import annotations

import copy
from dataclasses import fields

import pytest

from cptverify.x12.model import NO_ITEMS, Benefit, Procedure
from cptverify.x12.reader271 import read_271
from tests.x12.builders import make_271


def _rows() -> list[Benefit]:
    return read_271(make_271()).transactions[0].patients[0].benefits


def test_every_field_of_a_read_row_is_set() -> None:
    rows = _rows()
    for row in rows:
        for f in fields(Benefit):
            getattr(row, f.name)  # an unset slot raises AttributeError
        assert row == Benefit(**{f.name: getattr(row, f.name) for f in fields(Benefit)})
    procedure = next(row.procedure for row in rows if row.procedure is not None)
    for f in fields(Procedure):
        getattr(procedure, f.name)
    assert procedure == Procedure("HC", "99213", ["25"])


def test_rows_without_qualifiers_share_the_read_only_empty_list() -> None:
    rows = _rows()
    plain = rows[1]
    assert plain.messages is NO_ITEMS and plain.messages == []
    with pytest.raises(TypeError):
        plain.messages.append("x")
    assert NO_ITEMS == []


def test_a_row_with_qualifiers_has_lists_of_its_own() -> None:
    rows = _rows()
    with_msg = next(row for row in rows if row.messages)
    assert with_msg.messages == ["TEST MESSAGE"]
    assert with_msg.messages is not NO_ITEMS
    assert [p.code for p in with_msg.places_of_service] == ["11"]
    with_entity = next(row for row in rows if row.related_entities)
    assert with_entity.code == "L"
    assert NO_ITEMS == []
    # Service types and modifiers are per row too: changing one row leaves the others alone.
    rows[1].service_types.append("XX")
    assert _rows()[1].service_types == ["98"]


def test_copies_of_a_row_are_ordinary_lists() -> None:
    row = _rows()[1]
    clone = copy.deepcopy(row)
    clone.messages.append("copied")
    assert clone.messages == ["copied"] and row.messages == [] and NO_ITEMS == []
