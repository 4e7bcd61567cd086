"""A hostile payer against the 271 reader: padding inside composites and repeated elements.

The tokenizer trims whitespace next to element separators; the same padding next to a component
or repetition separator (`1^ 98 ^33`, `HC: 99213 : GP`) hid a service type or a procedure code
from every look-up.
"""

from __future__ import annotations

from cptverify.x12.model import Benefit
from cptverify.x12.reader271 import read_271
from tests.x12.builders import SUBSCRIBER_BODY, make_271

HEAD = SUBSCRIBER_BODY[:11]


def _rows(*ebs: str) -> list[Benefit]:
    ic = read_271(make_271([*HEAD, *ebs]))
    return ic.transactions[0].patients[0].benefits


def test_spaces_around_repetition_separators_are_not_part_of_a_service_type() -> None:
    (row,) = _rows("EB*B*IND*1^ 98 ^\t33*HM**27*10")
    assert row.service_types == ["1", "98", "33"]


def test_a_service_type_of_spaces_only_is_dropped() -> None:
    (row,) = _rows("EB*B*IND*98^  ^33*HM**27*10")
    assert row.service_types == ["98", "33"]


def test_spaces_around_component_separators_are_not_part_of_a_procedure() -> None:
    (row,) = _rows("EB*B*IND*98*HM**27*10*****Y*HC: 99213 : GP :25")
    assert row.procedure is not None
    assert (row.procedure.qualifier, row.procedure.code) == ("HC", "99213")
    assert row.procedure.modifiers == ["GP", "25"]


def test_padded_date_range_is_read() -> None:
    (row,) = _rows("EB*1*IND*30", "DTP*348*RD8*20260101 - 20261231")
    (value,) = row.dates
    assert value.start is not None and value.end is not None
    assert (value.start.isoformat(), value.end.isoformat()) == ("2026-01-01", "2026-12-31")


def test_same_text_without_padding_reads_the_same() -> None:
    padded = _rows("EB*B*IND*1^ 98*HM**27*10*****Y*HC: 99213")
    plain = _rows("EB*B*IND*1^98*HM**27*10*****Y*HC:99213")
    assert padded[0].service_types == plain[0].service_types
    assert padded[0].procedure == plain[0].procedure
